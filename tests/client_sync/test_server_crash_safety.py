"""Crash safety of the server: SIGKILL the gunicorn process mid-write, restart, nothing torn.

(a) A worker's phone pushes 600 visits (30 with a photo) in three batches of 200; the server
is SIGKILLed while the second batch's transaction is open (seen in the database itself: a
held SQLite write lock, or a PostgreSQL backend of the server with a transaction id),
restarted, and the client's own retry finishes the push: every visit exactly once, every
household's last visit matching its visits, no orphan photo link.
(b) A secretary imports a 5,000-row household list; the server is SIGKILLed while the
import's transaction is writing, restarted: none of the rows or all of them, and importing
the file again leaves exactly the file's households (a third import changes nothing).

What was observed is printed (run with ``-s``).
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from client_sync.client import SyncClient, SyncResult
from client_sync.testing import LiveServer
from server.extensions import db
from server.models import Community, Household, Photo, Visit, visit_photos
from server.services.household_sheets import write_csv
from tests.client_sync.conftest import g1_households, make_client, noisy_jpeg
from tests.factories import PASSWORD, Actor, Factory

pytestmark = pytest.mark.slow

G1 = Factory.G1_CENTER
BATCH, N_VISITS, N_PHOTO_VISITS, N_HOUSEHOLDS, N_IMPORT = 200, 600, 30, 50, 5000
APP_NAME = "gw-crash-safety"


class WriteProbe:
    """Whether the live server holds a write transaction open right now, asked of the
    database: SQLite's write lock (``BEGIN IMMEDIATE`` fails at once), or a PostgreSQL
    backend of the server (its ``application_name``) that already has a transaction id."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.sqlite = self.url.get_backend_name() == "sqlite"
        self._engine = None if self.sqlite else create_engine(
            self.url.difference_update_query(["application_name"]), isolation_level="AUTOCOMMIT")

    def writing(self) -> bool:
        """True while a write transaction of the server is open (not yet committed)."""
        if self.sqlite:
            lite = sqlite3.connect(str(self.url.database), timeout=0, isolation_level=None)
            try:
                lite.execute("BEGIN IMMEDIATE")
                lite.execute("ROLLBACK")
                return False
            except sqlite3.OperationalError:
                return True
            finally:
                lite.close()
        assert self._engine is not None
        with self._engine.connect() as conn:  # autocommit: a fresh activity snapshot each time
            return bool(conn.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"
                " AND backend_xid IS NOT NULL AND state <> 'idle'"), {"name": APP_NAME}))

    def wait(self, until: float, stop: Callable[[], bool] = lambda: False) -> bool:
        """Poll every 2 ms until a write is open (True), or ``until`` or ``stop()`` (False)."""
        while time.monotonic() < until and not stop():
            if self.writing():
                return True
            time.sleep(0.002)
        return False

    def close(self) -> None:
        """Close the probe's connections."""
        if self._engine is not None:
            self._engine.dispose()


@pytest.fixture
def server(app_config: dict[str, Any], tmp_path: Path) -> Iterator[LiveServer]:
    """A gunicorn process of its own on the suite's database (it gets killed)."""
    url = make_url(app_config["DATABASE_URL"])
    if url.get_backend_name() == "postgresql":
        url = url.update_query_dict({"application_name": APP_NAME})
    live = LiveServer(url.render_as_string(hide_password=False), tmp_path / "media",
                      instance_dir=tmp_path / "server", workers=2, threads=4)
    with live:
        yield live


@pytest.fixture
def probe(server: LiveServer) -> Iterator[WriteProbe]:
    """Watches the live server's database for an open write transaction."""
    watcher = WriteProbe(server.database_url)
    yield watcher
    watcher.close()


def count(model: Any) -> int:
    """Rows of ``model`` as the database holds them now."""
    db.session.commit()  # a fresh snapshot of what the server process wrote
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


# -- (a) a batch sync ------------------------------------------------------------------------


