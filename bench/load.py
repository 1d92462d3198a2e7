"""Load: 200 grid workers syncing at once against gunicorn, then a count of what arrived.

Seeds a throwaway world (a database of the bench's own on the PostgreSQL server named, or
with --sqlite a fresh SQLite file): --grids grids with a building each, --workers grid
workers, each with --visits households of their own; the workers' passwords carry a real
argon2id hash (the server's parameters), so a login costs what it costs in the field.
Serves it with gunicorn as ``gridwork serve`` does (gthread, 4 threads, its timeout and
limits) with the worker count docs/operations.md recommends (one per CPU core), and lets
all workers loose at the same instant (a barrier), a thread and HTTP session each: login
(POST /auth/tokens), pull (GET /sync/changes, every page), photo (one-shot POST /photos of
--reports phone-sized photos: the client's own prepare_photo of a 12 MP photo, 2048 px,
with GPS EXIF), batch (POST /sync/batch: --visits visits, --reports reports naming the
photos). All of that is inside the timed window. Bounded by --time-cap seconds and
--max-requests requests.

The baseline, measured in the same run before the burst: --solo more workers doing the
same sync one after another on the idle server. Prints throughput, p50/p95/p99 latency per
request type and each p95 against the solo median of the same type, errors by status, CPU
used by server and client, /proc/loadavg, then counts the database (expected, sent,
acknowledged, stored, duplicated, lost) and says which goal was met: zero errors, nothing
lost or duplicated, p95 under 1 s for every request type (issue 16: a batch's p95 under 1 s
with all 200 starting at once).

Run: .venv/bin/python bench/load.py [--database-url postgresql://postgres@127.0.0.1:5432/test]
         [--sqlite] [--workers 200] [--gunicorn-workers N] [--ramp-s 0] [--solo 5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import load_average, own_database, percentile  # noqa: E402
from bench.photo_bytes import make_photo  # noqa: E402
from client_sync.photos import prepare_photo  # noqa: E402
from client_sync.testing import LiveServer  # noqa: E402

PASSWORD = "load bench horse battery"
SOUTH, WEST, GRID_W, GRID_H = 28.800, 113.000, 0.008, 0.004
KINDS = ("login", "pull", "photo", "batch")
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
        # One real argon2id hash (the server's own parameters) for every worker: a login in
        # the burst verifies what a login in the field verifies, and needs no rehash.
        from argon2 import PasswordHasher
        from sqlalchemy import update

        from server.models import User

        db.session.execute(update(User).where(User.role == "grid_worker").values(
            password_hash=PasswordHasher().hash(PASSWORD)))
        db.session.commit()  # the set-up is its own boundary: services only flush
        db.session.remove()
        db.engine.dispose()
    return workers


def login(base: str, worker: Worker, rec: Recorder, session: requests.Session) -> bool:
    """POST /auth/tokens for ``worker`` within the caps; True once the session holds a token."""
    _, answer = rec.call("login", session, "POST", f"{base}/api/v1/auth/tokens", json={
        "username": worker.username, "password": PASSWORD, "device_id": worker.username})
    if answer is None or answer.status_code not in (200, 201):
        return False
    worker.token = answer.json()["token"]
    session.headers["Authorization"] = f"Bearer {worker.token}"
    return True


def phone_photo(root: Path) -> bytes:
    """What the client sends for a 12 MP phone photo: prepare_photo's 2048 px JPEG."""
    src = root / "IMG_0001.jpg"
    make_photo(src, 0.5, 16, random.Random(5))  # photo_bytes' mixed scene (a canal bank)
    return prepare_photo(src, root / "prepared").path.read_bytes()


def _exif_segment(seed_: int, at: tuple[float, float]) -> bytes:
    """An APP1 EXIF segment: GPS at ``at``, the capture time, a unique id."""
    exif = Image.Exif()
    exif[0x8769] = {0x9003: datetime.now(UTC).strftime("%Y:%m:%d %H:%M:%S"), 0x9011: "+00:00",
                    0xA420: uuid.UUID(int=random.Random(seed_).getrandbits(128)).hex}

    def dms(value: float) -> tuple[IFDRational, ...]:
        minutes = (value - int(value)) * 60
        return (IFDRational(int(value), 1), IFDRational(int(minutes), 1),
                IFDRational(round((minutes - int(minutes)) * 60_000), 1000))

    exif[0x8825] = {0: b"\x02\x03\x00\x00", 1: "N", 2: dms(at[0]), 3: "E", 4: dms(at[1])}
    payload = exif.tobytes()  # b"Exif\0\0" and the TIFF structure
    return b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload


def with_exif(jpeg_bytes: bytes, seed_: int, at: tuple[float, float]) -> bytes:
    """The same JPEG with its APP1 EXIF replaced: a distinct file, same pixels, no re-encode."""
    out, pos = [jpeg_bytes[:2], _exif_segment(seed_, at)], 2
    while jpeg_bytes[pos] == 0xFF and 0xE0 <= jpeg_bytes[pos + 1] <= 0xEF:  # APPn segments
        length = int.from_bytes(jpeg_bytes[pos + 2:pos + 4], "big")
        if not (jpeg_bytes[pos + 1] == 0xE1 and jpeg_bytes[pos + 4:pos + 8] == b"Exif"):
            out.append(jpeg_bytes[pos:pos + 2 + length])
        pos += 2 + length
    out.append(jpeg_bytes[pos:])
    return b"".join(out)


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
    """One worker's sync: log in, pull every page, upload photos, push one batch."""
    rng = random.Random(worker.username)
    with requests.Session() as session:
        start.wait()
        time.sleep(delay_s)
        if not login(base, worker, rec, session):
            return
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
             ledger: Ledger) -> tuple[Recorder, float]:
    """All workers at once (one thread each, a barrier); the recorder and the seconds."""
    rec = Recorder(time.monotonic() + args.time_cap, args.max_requests)
    start = threading.Barrier(len(workers) + 1)
    spread = args.ramp_s / max(1, len(workers))
    with ThreadPoolExecutor(len(workers)) as pool:
        futures = [pool.submit(sync_once, base, w, photos[i], rec, ledger, start, i * spread)
                   for i, w in enumerate(workers)]
        start.wait()
        began = time.perf_counter()
        for future in futures:
            future.result()
    return rec, time.perf_counter() - began


def run_solo(base: str, workers: list[Worker], photos: list[list[bytes]],
             ledger: Ledger) -> Recorder:
    """The baseline: the same sync, one worker after another, on an otherwise idle server."""
    rec = Recorder(time.monotonic() + 600, 10_000)
    for worker, mine in zip(workers, photos, strict=True):
        sync_once(base, worker, mine, rec, ledger, threading.Barrier(1), 0.0)
    return rec


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


def _latency_table(rec: Recorder, solo: Recorder) -> None:
    print(f"{'type':<6} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'solo p50':>9} {'p95/solo':>9}")
    every = [v for values in rec.latency.values() for v in values]
    alone = [v for values in solo.latency.values() for v in values]
    for kind, values, base in [(k, rec.latency.get(k, []), solo.latency.get(k, []))
                               for k in KINDS] + [("all", every, alone)]:
        solo_p50 = statistics.median(base) if base else float("nan")
        print(f"{kind:<6} {len(values):>5} " + " ".join(
            f"{percentile(values, q) * 1000:>8.0f}" for q in (0.50, 0.95, 0.99, 1.0))
            + f" {solo_p50 * 1000:>9.0f} {percentile(values, 0.95) / solo_p50:>8.1f}x")


def report(rec: Recorder, solo: Recorder, ledger: Ledger, seconds: float,
           found: dict[str, Any]) -> bool:
    """Print the figures and the goals; True if every goal was met."""
    answered = sum(len(v) for v in rec.latency.values())
    records = sum(ledger.record_status.values())
    print(f"wall time {seconds:.2f} s; {rec.requests} requests sent "
          f"({'A CAP WAS HIT' if rec.capped else 'no cap hit'}), {answered} answered")
    print(f"throughput: {answered / seconds:.1f} requests/s, {records / seconds:.1f} records/s "
          f"(visits and reports in batches), {len(rec.latency['photo']) / seconds:.1f} photos/s, "
          f"{len(rec.latency['login']) / seconds:.1f} logins/s")
    _latency_table(rec, solo)
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
    fast = all(percentile(rec.latency.get(k, []), 0.95) < GOAL_P95_S for k in KINDS)
    for goal, met in (("zero errors", no_errors), ("zero lost or duplicated records", intact),
                      (f"p95 under {GOAL_P95_S:.0f} s for every request type", fast)):
        print(f"goal {goal}: {'MET' if met else 'NOT MET'}")
    return no_errors and intact and fast


