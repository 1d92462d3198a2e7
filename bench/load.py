"""Load: 200 grid workers syncing at once against gunicorn, then a count of what arrived.

Seeds a throwaway world (a scratch schema of the PostgreSQL database named, or with --sqlite
a fresh SQLite file): --grids grids with a building each, --workers grid workers, each with
--visits households of their own. Serves it with gunicorn (gthread) on loopback, logs every
worker in (timed apart), then lets them all loose at once, a thread and HTTP session each:
pull (GET /sync/changes, every page), photo (one-shot POST /photos of a small JPEG with GPS
EXIF, --reports of them), batch (POST /sync/batch: --visits visits, --reports reports naming
the photos). Bounded by --time-cap seconds and --max-requests requests. Prints throughput,
p50/p95/p99 latency per request type, errors by status, CPU used by server and client, then
counts the database (expected, sent, acknowledged, stored, duplicated, lost) and says which
goal was met: zero errors, nothing lost or duplicated, p95 under 1 s for every request type.

Run: .venv/bin/python bench/load.py [--database-url postgresql://postgres@127.0.0.1:5432/test]
         [--sqlite] [--workers 200] [--gunicorn-workers 4] [--threads 8] [--ramp-s 0]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.sync_drain import scratch_database  # noqa: E402
from client_sync.testing import LiveServer  # noqa: E402

PASSWORD = "load bench horse battery"
SOUTH, WEST, GRID_W, GRID_H = 28.800, 113.000, 0.008, 0.004
KINDS = ("pull", "photo", "batch")
GOAL_P95_S = 1.0


@dataclass
class Worker:
    """A simulated grid worker: login, their grid's centre, their households."""

    username: str
    center: tuple[float, float]
    households: list[tuple[int, float, float]]  # (id, lat, lon)
    token: str = ""


class Ledger:
    """Per kind (visit, report, photo): the client_uuids sent, and those acknowledged."""

    def __init__(self) -> None:
        self.sent: dict[str, set[str]] = defaultdict(set)
        self.acked: dict[str, set[str]] = defaultdict(set)
        self.record_status: Counter[int] = Counter()  # per record, inside batch answers
        self._lock = threading.Lock()

    def note(self, kind: str, uids: list[str], acked: bool = False) -> None:
        """Record ``uids`` of ``kind`` as sent (or, with ``acked``, acknowledged)."""
        with self._lock:
            (self.acked if acked else self.sent)[kind].update(uids)

    def batch_answer(self, results: list[dict[str, Any]]) -> None:
        """Settle a batch's per-record results."""
        with self._lock:
            for result in results:
                self.record_status[result["status"]] += 1
                if result["status"] in (200, 201):
                    self.acked[result["kind"]].add(result["client_uuid"])


class Recorder:
    """Latencies per request type and answers per status, from many threads, within caps."""

    def __init__(self, deadline: float, max_requests: int) -> None:
        self.deadline, self.max_requests = deadline, max_requests
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.status: Counter[str] = Counter()
        self.requests = 0
        self.capped = False
        self._lock = threading.Lock()

    def _allow(self) -> bool:
        with self._lock:
            if time.monotonic() >= self.deadline or self.requests >= self.max_requests:
                self.capped = True
                return False
            self.requests += 1
            return True

    def call(self, kind: str, session: requests.Session, method: str, url: str,
             **kwargs: Any) -> tuple[bool, requests.Response | None]:
        """(sent?, answer): one request within the caps, its latency and status recorded."""
        if not self._allow():
            return False, None
        began = time.perf_counter()
        timeout = max(1.0, min(60.0, self.deadline - time.monotonic()))
        try:
            answer = session.request(method, url, timeout=timeout, **kwargs)
        except requests.RequestException as exc:
            with self._lock:
                self.status[f"{kind} {type(exc).__name__}"] += 1
            return True, None
        with self._lock:
            self.latency[kind].append(time.perf_counter() - began)
            self.status[f"{kind} {answer.status_code}"] += 1
        return True, answer