class Progress:
    """The client's events; after the first batch it holds the pass until every photo is in,
    so the second batch is the only writer and carries the visits with photos. (The client
    gets a photo worker per photo, so holding its batch thread starves no upload.)"""

    def __init__(self, photos: int) -> None:
        self.photos, self.batches = photos, 0
        self._lock = threading.Lock()
        self.photos_in = threading.Event()
        self.second_batch = threading.Event()
        self.started = time.monotonic()
        self.first_batch_s = self.second_sent_at = 0.0

    def __call__(self, name: str, **data: Any) -> None:
        with self._lock:
            if name == "photo_done":
                self.photos -= 1
                if self.photos <= 0:
                    self.photos_in.set()
                return
            if name != "batch_done":
                return
            self.batches += 1
            first = self.batches == 1
        if first:
            self.first_batch_s = time.monotonic() - self.started
            self.photos_in.wait(30)
            self.second_sent_at = time.monotonic()
            self.second_batch.set()


def _queue_visits(client: SyncClient, homes: list[int], camera: Path) -> set[str]:
    """600 visits at scattered times of the last two days; the last 30 of the second batch
    carry a photo each (the outbox sends in queue order, so they travel in batch 2)."""
    rng, now, queued = random.Random(8), datetime.now(UTC), set()
    with_photo = range(2 * BATCH - N_PHOTO_VISITS, 2 * BATCH)
    with client.outbox.atomic():
        for n in range(N_VISITS):
            photos = [noisy_jpeg(camera / f"V{n}.jpg", 96, 72, seed=n)] \
                if n in with_photo else []
            queued.add(client.queue_visit(
                household_id=rng.choice(homes), outcome=rng.choice(["met", "not_home"]),
                lat=G1[0], lon=G1[1], photos=photos,
                visited_at=now - timedelta(minutes=rng.randrange(1, 2880))))
    return queued


def _push_in_background(client: SyncClient) -> tuple[threading.Thread, list[SyncResult]]:
    results: list[SyncResult] = []
    thread = threading.Thread(target=lambda: results.append(client.push(timeout=45)),
                              daemon=True)
    thread.start()
    return thread, results


def _kill_during_second_batch(server: LiveServer, probe: WriteProbe,
                              progress: Progress) -> float:
    """SIGKILL the server while batch 2's transaction is open; ms after batch 2 was sent."""
    assert progress.second_batch.wait(30), "the first batch never came back"
    # Kill as soon as batch 2's transaction is seen open: its visits go in with one INSERT
    # and it commits tens of ms later, too short a window for a sleep proportioned to
    # batch 1 to land in on a loaded machine. A write still open 10 ms after it was first
    # seen is the batch's, not the token's last-use touch that commits just before it.
    deadline = time.monotonic() + 20
    while True:
        assert probe.wait(deadline), "batch 2 never opened a write transaction"
        time.sleep(0.01)
        if probe.writing():
            break
    server.kill()
    return (time.monotonic() - progress.second_sent_at) * 1000


def _assert_visits_consistent(queued: set[str]) -> dict[str, int]:
    """Each queued visit once, last visits matching, no orphan photo link; some counts."""
    db.session.commit()
    uuids = list(db.session.scalars(select(Visit.client_uuid)))
    assert len(uuids) == len(set(uuids)) == N_VISITS and set(uuids) == queued
    visits: dict[int, list[Visit]] = defaultdict(list)
    for visit in db.session.scalars(select(Visit)):
        visits[visit.household_id].append(visit)
    for household in db.session.scalars(select(Household)):
        mine = visits.get(household.id, [])
        met = [v.visited_at for v in mine if v.outcome == "met"]
        assert household.last_visit_at == max((v.visited_at for v in mine), default=None), \
            household.code
        assert household.last_met_at == max(met, default=None), household.code
    orphans = db.session.scalar(select(func.count()).select_from(visit_photos).outerjoin(
        Visit, Visit.id == visit_photos.c.visit_id).outerjoin(
        Photo, Photo.id == visit_photos.c.photo_id).where(
        (Visit.id.is_(None)) | (Photo.id.is_(None))))
    assert orphans == 0
    links = count(visit_photos)
    assert links == N_PHOTO_VISITS
    return {"households": len(visits), "links": links}


