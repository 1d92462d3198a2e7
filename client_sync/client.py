"""``SyncClient``: capture records offline, push each exactly once, pull my scope for offline use.

Everything the worker captures goes into the durable outbox at once (``queue_*`` return the
record's ``client_uuid`` before any network is touched); ``sync()`` pushes what is due,
``pull()`` refreshes the local cache, and ``run()`` does both whenever the server answers.

    client = SyncClient("https://gridwork.example.cn", "~/.gridsync")
    client.login("wang.wei", "...")
    uid = client.queue_report(category="garbage", lat=28.8021, lon=113.0744,
                              photos=["IMG_0001.jpg"], description="北河沿垃圾堆积")
    patrol = client.start_patrol()  # 巡查: offer() each position, stop() at the end
    result = client.sync()          # SyncResult(pushed=1, failed=0, pending=0, ...)
"""

from __future__ import annotations

import logging
import mimetypes
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from client_sync import capture
from client_sync.cache import AgendaItem, LocalCache
from client_sync.credentials import Credentials
from client_sync.exceptions import AuthRequired, SyncError, ValidationError
from client_sync.patrol import Patrol
from client_sync.photos import prepare_photo
from client_sync.push import Pusher, PushStats
from client_sync.queue import Item, Outbox
from client_sync.transport import DEFAULT_TIMEOUT, Transport
from client_sync.tus import DEFAULT_CHUNK_SIZE, TusUploader

__all__ = ["SyncClient", "SyncResult", "Status"]

log = logging.getLogger(__name__)

CHANGES_PATH = "/api/v1/sync/changes"
HEALTH_PATH = "/api/v1/health"


@dataclass(frozen=True)
class SyncResult:
    """What a ``sync()`` did: records and photos pushed, failed for good, still pending."""

    pushed: int
    photos: int
    failed: int
    pending: int
    blocked: int
    login_needed: bool
    unreachable: bool
    next_attempt_in: float | None
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Status:
    """The outbox at a glance, and whether a login is needed before anything more is sent."""

    counts: dict[str, int]
    pending: int
    blocked: int
    pending_bytes: int
    login_needed: bool
    server_url: str | None
    username: str | None
    last_pull: str | None
    next_attempt_in: float | None