# -- the world ------------------------------------------------------------------------------


def _app(url: str, media: Path) -> Any:
    from server import create_app

    # Cheap argon2 for the seeded accounts: the bench measures sync, not password hashing.
    return create_app({"DATABASE_URL": url, "MEDIA_DIR": str(media), "TESTING": True,
                       "INSTANCE_DIR": str(media.parent), "PASSWORD_HASH_CHEAP": True})


def _grids(n_grids: int) -> dict[str, Any]:
    features = []
    for g in range(n_grids):
        west = WEST + g * GRID_W
        ring = [[west, SOUTH], [west + GRID_W, SOUTH], [west + GRID_W, SOUTH + GRID_H],
                [west, SOUTH + GRID_H], [west, SOUTH]]
        features.append({"type": "Feature", "properties": {"code": f"G{g:02d}",
                                                           "name": f"{g}号网格"},
                         "geometry": {"type": "Polygon", "coordinates": [ring]}})
    return {"type": "FeatureCollection", "features": features}


def seed(url: str, media: Path, n_workers: int, n_grids: int, per_worker: int) -> list[Worker]:
    """Schema, community, grids with a building each, workers and their households."""
    from server.extensions import db
    from server.models import Building, Community, Household
    from server.services.auth import create_user
    from server.services.categories import list_categories
    from server.services.grids import import_grids
    from server.services.household_io import import_households
    from server.services.household_sheets import write_csv

    app = _app(url, media)
    with app.app_context():
        db.create_all()
        community = Community(code="C1", name="压测社区")
        db.session.add(community)
        db.session.commit()
        import_grids(db.session, "C1", _grids(n_grids))
        centers = {}
        for g, grid in enumerate(sorted(community.grids, key=lambda x: x.code)):
            centers[g] = (SOUTH + GRID_H / 2, WEST + g * GRID_W + GRID_W / 2)
            db.session.add(Building(community_id=community.id, grid_id=grid.id, code=f"B{g:02d}",
                                    name=f"{g}栋", lat=centers[g][0], lon=centers[g][1]))
        db.session.commit()
        list_categories(db.session)  # the default report categories
        rows = [[f"W{w:03d}-{n:02d}", f"B{w % n_grids:02d}", str(w), str(n), f"户主{w}-{n}", "",
                 "", 2, "", "", "", ""] for w in range(n_workers) for n in range(per_worker)]
        import_households(db.session, community, write_csv(rows), user=None, access=None)
        homes = {h.code: (h.id, h.lat, h.lon) for h in db.session.query(Household)}
        workers = []
        for w in range(n_workers):
            name = f"worker{w:03d}"
            create_user(db.session, name, PASSWORD, "grid_worker",
                        grid_codes=(f"G{w % n_grids:02d}",))
            workers.append(Worker(name, centers[w % n_grids],
                                  [homes[f"W{w:03d}-{n:02d}"] for n in range(per_worker)]))
        db.session.commit()  # the set-up is its own boundary: services only flush
        db.session.remove()
        db.engine.dispose()
    return workers


def login_all(base: str, workers: list[Worker], threads: int = 16) -> float:
    """Log every worker in (POST /auth/tokens); the seconds it took."""
    began = time.perf_counter()

    def one(worker: Worker) -> None:
        answer = requests.post(f"{base}/api/v1/auth/tokens", timeout=60, json={
            "username": worker.username, "password": PASSWORD, "device_id": worker.username})
        answer.raise_for_status()
        worker.token = answer.json()["token"]

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, workers))
    return time.perf_counter() - began