def test_server_killed_mid_batch_keeps_every_visit_exactly_once_after_the_retry(
        factory: Factory, server: LiveServer, probe: WriteProbe, tmp_path: Path) -> None:
    worker: Actor = factory.actor("grid_worker", grids=("G1",))
    homes = g1_households(factory, N_HOUSEHOLDS)
    progress = Progress(N_PHOTO_VISITS)
    with make_client(server.url, tmp_path / "phone", on_event=progress,
                     photo_workers=N_PHOTO_VISITS) as client:
        client.login(worker.user.username, PASSWORD)
        queued = _queue_visits(client, homes, tmp_path / "camera")
        progress.started = time.monotonic()
        thread, results = _push_in_background(client)
        try:
            killed_ms = _kill_during_second_batch(server, probe, progress)
            at_kill = (count(Visit), count(visit_photos))
            server.start()
            restarted = time.monotonic()
            thread.join(60)
            assert not thread.is_alive() and results, "the push did not finish"
            retry_s = time.monotonic() - restarted
        finally:
            client.stop()
            thread.join(30)
    result = results[0]
    assert (result.pending, result.failed, result.blocked) == (0, 0, 0), result
    # The killed transaction left nothing: batch 1's visits only, not one photo link.
    assert at_kill == (BATCH, 0)
    seen = _assert_visits_consistent(queued)
    print(f"\n[{db.engine.dialect.name}] killed during batch 2, {killed_ms:.0f} ms after it "
          f"was sent (batch 1 took {progress.first_batch_s * 1000:.0f} ms); at the kill: "
          f"{at_kill[0]} visits, {at_kill[1]} visit photos; after restart the client's retry "
          f"finished in {retry_s:.1f} s: {count(Visit)} visits, 0 duplicates, "
          f"{seen['links']} visit photos, 0 orphans, last visits consistent on "
          f"{seen['households']} households")


# -- (b) a household import ------------------------------------------------------------------


def _household_file() -> tuple[bytes, set[str]]:
    rows, codes = [], set()
    for n in range(N_IMPORT):
        code = f"IMP-{n:05d}"
        codes.add(code)
        rows.append([code, "BG1" if n % 2 else "BG2", str(n % 6 + 1), str(n), f"户主{n}",
                     "", "", n % 5 + 1, "", "", "", ""])
    return write_csv(rows), codes


def _import(server: LiveServer, secretary: Actor, data: bytes) -> requests.Response:
    return requests.post(f"{server.url}/api/v1/households/import",
                         params={"community": "C1"}, data=data, timeout=120,
                         headers={**secretary.headers, "Content-Type": "text/csv"})


def _codes_present(codes: set[str]) -> int:
    db.session.commit()
    community = db.session.scalar(select(Community.id).where(Community.code == "C1"))
    stored = list(db.session.scalars(select(Household.code).where(
        Household.community_id == community)))
    assert len(stored) == len(set(stored))
    return len(codes & set(stored))


def test_server_killed_mid_import_keeps_none_or_all_and_the_retry_imports_once(
        factory: Factory, server: LiveServer, probe: WriteProbe) -> None:
    secretary = factory.actor("secretary")
    data, codes = _household_file()
    # The token's first use writes its last-used time: get it out of the way of the probe.
    requests.get(f"{server.url}/api/v1/households/import/template",
                 headers=secretary.headers, timeout=10).raise_for_status()
    answers: list[Any] = []

    def send() -> None:
        try:
            answers.append(_import(server, secretary, data))
        except requests.RequestException as exc:
            answers.append(exc)

    thread = threading.Thread(target=send, daemon=True)
    sent = time.monotonic()
    thread.start()
    assert probe.wait(sent + 45, stop=lambda: bool(answers)), \
        f"the import never opened a write transaction: {answers}"
    server.kill()
    killed_ms = (time.monotonic() - sent) * 1000
    thread.join(10)
    assert isinstance(answers[0], requests.RequestException), answers
    present = _codes_present(codes)
    assert present in (0, N_IMPORT), f"a torn import: {present} of {N_IMPORT} rows"
    server.start()
    began = time.monotonic()
    retry = _import(server, secretary, data)
    retry_s = time.monotonic() - began
    assert retry.status_code == 200, retry.text
    expected = {"created": N_IMPORT, "unchanged": 0} if present == 0 else \
        {"created": 0, "unchanged": N_IMPORT}
    assert {k: retry.json()[k] for k in expected} == expected
    assert _codes_present(codes) == N_IMPORT == count(Household)
    again = _import(server, secretary, data).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, N_IMPORT)
    print(f"\n[{db.engine.dialect.name}] import of {N_IMPORT} rows killed {killed_ms:.0f} ms "
          f"after it was sent, with its transaction open; after restart: {present} of its "
          f"households; the retry took {retry_s:.1f} s: {count(Household)} households, "
          f"0 duplicates; a third import: {again['unchanged']} unchanged")