class SyncClient:
    """The offline client: one per ``data_dir`` (a second process gets ``LockedError``)."""

    def __init__(self, server_url: str | None, data_dir: Path | str, *,
                 chunk_size: int = DEFAULT_CHUNK_SIZE, batch_size: int = 200,
                 photo_workers: int = 2, timeout: tuple[float, float] = DEFAULT_TIMEOUT,
                 backoff_base: float = 2.0, backoff_cap: float = 900.0,
                 prepare_photos: bool = True, rng: Callable[[], float] = random.random,
                 on_event: Callable[..., None] | None = None) -> None:
        self.data_dir = Path(data_dir).expanduser()
        self.outbox = Outbox(self.data_dir)
        try:
            self.credentials = Credentials(self.data_dir / "credentials.json")
            url = server_url or self.credentials.server_url
            self.server_url = url.rstrip("/") if url else None
            self.cache = LocalCache(self.data_dir / "cache.sqlite3")
        except BaseException:
            self.outbox.close()
            raise
        self.prepare_photos = prepare_photos
        # A token goes only to the server that issued it, never to another address.
        token = self.credentials.token if self._same_server() else None
        self.transport = Transport(self.server_url or "http://invalid.", token,
                                   timeout=timeout, pool_size=photo_workers + 2)
        self._stop = threading.Event()
        self.on_event = on_event or (lambda *_a, **_k: None)
        self.uploader = TusUploader(self.transport, self.outbox, chunk_size=chunk_size,
                                    on_event=self._event, should_stop=self._stop.is_set)
        self.pusher = Pusher(self.outbox, self.transport, self.uploader, batch_size=batch_size,
                             photo_workers=photo_workers, backoff_base=backoff_base,
                             backoff_cap=backoff_cap, rng=rng, on_event=self._event)

    def _event(self, name: str, **data: Any) -> None:
        self.on_event(name, **data)

    def close(self) -> None:
        """Close the outbox (releasing the data_dir lock), the cache and the connections."""
        self.transport.close()
        self.cache.close()
        self.outbox.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- login -----------------------------------------------------------------------------

    def login(self, username: str, password: str) -> None:
        """Exchange username and password for a token, kept in data_dir (mode 0600)."""
        self._need_server()
        self.transport.token = None
        answer = self.transport.post_json("/api/v1/auth/tokens", {
            "username": username, "password": password,
            "device_id": self.credentials.device_id})
        self.credentials.save(server_url=self.server_url, username=username,
                              token=answer["token"], expires_at=answer.get("expires_at"))
        self.transport.token = answer["token"]

    @property
    def login_needed(self) -> bool:
        """True when there is no usable token for this server: records wait for ``login()``."""
        return self.credentials.login_needed or not self._same_server()

    def _same_server(self) -> bool:
        saved = (self.credentials.server_url or "").rstrip("/")
        return bool(self.server_url) and saved == self.server_url

    # -- capture ---------------------------------------------------------------------------

    def queue_report(self, *, category: str, lat: float, lon: float,
                     photos: Sequence[Path | str], description: str = "", crs: str = "wgs84",
                     accuracy_m: float | None = None, captured_at: Any = None,
                     client_uuid: str | None = None) -> str:
        """Validate and queue a report with its photos; return its client_uuid at once."""
        photo_ids = [str(uuid.uuid4()) for _ in photos]
        body = capture.report_body(category=category, lat=lat, lon=lon, photo_ids=photo_ids,
                                   description=description, crs=crs, accuracy_m=accuracy_m,
                                   captured_at=captured_at, client_uuid=client_uuid)
        capture.validate("report", body)
        self._check_category(category)
        return self._queue_with_photos("report", body, photos, photo_ids)

    def queue_visit(self, *, outcome: str, lat: float, lon: float,
                    household_id: int | None = None, household_client_uuid: str | None = None,
                    photos: Sequence[Path | str] = (), **fields: Any) -> str:
        """Validate and queue a visit (to a server household, or one queued here)."""
        photo_ids = [str(uuid.uuid4()) for _ in photos]
        body = capture.visit_body(outcome=outcome, lat=lat, lon=lon, household_id=household_id,
                                  household_client_uuid=household_client_uuid,
                                  photo_ids=photo_ids, **fields)
        capture.validate("visit", body)
        depends: list[str] = []
        if household_client_uuid:
            if not self._queued(household_client_uuid, "household"):
                raise ValidationError(errors={"household_client_uuid": [
                    "No household with this client_uuid was captured on this device."]})
            depends.append(household_client_uuid)
        uid = self._queue_with_photos("visit", body, photos, photo_ids, depends)
        key = f"id:{household_id}" if household_id is not None else \
            f"uuid:{household_client_uuid}"
        self.cache.note_local_visit(uid, key, body["visited_at"], outcome)
        return uid

    def queue_household(self, *, door: str, head_name: str, **fields: Any) -> str:
        """Validate and queue a household found missing from the registry."""
        body = capture.household_body(door=door, head_name=head_name, **fields)
        capture.validate("household", body)
        uid = self.outbox.enqueue("household", body, client_uuid=body["client_uuid"])
        self.cache.note_local_household(uid, body)
        return uid

    def queue_track(self, *, started_at: Any, ended_at: Any, points: Iterable[Any],
                    crs: str = "wgs84", client_uuid: str | None = None) -> str:
        """Validate and queue a patrol track (巡查轨迹): points ``[lat, lon, accuracy_m,
        recorded_at]`` (or dicts), in time order within ``started_at``..``ended_at``."""
        body = capture.track_body(started_at=started_at, ended_at=ended_at, points=points,
                                  crs=crs, client_uuid=client_uuid)
        capture.validate("track", body)
        return self.outbox.enqueue("track", body, client_uuid=body["client_uuid"])

    def start_patrol(self, **options: Any) -> Patrol:
        """Start recording a patrol: ``offer()`` it every position, ``stop()`` it at the end;
        it queues its track a segment at a time (``client_sync.patrol``)."""
        def queue(started_at: Any, ended_at: Any, points: list[list[Any]]) -> str:
            return self.queue_track(started_at=started_at, ended_at=ended_at, points=points,
                                    crs=crs)

        crs = options.pop("crs", "wgs84")
        return Patrol(queue, **options)

    def _queue_with_photos(self, kind: str, body: dict[str, Any], photos: Sequence[Path | str],
                           photo_ids: list[str], depends: Iterable[str] = ()) -> str:
        prepared = [self._prepare(Path(p)) for p in photos]
        try:
            with self.outbox.atomic():
                for photo_id, (src, path, ctype) in zip(photo_ids, prepared, strict=True):
                    self.outbox.enqueue("photo", {"filename": src.name, "content_type": ctype},
                                        client_uuid=photo_id, photo_path=path)
                return self.outbox.enqueue(kind, body, client_uuid=body["client_uuid"],
                                           depends_on=[*photo_ids, *depends])
        finally:
            for src, path, _ in prepared:
                if path != src:
                    path.unlink(missing_ok=True)

    def _prepare(self, src: Path) -> tuple[Path, Path, str]:
        if not src.is_file():
            raise ValidationError(errors={"photos": [f"No such file: {src}"]})
        ctype = mimetypes.guess_type(src.name)[0] or "image/jpeg"
        if not self.prepare_photos:
            return src, src, ctype
        try:
            ready = prepare_photo(src, self.data_dir / "prepared")
        except OSError as exc:  # PIL.UnidentifiedImageError is an OSError
            raise ValidationError(errors={"photos": [f"{src.name} is not a photo: {exc}"]}
                                  ) from exc
        return src, ready.path, "image/jpeg" if ready.reencoded else ctype

    def _queued(self, client_uuid: str, kind: str) -> bool:
        try:
            return self.outbox.get(client_uuid).kind == kind
        except KeyError:
            return False

    def _check_category(self, code: str) -> None:
        known = {c["code"]: c for c in self.cache.categories(include_retired=True)}
        if known and code not in known:
            raise ValidationError(errors={"category": [f"Unknown category {code}."]})
        if known and not known[code].get("active", True):
            raise ValidationError(errors={"category": [f"The category {code} is retired."]})

    # -- pushing ---------------------------------------------------------------------------

    def sync(self) -> SyncResult:
        """Push everything due now (photos in parallel with record batches); never raises
        for the network: failures are sorted into the outbox and summed up in the result."""
        self._stop.clear()
        return self._sync_once()

    def _sync_once(self) -> SyncResult:
        if self.login_needed or not self.server_url:
            return self._result(PushStats(login_needed=self.login_needed))
        stats = self.pusher.run(self._stop)
        if stats.login_needed:
            self.credentials.reject()
        return self._result(stats)

    def push(self, *, timeout: float | None = None, stop: threading.Event | None = None,
             give_up_offline: bool = False) -> SyncResult:
        """Sync again and again, waiting out backoffs, until nothing is pending (or blocked
        or failed only), a login is needed, ``timeout`` seconds pass or ``stop`` is set.

        With ``give_up_offline`` it also returns as soon as a pass ends unreachable and
        ``/api/v1/health`` does not answer either (a person at a terminal with no signal).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self._stop.clear()
        stop = stop or self._stop
        totals = [0, 0, 0]
        while True:
            result = self._sync_once()
            totals = [totals[0] + result.pushed, totals[1] + result.photos,
                      totals[2] + result.failed]
            left = None if deadline is None else deadline - time.monotonic()
            wait_s = result.next_attempt_in
            if (result.pending == 0 or result.login_needed or wait_s is None
                    or stop.is_set() or (left is not None and left <= 0)):
                break
            if give_up_offline and result.unreachable and not self.reachable():
                break
            if stop.wait(max(0.05, min(wait_s, left if left is not None else wait_s))) or \
                    self._stop.is_set():
                break
        return replace(result, pushed=totals[0], photos=totals[1], failed=totals[2])

    def stop(self) -> None:
        """Ask a running sync or push to stop after the requests on the wire (a photo stops
        between two chunks, its offset kept)."""
        self._stop.set()

    def _result(self, stats: PushStats) -> SyncResult:
        counts = self.outbox.counts()
        blocked = len(self.outbox.blocked())
        due = self.outbox.next_due()
        return SyncResult(
            pushed=stats.pushed, photos=stats.photos, failed=stats.failed,
            pending=counts["ready"] + counts["in_flight"] - blocked, blocked=blocked,
            login_needed=stats.login_needed or self.login_needed,
            unreachable=stats.unreachable,
            next_attempt_in=None if due is None else max(0.0, due - time.time()),
            errors=tuple(stats.errors))

    # -- pulling ---------------------------------------------------------------------------

    def pull(self, *, limit: int = 500) -> int:
        """Bring the local cache up to date; return how many changes were applied.

        Raises AuthRequired (and marks the login needed) or ConnectionFailed; every page
        applied before a failure stays applied, with its cursor.
        """
        self._need_server()
        if self.login_needed:
            raise AuthRequired("Log in to this server first; nothing was pulled.")
        total = 0
        while True:
            params: dict[str, Any] = {"limit": limit}
            if self.cache.cursor:
                params["since"] = self.cache.cursor
            try:
                page = self.transport.get_json(CHANGES_PATH, params=params)
            except AuthRequired:
                self.credentials.reject()
                raise
            total += self.cache.apply_page(page)
            self._event("pull_page", changes=len(page.get("changes") or []))
            if not page.get("has_more"):
                return total

    def agenda(self, lat: float | None = None, lon: float | None = None,
               limit: int = 50) -> list[AgendaItem]:
        """The households to visit next, from the cache (works offline)."""
        return self.cache.agenda(lat, lon, limit=limit)

    # -- looking and fixing ----------------------------------------------------------------

    def status(self) -> Status:
        """Counts by state, bytes still to send, and whether a login is needed."""
        counts = self.outbox.counts()
        blocked = len(self.outbox.blocked())
        due = self.outbox.next_due()
        return Status(counts=counts, pending=counts["ready"] + counts["in_flight"] - blocked,
                      blocked=blocked, pending_bytes=self.outbox.pending_bytes(),
                      login_needed=self.login_needed, server_url=self.server_url,
                      username=self.credentials.username, last_pull=self.cache.pulled_at,
                      next_attempt_in=None if due is None else max(0.0, due - time.time()))

    def failed(self) -> list[Item]:
        """Records the server refused, each with its problem (``last_error``)."""
        return self.outbox.failed()

    def blocked(self) -> list[Item]:
        """Records waiting on a failed or discarded parent."""
        return self.outbox.blocked()

    def retry(self, client_uuid: str) -> None:
        """Send a failed record again at the next sync (e.g. after the server was fixed)."""
        self.outbox.retry(client_uuid)

    def discard(self, client_uuid: str) -> None:
        """Drop a failed (or unsent) record for good; its dependants stay blocked."""
        self.outbox.discard(client_uuid)

    # -- the loop --------------------------------------------------------------------------

    def reachable(self) -> bool:
        """Whether ``/api/v1/health`` answers now."""
        try:
            self.transport.request("GET", HEALTH_PATH, timeout=(3.0, 5.0))
        except SyncError:
            return False
        return True

    def run(self, stop_event: threading.Event, interval: float = 30.0,
            pull_every: float = 600.0) -> None:
        """Until ``stop_event`` is set: when the server answers, sync (and pull every
        ``pull_every`` s); then sleep until the next record is due or ``interval`` passes.

        Setting ``stop_event`` also stops a pass in progress after the requests on the wire.
        """
        last_pull = -float("inf")
        self._stop.clear()

        def relay() -> None:
            stop_event.wait()
            self._stop.set()

        threading.Thread(target=relay, name="gridsync-stop", daemon=True).start()
        while not stop_event.is_set():
            wait_s = interval
            if not self.login_needed and self.server_url and self.reachable():
                result = self._sync_once()
                if time.monotonic() - last_pull >= pull_every:
                    try:
                        self.pull()
                        last_pull = time.monotonic()
                    except SyncError as exc:
                        log.info("pull failed: %s", exc)
                if result.next_attempt_in is not None and not result.unreachable:
                    wait_s = min(interval, max(0.5, result.next_attempt_in))
            if stop_event.wait(wait_s):
                break
        self._stop.set()

    def _need_server(self) -> None:
        if not self.server_url:
            raise SyncError("No server address: give one (e.g. --server https://...) first.")

