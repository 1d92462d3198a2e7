"""Sync at the speed of the wire: batched records/s and single visits/s against a bare echo.

**Server side, against the baseline (issue 17).** Two gunicorn processes with the same
settings (``LiveServer``: --workers, gthread, 4 threads): Gridwork, and the bare Flask echo
of ``bench/echo_app.py``. The same client, wrk (``apt-get install wrk``; script
``bench/sync_wrk.lua``), one connection a thread, drives in turn: ``POST /echo`` with a
visit's body; ``POST /api/v1/sync/batch`` with 200 fresh visits a request; ``POST
/api/v1/visits`` with one fresh visit a request. Each wrk connection visits its own group of
households, as each grid worker their own grid. --rounds rounds of the three, --seconds each,
interleaved so each ratio compares samples taken side by side; printed: median and worst
(lowest) of each rate and of each round's ratios, batched records/s ÷ echo requests/s (goal
≥ 1.0), single visits/s ÷ echo (goal ≥ 0.5), and batched ÷ single (the server-side ratio).
Every answer is checked: a non-2xx or a record not 201 is counted and printed.

**The client's drain.** Then a device (``SyncClient``) queues --records visits, drains them
through ``/sync/batch`` and prints records/s and its resident memory (flat means the outbox
streams the queue); then drains --single visits one ``POST /api/v1/visits`` each, as a naive
client would. That ratio also pays the client's outbox commit per record, so it is printed
apart from the server-side one. With --rtt-ms, a proxy adds a mobile round trip and the drain
runs again: what a phone in a stairwell pays per request.

Both databases in one run: a fresh SQLite file, and a PostgreSQL database of the bench's own
on the server of --postgres-url (made and dropped; never the shared test database).
``/proc/loadavg`` is printed beside the figures.

Run: .venv/bin/python bench/sync_drain.py [--databases sqlite,postgresql] [--rounds 5]
         [--seconds 10] [--connections 8] [--records 10000] [--single 2000] [--rtt-ms 0]
         [--postgres-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import re
import secrets
import shutil
import subprocess
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

from bench.common import (  # noqa: E402
    load_average,
    median_worst,
    one_grid_community,
    own_database,
    scratch_name,
)
from client_sync.client import SyncClient  # noqa: E402
from client_sync.testing import FlakyProxy, LiveServer  # noqa: E402

PASSWORD = "bench horse battery staple"
CENTER = (28.802, 113.074)
WRK_SCRIPT = Path(__file__).with_name("sync_wrk.lua")
PER_BATCH = 200  # the client's batch size, and the most a batch takes (schemas.sync)


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
    from server.services.access import access_for
    from server.services.auth import create_user
    from server.services.households import create_household

    app = create_app({"DATABASE_URL": database_url, "MEDIA_DIR": str(media), "TESTING": True,
                      "INSTANCE_DIR": str(media.parent)})
    with app.app_context():
        db.drop_all()
        db.create_all()
        building = one_grid_community(db.session, CENTER)
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


def measure_drain(server_url: str, root: Path, households: list[int], batched_n: int,
                  single_n: int, label: str) -> tuple[float, float]:
    """The client's drain: ``batched_n`` visits batched, ``single_n`` one by one."""
    with SyncClient(server_url, root / f"phone-{label}-batched") as client:
        client.login("worker", PASSWORD)
        queue_visits(client, households, batched_n)
        seconds, memory = drain_batched(client)
    batched = batched_n / seconds
    print(f"  [{label}] client drain, batched:  {batched_n:>6} visits in {seconds:6.1f} s = "
          f"{batched:7.0f} records/s")
    print(f"  [{label}] client RSS while draining: start {memory.samples[0] / 1024:.1f} MB, "
          f"peak {max(memory.samples) / 1024:.1f} MB, end {memory.samples[-1] / 1024:.1f} MB "
          f"({len(memory.samples)} samples)")
    with SyncClient(server_url, root / f"phone-{label}-single") as client:
        client.login("worker", PASSWORD)
        queue_visits(client, households, single_n)
        seconds = drain_single(client)
    single = single_n / seconds
    print(f"  [{label}] client drain, one each: {single_n:>6} visits in {seconds:6.1f} s = "
          f"{single:7.0f} records/s")
    print(f"  [{label}] client-drain ratio (pays an outbox commit per record one by one): "
          f"batched is {batched / single:.1f}x one request per record")
    return batched, single