def jpeg(seed_: int, px: tuple[int, int], at: tuple[float, float]) -> bytes:
    """A small JPEG of random pixels with GPS and capture time in its EXIF."""
    rng = random.Random(seed_)
    img = Image.frombytes("RGB", px, rng.randbytes(px[0] * px[1] * 3))
    exif = Image.Exif()
    exif[0x8769] = {0x9003: datetime.now(UTC).strftime("%Y:%m:%d %H:%M:%S"), 0x9011: "+00:00"}

    def dms(value: float) -> tuple[IFDRational, ...]:
        minutes = (value - int(value)) * 60
        return (IFDRational(int(value), 1), IFDRational(int(minutes), 1),
                IFDRational(round((minutes - int(minutes)) * 60_000), 1000))

    exif[0x8825] = {0: b"\x02\x03\x00\x00", 1: "N", 2: dms(at[0]), 3: "E", 4: dms(at[1])}
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85, exif=exif.tobytes())
    return out.getvalue()


# -- the run --------------------------------------------------------------------------------


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) of every live process in process group ``pgid`` (Linux)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)


def _records(worker: Worker, photo_ids: list[str], rng: random.Random) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    records = [{"kind": "visit", "client_uuid": str(uuid.uuid4()), "body": {
        "household_id": hid, "outcome": rng.choice(("met", "met", "not_home")),
        "visited_at": (now - timedelta(minutes=rng.randrange(5, 600))).isoformat(),
        "location": {"lat": lat, "lon": lon, "accuracy_m": 12.0, "crs": "wgs84"},
        "notes": "入户走访", "needs": [], "photo_ids": []}} for hid, lat, lon in worker.households]
    for photo_id in photo_ids:
        records.append({"kind": "report", "client_uuid": str(uuid.uuid4()), "body": {
            "category": rng.choice(("garbage", "road_damage", "drain")),
            "description": "楼道堆放杂物", "captured_at": now.isoformat(),
            "location": {"lat": worker.center[0] + rng.uniform(-0.0015, 0.0015),
                         "lon": worker.center[1] + rng.uniform(-0.003, 0.003),
                         "accuracy_m": 8.0, "crs": "wgs84"},
            "photo_ids": [photo_id]}})
    return records


def sync_once(base: str, worker: Worker, photos: list[bytes], rec: Recorder,
              ledger: Ledger, start: threading.Barrier, delay_s: float) -> None:
    """One worker's sync: pull every page, upload photos, push one batch."""
    rng = random.Random(worker.username)
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {worker.token}"
        start.wait()
        time.sleep(delay_s)
        params: dict[str, str] = {}
        while True:
            _, answer = rec.call("pull", session, "GET", f"{base}/api/v1/sync/changes",
                                 params=params)
            if answer is None or answer.status_code != 200 or not answer.json()["has_more"]:
                break
            params = {"since": answer.json()["next_cursor"]}
        photo_ids = []
        for data in photos:
            uid = str(uuid.uuid4())
            sent, answer = rec.call("photo", session, "POST", f"{base}/api/v1/photos",
                                    data={"client_uuid": uid},
                                    files={"file": ("IMG.jpg", data, "image/jpeg")})
            ledger.note("photo", [uid] if sent else [])
            if answer is not None and answer.status_code in (200, 201):
                ledger.note("photo", [uid], acked=True)
                photo_ids.append(uid)
        records = _records(worker, photo_ids, rng)
        sent, answer = rec.call("batch", session, "POST", f"{base}/api/v1/sync/batch",
                                json={"records": records})
        for kind in ("visit", "report"):
            ledger.note(kind, [r["client_uuid"] for r in records if sent and r["kind"] == kind])
        if answer is not None and answer.status_code == 200:
            ledger.batch_answer(answer.json()["results"])


def run_load(base: str, workers: list[Worker], photos: list[list[bytes]], args: Any,
             ) -> tuple[Recorder, Ledger, float]:
    """All workers at once (one thread each); the recorder, the ledger, seconds."""
    rec, ledger = Recorder(time.monotonic() + args.time_cap, args.max_requests), Ledger()
    start = threading.Barrier(len(workers) + 1)
    spread = args.ramp_s / max(1, len(workers))
    with ThreadPoolExecutor(len(workers)) as pool:
        futures = [pool.submit(sync_once, base, w, photos[i], rec, ledger, start, i * spread)
                   for i, w in enumerate(workers)]
        start.wait()
        began = time.perf_counter()
        for future in futures:
            future.result()
    return rec, ledger, time.perf_counter() - began