def recommended_gunicorn_workers() -> int:
    """docs/operations.md: one gunicorn worker per CPU core (4 threads each)."""
    return os.cpu_count() or 1


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="a PostgreSQL server: the bench makes and drops a database of its "
                             "own there (gridwork_bench_load)")
    parser.add_argument("--sqlite", action="store_true", help="the embedded tier instead")
    parser.add_argument("--workers", type=int, default=200, help="simulated grid workers")
    parser.add_argument("--solo", type=int, default=5,
                        help="more workers syncing one at a time first: the baseline")
    parser.add_argument("--grids", type=int, default=20)
    parser.add_argument("--visits", type=int, default=20, help="visits per worker")
    parser.add_argument("--reports", type=int, default=2, help="photo reports per worker")
    parser.add_argument("--gunicorn-workers", type=int, default=recommended_gunicorn_workers(),
                        help="default: one per CPU core, as docs/operations.md recommends")
    parser.add_argument("--threads", type=int, default=4,
                        help="gthread threads per worker (gridwork serve's 4)")
    parser.add_argument("--ramp-s", type=float, default=0.0,
                        help="spread the workers' starts over this many seconds (0: at once)")
    parser.add_argument("--time-cap", type=float, default=300.0, help="hard cap, seconds")
    parser.add_argument("--max-requests", type=int, default=5000)
    return parser.parse_args()


def load_server(url: str, root: Path, workers: list[Worker], photos: list[list[bytes]],
                args: argparse.Namespace) -> tuple[Recorder, Recorder, Ledger, float, str]:
    """Serve, run the solo baseline, then the burst; (burst, solo, ledger, seconds, log)."""
    from server.request_limits import GUNICORN_LIMITS

    solo_n = args.solo
    with LiveServer(url, root / "media", instance_dir=root / "server",
                    workers=args.gunicorn_workers, threads=args.threads,
                    args=("--timeout", "120", *GUNICORN_LIMITS)) as server:
        print(f"server: gunicorn gthread, {args.gunicorn_workers} workers x {args.threads} "
              f"threads (gridwork serve's options), {url.split(':')[0]}; client: "
              f"{len(workers) - solo_n} threads, same machine; {load_average()}")
        ledger = Ledger()
        solo = run_solo(server.url, workers[:solo_n], photos[:solo_n], ledger)
        print(f"solo baseline: {solo_n} workers synced one at a time, "
              f"{sum(len(v) for v in solo.latency.values())} requests")
        assert server.process is not None
        server_cpu, client_cpu = group_cpu_s(server.process.pid), time.process_time()
        before = machine_busy()
        rec, seconds = run_load(server.url, workers[solo_n:], photos[solo_n:], args, ledger)
        busy = [b - a for a, b in zip(before, machine_busy(), strict=True)]
        print(f"\nCPU during the burst: server (gunicorn) "
              f"{group_cpu_s(server.process.pid) - server_cpu:.1f} s, client "
              f"{time.process_time() - client_cpu:.1f} s, whole machine "
              f"{100 * busy[0] / max(1, busy[1]):.0f} % busy (the database and anything else "
              f"running included); {load_average()}")
        return rec, solo, ledger, seconds, server.log_tail(20)


@contextlib.contextmanager
def _database(args: argparse.Namespace, root: Path) -> Iterator[str]:
    if args.sqlite:
        yield f"sqlite:///{root / 'bench.db'}"
    else:
        with own_database(args.database_url, "gridwork_bench_load") as url:
            yield url


def main() -> int:
    """Seed, serve, load, count; exit 1 if a goal was missed."""
    args = _arguments()
    with tempfile.TemporaryDirectory() as tmp, _database(args, Path(tmp)) as url:
        root = Path(tmp)
        began = time.perf_counter()
        total = args.workers + args.solo
        workers = seed(url, root / "media", total, args.grids, args.visits)
        print(f"seeded {len(workers)} workers, {args.grids} grids, "
              f"{len(workers) * args.visits} households in {time.perf_counter() - began:.1f} s")
        phone = phone_photo(root)
        photos = [[with_exif(phone, i * 10 + n, w.center) for n in range(args.reports)]
                  for i, w in enumerate(workers)]
        with Image.open(io.BytesIO(phone)) as img:
            size = img.size
        print(f"photos: {sum(map(len, photos))} JPEGs of {size[0]}x{size[1]} (prepare_photo of "
              f"a 12 MP photo), {len(phone):,} bytes each, GPS EXIF of their worker's grid")
        rec, solo, ledger, seconds, server_log = load_server(url, root, workers, photos, args)
        found = verify(url, root / "media", ledger, {"visit": total * args.visits,
                                                     "report": total * args.reports,
                                                     "photo": total * args.reports})
        ok = report(rec, solo, ledger, seconds, found)
        if "Traceback" in server_log or "ERROR" in server_log:
            print("server log tail:\n" + server_log)
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())