# -- server side, against the echo baseline ------------------------------------------------


def token_for(server_url: str) -> str:
    """A bearer token for the bench's worker."""
    import requests

    answer = requests.post(f"{server_url}/api/v1/auth/tokens",
                           json={"username": "worker", "password": PASSWORD}, timeout=30)
    answer.raise_for_status()
    return str(answer.json()["token"])


def wrk_rate(server_url: str, mode: str, *, token: str, groups: list[list[int]],
             seconds: int, connections: int, workdir: Path) -> dict[str, float]:
    """One wrk sample: records (or requests) per second that came back right, and checks."""
    path = {"echo": "/echo", "single": "/api/v1/visits", "batch": "/api/v1/sync/batch"}[mode]
    script = WRK_SCRIPT.read_text()
    fill = {"MODE": mode, "PATH": path, "TOKEN": token, "NONCE": secrets.token_hex(4),
            "GROUPS": ",".join("{" + ",".join(map(str, g)) + "}" for g in groups),
            "PER_BATCH": str(PER_BATCH),
            "T0": str(int((datetime.now(UTC) - timedelta(hours=12)).timestamp())),
            "LAT": str(CENTER[0]), "LON": str(CENTER[1])}
    for name, value in fill.items():
        script = script.replace(f"__{name}__", value)
    lua = workdir / f"wrk-{mode}.lua"
    lua.write_text(script)
    run = subprocess.run(["wrk", "-t", str(connections), "-c", str(connections),
                          "-d", f"{max(1, round(seconds))}s", "--timeout", "60s", "-s",
                          str(lua), server_url], capture_output=True, text=True, check=False)
    found = re.search(r"GWRESULT (.*)", run.stdout)
    if run.returncode or found is None:
        raise RuntimeError(f"wrk failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")
    fields = {k: float(v) for k, v in (kv.split("=") for kv in found.group(1).split())}
    seconds_run = fields["duration_us"] / 1e6
    fields["rate"] = fields["ok"] / seconds_run
    fields["not_ok"] = fields["bad_status"] + fields["errors"] + (
        fields["ok"] - fields["made"] if mode != "echo" else 0)
    return fields


def _fmt(values: list[float], unit: str, digits: int = 0) -> str:
    median, _ = median_worst(values)
    return f"median {median:8.{digits}f}, worst {min(values):8.{digits}f} {unit}"