# -- the count ------------------------------------------------------------------------------


def verify(url: str, media: Path, ledger: Ledger, expected: dict[str, int]) -> dict[str, Any]:
    """Per kind: expected, sent, acknowledged, stored, duplicates, lost (acknowledged but
    not stored), unexpected (stored, never sent); households with a wrong last visit."""
    from sqlalchemy import func, select

    from server.extensions import db
    from server.models import Household, Photo, Report, Visit

    found: dict[str, Any] = {}
    with _app(url, media).app_context():
        for kind, key in (("visit", Visit.client_uuid), ("report", Report.client_uuid),
                          ("photo", Photo.id)):
            stored = list(db.session.scalars(select(key)))
            sent, acked = ledger.sent[kind], ledger.acked[kind]
            found[kind] = {"expected": expected[kind], "sent": len(sent), "acked": len(acked),
                           "stored": len(stored), "duplicates": len(stored) - len(set(stored)),
                           "lost": len(acked - set(stored)),
                           "unexpected": len(set(stored) - sent)}
        latest = select(func.max(Visit.visited_at)).where(
            Visit.household_id == Household.id).scalar_subquery()
        found["last_visit_wrong"] = sum(1 for kept, real in db.session.execute(
            select(Household.last_visit_at, latest)) if kept != real)
        db.session.remove()
        db.engine.dispose()
    return found


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _latency_table(rec: Recorder) -> None:
    print(f"{'type':<6} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    every = [v for values in rec.latency.values() for v in values]
    for kind, values in [(k, rec.latency.get(k, [])) for k in KINDS] + [("all", every)]:
        print(f"{kind:<6} {len(values):>5} " + " ".join(
            f"{_pct(values, q) * 1000:>8.0f}" for q in (0.50, 0.95, 0.99, 1.0)))


def report(rec: Recorder, ledger: Ledger, seconds: float, found: dict[str, Any]) -> bool:
    """Print the figures and the goals; True if every goal was met."""
    answered = sum(len(v) for v in rec.latency.values())
    records = sum(ledger.record_status.values())
    print(f"wall time {seconds:.2f} s; {rec.requests} requests sent "
          f"({'A CAP WAS HIT' if rec.capped else 'no cap hit'}), {answered} answered")
    print(f"throughput: {answered / seconds:.1f} requests/s, {records / seconds:.1f} records/s "
          f"(visits and reports in batches), {len(rec.latency['photo']) / seconds:.1f} photos/s")
    _latency_table(rec)
    errors = {k: n for k, n in rec.status.items() if k.split()[-1] not in ("200", "201")}
    print(f"answers by status: {dict(sorted(rec.status.items()))}; record results in "
          f"batches: {dict(sorted(ledger.record_status.items()))}")
    print(f"errors: {sum(errors.values())} {errors or ''}")
    for kind in ("visit", "report", "photo"):
        print(f"database {kind}s: {found[kind]}")
    print(f"households whose last_visit_at disagrees with their visits: "
          f"{found['last_visit_wrong']}")
    bad_records = sum(n for status, n in ledger.record_status.items() if status not in (200, 201))
    no_errors = not errors and not bad_records and not rec.capped
    intact = found["last_visit_wrong"] == 0 and all(
        f["lost"] == f["duplicates"] == f["unexpected"] == 0 and f["stored"] == f["expected"]
        for f in (found[k] for k in ("visit", "report", "photo")))
    fast = all(_pct(rec.latency.get(k, []), 0.95) < GOAL_P95_S for k in KINDS)
    for goal, met in (("zero errors", no_errors), ("zero lost or duplicated records", intact),
                      (f"p95 under {GOAL_P95_S:.0f} s for every request type", fast)):
        print(f"goal {goal}: {'MET' if met else 'NOT MET'}")
    return no_errors and intact and fast


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="PostgreSQL database (a scratch schema is made and dropped)")
    parser.add_argument("--sqlite", action="store_true", help="the embedded tier instead")
    parser.add_argument("--workers", type=int, default=200, help="simulated grid workers")
    parser.add_argument("--grids", type=int, default=20)
    parser.add_argument("--visits", type=int, default=20, help="visits per worker")
    parser.add_argument("--reports", type=int, default=2, help="photo reports per worker")
    parser.add_argument("--photo-px", default="240x180", help="photo size, WxH")
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8, help="gthread threads per worker")
    parser.add_argument("--ramp-s", type=float, default=0.0,
                        help="spread the workers' starts over this many seconds (0: at once)")
    parser.add_argument("--time-cap", type=float, default=120.0, help="hard cap, seconds")
    parser.add_argument("--max-requests", type=int, default=5000)
    return parser.parse_args()


