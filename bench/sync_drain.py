"""Draining a full outbox: batched sync against one request per record, and client memory.

Starts a real server (gunicorn on loopback, a fresh SQLite file, or a scratch schema of
the PostgreSQL database named by --database-url), queues 10,000 visits on a device, drains
them through ``POST /sync/batch`` (200 a request) and prints records per second; then
drains more visits one ``POST /api/v1/visits`` each, as a naive client would, and prints
the rate and the ratio. The client's resident memory is sampled every 20 ms while draining:
start, peak and end are printed (flat means the outbox streams the queue instead of
loading it). A second run adds a round trip (``--rtt-ms``, default 50 ms, a fair 4G link)
with a proxy, because that, not the loopback, is what a phone in a stairwell pays per request.

Run: .venv/bin/python bench/sync_drain.py [--records 10000] [--single 2000] [--rtt-ms 50]
         [--database-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from client_sync.client import SyncClient  # noqa: E402
from client_sync.testing import FlakyProxy, LiveServer  # noqa: E402

PASSWORD = "bench horse battery staple"
CENTER = (28.802, 113.074)


def rss_kb() -> int:
    """This process's resident set size, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class RssSampler:
    """Samples RSS in a thread; ``peak`` and ``samples`` after ``stop()``."""

    def __init__(self, every_s: float = 0.02) -> None:
        self.every_s, self.samples = every_s, [rss_kb()]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.samples.append(rss_kb())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(rss_kb())


def seed_server(database_url: str, media: Path, households: int) -> list[int]:
    """Schema, one community with a grid and a building, a worker, some households."""
    from schemas.households import HouseholdCreateSchema
    from server import create_app
    from server.extensions import db
    from server.models import Building, Community
    from server.services.access import access_for
    from server.services.auth import create_user
    from server.services.grids import import_grids
    from server.services.households import create_household

    app = create_app({"DATABASE_URL": database_url, "MEDIA_DIR": str(media), "TESTING": True,
                      "INSTANCE_DIR": str(media.parent)})
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.session.add(Community(code="C1", name="基准社区"))
        db.session.commit()
        ring = [[113.070, 28.800], [113.078, 28.800], [113.078, 28.804], [113.070, 28.804],
                [113.070, 28.800]]
        import_grids(db.session, "C1", {"type": "FeatureCollection", "features": [{
            "type": "Feature", "properties": {"code": "G1", "name": "一网格"},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}]})
        community = db.session.query(Community).one()
        building = Building(community_id=community.id, grid_id=community.grids[0].id,
                            code="B1", name="1栋", lat=CENTER[0], lon=CENTER[1])
        db.session.add(building)
        db.session.commit()
        worker = create_user(db.session, "worker", PASSWORD, "grid_worker", grid_codes=("G1",))
        access = access_for(db.session, worker)
        ids = []
        for n in range(households):
            body = HouseholdCreateSchema().load({"building_id": building.id, "door": str(n + 1),
                                                 "head_name": f"住户{n}"})
            ids.append(create_household(db.session, access, body)[0].id)
        db.session.commit()  # the set-up is its own boundary: services only flush
        db.session.remove()
        db.engine.dispose()
    return ids


def queue_visits(client: SyncClient, households: list[int], count: int) -> None:
    """Queue ``count`` visits in one outbox transaction."""
    start = datetime.now(UTC) - timedelta(hours=12)
    with client.outbox.atomic():
        for n in range(count):
            client.queue_visit(household_id=households[n % len(households)],
                               outcome="met" if n % 3 else "not_home", lat=CENTER[0],
                               lon=CENTER[1], visited_at=start + timedelta(seconds=n))


def drain_batched(client: SyncClient) -> tuple[float, RssSampler]:
    """Push everything through /sync/batch; (seconds, memory samples)."""
    began = time.perf_counter()
    with RssSampler() as memory:
        result = client.push(timeout=3600)
    assert result.pending == 0 and result.failed == 0, result
    return time.perf_counter() - began, memory


def drain_single(client: SyncClient) -> float:
    """Push every queued visit with its own POST /api/v1/visits, as a naive client would."""
    began = time.perf_counter()
    while batch := client.outbox.next_batch(("visit",), limit=1):
        item = batch[0]
        answer = client.transport.post_json("/api/v1/visits", item.payload)
        client.outbox.mark_done(item.client_uuid, answer["id"])
    return time.perf_counter() - began


@contextmanager
def scratch_database(url: str | None, root: Path) -> Iterator[str]:
    """A fresh SQLite file, or a throwaway schema on the PostgreSQL database named."""
    if not url:
        yield f"sqlite:///{root / 'bench.db'}"
        return
    from sqlalchemy import create_engine, text

    admin = url.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"gw_sync_bench_{secrets.token_hex(3)}"
    engine = create_engine(admin)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        joiner = "&" if "?" in admin else "?"
        yield f"{admin}{joiner}options={quote(f'-csearch_path={schema}')}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def measure(server_url: str, root: Path, households: list[int], batched_n: int,
            single_n: int, label: str) -> tuple[float, float]:
    """Drain ``batched_n`` visits batched and ``single_n`` one by one; print and return rates."""
    with SyncClient(server_url, root / f"phone-{label}-batched") as client:
        client.login("worker", PASSWORD)
        queue_visits(client, households, batched_n)
        seconds, memory = drain_batched(client)
    batched = batched_n / seconds
    print(f"[{label}] batched:  {batched_n:>6} visits in {seconds:6.1f} s = "
          f"{batched:7.0f} records/s")
    print(f"[{label}] client RSS while draining: start {memory.samples[0] / 1024:.1f} MB, "
          f"peak {max(memory.samples) / 1024:.1f} MB, end {memory.samples[-1] / 1024:.1f} MB "
          f"({len(memory.samples)} samples)")
    with SyncClient(server_url, root / f"phone-{label}-single") as client:
        client.login("worker", PASSWORD)
        queue_visits(client, households, single_n)
        seconds = drain_single(client)
    single = single_n / seconds
    print(f"[{label}] one each: {single_n:>6} visits in {seconds:6.1f} s = "
          f"{single:7.0f} records/s")
    print(f"[{label}] ratio: batched sync is {batched / single:.1f}x one request per record")
    return batched, single


def main() -> None:
    """Run both drains over loopback, then over a simulated mobile round trip."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--single", type=int, default=2_000,
                        help="visits for the one-request-per-record drain")
    parser.add_argument("--rtt-ms", type=float, default=50.0,
                        help="round trip added by a proxy in the second run (0: skip it)")
    parser.add_argument("--rtt-records", type=int, default=2_000)
    parser.add_argument("--rtt-single", type=int, default=300)
    parser.add_argument("--households", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL (a scratch schema is made and dropped); "
                             "default: a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, scratch_database(args.database_url,
                                                                 Path(tmp)) as url:
        root = Path(tmp)
        households = seed_server(url, root / "media", args.households)
        with LiveServer(url, root / "media", instance_dir=root / "server",
                        workers=args.workers) as server:
            print(f"server: gunicorn, {args.workers} workers, {url.split(':')[0]}; "
                  f"{args.households} households; client on the same machine")
            measure(server.url, root, households, args.records, args.single, "loopback")
            if args.rtt_ms > 0:
                with FlakyProxy(server.address, latency_s=args.rtt_ms / 1000) as proxy:
                    measure(proxy.url, root, households, args.rtt_records, args.rtt_single,
                            f"{args.rtt_ms:.0f} ms RTT")


if __name__ == "__main__":
    main()