def measure_server(server_url: str, echo_url: str, groups: list[list[int]], rounds: int,
                   seconds: int, connections: int, workdir: Path, label: str) -> None:
    """Rounds of echo, batch and single side by side; print rates and ratios."""
    token = token_for(server_url)
    args = {"token": token, "groups": groups, "seconds": seconds,
            "connections": connections, "workdir": workdir}
    # One untimed short round first: the workers import, connect and warm their caches.
    for mode in ("echo", "batch", "single"):
        wrk_rate(echo_url if mode == "echo" else server_url, mode,
                 **{**args, "seconds": min(2, seconds)})
    rates: dict[str, list[float]] = {"echo": [], "batch": [], "single": []}
    ratios: dict[str, list[float]] = {"batch/echo": [], "single/echo": [], "batch/single": []}
    not_ok = 0.0
    for n in range(rounds):
        got = {mode: wrk_rate(echo_url if mode == "echo" else server_url, mode, **args)
               for mode in ("echo", "batch", "single")}
        for mode, fields in got.items():
            rates[mode].append(fields["rate"])
            not_ok += fields["not_ok"]
        for name in ratios:
            top, bottom = name.split("/")
            ratios[name].append(got[top]["rate"] / max(got[bottom]["rate"], 1e-9))
        print(f"  [{label}] round {n + 1}: echo {got['echo']['rate']:7.0f} req/s, batched "
              f"{got['batch']['rate']:7.0f} records/s ({got['batch']['requests']:.0f} batches,"
              f" p50 {got['batch']['p50_us'] / 1000:.0f} ms), single "
              f"{got['single']['rate']:6.0f} visits/s; {load_average()}")
    print(f"  [{label}] echo (bare Flask) : {_fmt(rates['echo'], 'requests/s')}")
    print(f"  [{label}] batched sync      : {_fmt(rates['batch'], 'records/s')}")
    print(f"  [{label}] single POST visits: {_fmt(rates['single'], 'visits/s')}")
    for name, goal in (("batch/echo", 1.0), ("single/echo", 0.5), ("batch/single", None)):
        median, _ = median_worst(ratios[name])
        verdict = "" if goal is None else (
            f"  goal >= {goal}: {'met' if median >= goal else 'NOT met'} (median)")
        print(f"  [{label}] {name:<13}: median {median:5.2f}, worst {min(ratios[name]):5.2f}"
              f" over {rounds} rounds{verdict}")
    print(f"  [{label}] answers not 2xx or records not made: {not_ok:.0f}")


@contextmanager
def served_database(kind: str, postgres_url: str, root: Path) -> Iterator[str]:
    """A fresh SQLite file, or a PostgreSQL database of the bench's own."""
    if kind == "sqlite":
        yield f"sqlite:///{root / 'bench.db'}"
        return
    with own_database(postgres_url, scratch_name("gridwork_bench_sync")) as url:
        yield url


def main() -> None:
    """Echo baseline, then per database: server-side rounds and the client's drain."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="a server to make the bench's own database on")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10, help="per wrk sample")
    parser.add_argument("--connections", type=int, default=8,
                        help="wrk connections (one thread each, own households each)")
    parser.add_argument("--group", type=int, default=50,
                        help="households visited by each connection")
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--single", type=int, default=2_000,
                        help="visits for the client's one-request-per-record drain")
    parser.add_argument("--rtt-ms", type=float, default=0.0,
                        help="round trip a proxy adds to a second client drain (0: skip it)")
    parser.add_argument("--rtt-records", type=int, default=2_000)
    parser.add_argument("--rtt-single", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    print(f"gunicorn: {args.workers} workers, gthread, 4 threads each, for Gridwork and for "
          f"the echo; wrk {args.connections} connections; {args.rounds} rounds of "
          f"{args.seconds} s; {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with LiveServer("sqlite://", root / "echo-media", instance_dir=root / "echo",
                        workers=args.workers, app="bench.echo_app:app") as echo:
            for kind in args.databases.split(","):
                with served_database(kind, args.postgres_url, root / kind) as url:
                    (root / kind).mkdir(exist_ok=True)
                    run_database(kind, url, root / kind, echo.url, args)


def run_database(kind: str, url: str, root: Path, echo_url: str,
                 args: argparse.Namespace) -> None:
    """Seed, serve, measure against the echo, then the client's drain."""
    households = seed_server(url, root / "media", args.connections * args.group)
    groups = [households[i::args.connections] for i in range(args.connections)]
    with LiveServer(url, root / "media", instance_dir=root / "server",
                    workers=args.workers) as server:
        print(f"{kind}: {len(households)} households")
        measure_server(server.url, echo_url, groups, args.rounds, args.seconds,
                       args.connections, root, kind)
        if args.records:
            measure_drain(server.url, root, households, args.records, args.single, kind)
        if args.rtt_ms > 0:
            with FlakyProxy(server.address, latency_s=args.rtt_ms / 1000) as proxy:
                measure_drain(proxy.url, root, households, args.rtt_records, args.rtt_single,
                              f"{kind}, {args.rtt_ms:.0f} ms RTT")
    print(f"{kind}: done; {load_average()}")


if __name__ == "__main__":
    main()