def load_server(url: str, root: Path, workers: list[Worker], photos: list[list[bytes]],
                args: argparse.Namespace) -> tuple[Recorder, Ledger, float, str]:
    """Serve, log everyone in, run the load; (recorder, ledger, seconds, server log tail)."""
    with LiveServer(url, root / "media", instance_dir=root / "server",
                    workers=args.gunicorn_workers, threads=args.threads) as server:
        print(f"server: gunicorn gthread, {args.gunicorn_workers} workers x {args.threads} "
              f"threads, {url.split(':')[0]}; client: {len(workers)} threads, same machine; "
              f"{os.cpu_count()} CPUs; load average before: "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"logged in {len(workers)} workers in {login_all(server.url, workers):.1f} s"
              " (argon2id: the server upgrades the seeded cheap hashes at first login)")
        assert server.process is not None
        server_cpu, client_cpu = group_cpu_s(server.process.pid), time.process_time()
        before = machine_busy()
        rec, ledger, seconds = run_load(server.url, workers, photos, args)
        busy = [b - a for a, b in zip(before, machine_busy(), strict=True)]
        print(f"\nCPU during the run: server (gunicorn) "
              f"{group_cpu_s(server.process.pid) - server_cpu:.1f} s, client "
              f"{time.process_time() - client_cpu:.1f} s, whole machine "
              f"{100 * busy[0] / max(1, busy[1]):.0f} % busy (the database and anything else "
              "running included)")
        return rec, ledger, seconds, server.log_tail(20)


def main() -> int:
    """Seed, serve, log in, load, count; exit 1 if a goal was missed."""
    args = _arguments()
    width, height = (int(v) for v in args.photo_px.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp, scratch_database(
            None if args.sqlite else args.database_url, Path(tmp)) as url:
        root = Path(tmp)
        began = time.perf_counter()
        workers = seed(url, root / "media", args.workers, args.grids, args.visits)
        print(f"seeded {len(workers)} workers, {args.grids} grids, "
              f"{len(workers) * args.visits} households in {time.perf_counter() - began:.1f} s")
        photos = [[jpeg(i * 10 + n, (width, height), w.center) for n in range(args.reports)]
                  for i, w in enumerate(workers)]
        sizes = [len(p) for ps in photos for p in ps]
        print(f"photos: {len(sizes)} JPEGs of {width}x{height}, {sum(sizes) // len(sizes)} "
              "bytes each on average")
        rec, ledger, seconds, server_log = load_server(url, root, workers, photos, args)
        n = len(workers)
        found = verify(url, root / "media", ledger, {"visit": n * args.visits,
                                                     "report": n * args.reports,
                                                     "photo": n * args.reports})
        ok = report(rec, ledger, seconds, found)
        if "Traceback" in server_log or "ERROR" in server_log:
            print("server log tail:\n" + server_log)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
