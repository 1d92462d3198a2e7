"""The push engine: photos over tus in parallel, records in batches, every failure sorted.

One pass (``Pusher.run``) keeps up to ``photo_workers`` photo uploads going in threads while
the calling thread sends batches of up to 200 records whose dependencies are done, so a
large photo still on the wire or a record the server refused never holds back the records
that do not depend on it. The pass ends when nothing is due (records waiting out a backoff
stay ready), on a 401, on a stop request, or after several transient failures in a row
(the server is unreachable: ``run()`` probes ``/health`` before trying again).

What happens to a record after an answer:

======================================  ===============================================
connection error, timeout, 408, 429,    back to ready after full-jitter backoff (at least
5xx (for the batch or the record)       Retry-After), attempts + 1; a record's own 5xx
                                        result: failed after 5 (MAX_RECORD_SERVER_ERRORS)
401                                     everything handed back untouched; login needed
409 dependency_missing                  retried after a backoff (its parent is done here,
                                        so the server is catching up); failed after 8 tries
other 409, 422, 403, 404, 413, 415      failed, with the server's problem; its dependants
                                        wait with it (Outbox.blocked)
======================================  ===============================================
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from client_sync.backoff import next_delay
from client_sync.exceptions import (
    AuthRequired,
    DependencyMissing,
    RecordRejected,
    ServerUnavailable,
    SyncError,
    TransientError,
)
from client_sync.queue import Item, Outbox
from client_sync.transport import Transport, error_for_problem
from client_sync.tus import TusUploader, UploadStopped
from schemas.sync import BATCH_KINDS

__all__ = ["BATCH_PATH", "RECORD_KINDS", "PushStats", "Pusher"]

log = logging.getLogger(__name__)

BATCH_PATH = "/api/v1/sync/batch"
RECORD_KINDS = BATCH_KINDS  # what a batch carries; photos go by tus, before their records
MAX_DEPENDENCY_TRIES = 8
MAX_RECORD_SERVER_ERRORS = 5  # a record the server itself fails on: failed after this many
GIVE_UP_AFTER_TRANSIENT = 3

EventHook = Callable[..., None]


@dataclass
class PushStats:
    """What one pass did."""

    pushed: int = 0
    photos: int = 0
    failed: int = 0
    retried: int = 0
    login_needed: bool = False
    unreachable: bool = False
    errors: list[str] = field(default_factory=list)


class Pusher:
    """Sends what the outbox has due; see the module docstring for the rules."""

    def __init__(self, outbox: Outbox, transport: Transport, uploader: TusUploader, *,
                 batch_size: int = 200, photo_workers: int = 2, backoff_base: float = 2.0,
                 backoff_cap: float = 900.0, rng: Callable[[], float] = random.random,
                 on_event: EventHook | None = None) -> None:
        self.outbox, self.transport, self.uploader = outbox, transport, uploader
        self.batch_size, self.photo_workers = batch_size, photo_workers
        self.backoff_base, self.backoff_cap, self.rng = backoff_base, backoff_cap, rng
        self._emit = on_event or (lambda *_a, **_k: None)
        self._lock = threading.Lock()
        self._stats = PushStats()
        self._streak = 0
        self._stop = threading.Event()

    def run(self, stop: threading.Event | None = None) -> PushStats:
        """One pass over everything due now."""
        self._stats, self._streak = PushStats(), 0
        self._stop = stop or threading.Event()
        running: dict[Future[None], Item] = {}
        with ThreadPoolExecutor(self.photo_workers, thread_name_prefix="gridsync-photo") as pool:
            try:
                self._loop(pool, running)
            finally:
                # Uploads still running stop at their next chunk if the pass is halted.
                wait(list(running))
        # The last thing tried failed for want of a server: say so (run() probes first).
        self._stats.unreachable = self._stats.unreachable or self._streak > 0
        return self._stats

    def _halted(self) -> bool:
        s = self._stats
        return self._stop.is_set() or s.login_needed or s.unreachable

    def _loop(self, pool: ThreadPoolExecutor, running: dict[Future[None], Item]) -> None:
        while not self._halted():
            while len(running) < self.photo_workers:
                photos = self.outbox.next_batch(("photo",), limit=1)
                if not photos:
                    break
                running[pool.submit(self._push_photo, photos[0])] = photos[0]
            batch = self.outbox.next_batch(RECORD_KINDS, limit=self.batch_size)
            if batch:
                self._push_batch(batch)
                continue
            if not running:
                return
            done, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                running.pop(future)
                future.result()  # re-raise a bug in the worker here

    # -- photos ----------------------------------------------------------------------------

    def _push_photo(self, item: Item) -> None:
        """Upload one photo in a worker thread and settle its outbox row."""
        try:
            photo_id = self.uploader.upload(item)
        except UploadStopped:
            self.outbox.release(item.client_uuid)
            return
        except SyncError as exc:
            self._settle_error(item, exc)
            return
        except OSError as exc:  # the local file is unreadable: nothing the server can fix
            self.outbox.mark_failed(item.client_uuid, {"title": "Photo file unreadable",
                                                       "detail": str(exc)})
            self._count(failed=1)
            return
        self.outbox.mark_done(item.client_uuid, photo_id)
        self._count(photos=1, ok=True)
        self._emit("photo_done", client_uuid=item.client_uuid, size=item.file_size or 0)

    # -- records ---------------------------------------------------------------------------

    def _push_batch(self, batch: list[Item]) -> None:
        body = {"records": [{"kind": i.kind, "client_uuid": i.client_uuid, "body": i.payload}
                            for i in batch]}
        try:
            answer = self.transport.post_json(BATCH_PATH, body)
        except SyncError as exc:
            if isinstance(exc, RecordRejected) and exc.status == 422:
                self._envelope_refused(batch, exc)
                return
            for item in batch:
                self._settle_error(item, exc, streak=False)
            self._note_transient(exc)
            return
        results = {r.get("client_uuid"): r for r in answer.get("results") or []}
        done = failed = 0
        with self.outbox.atomic():  # one fsync for the whole batch's outcome
            for item in batch:
                result = results.get(item.client_uuid)
                if result is None:  # an answer short of a result: send that record again
                    self._retry(item, SyncError("the answer had no result for this record"))
                    continue
                status = int(result.get("status") or 0)
                if 200 <= status < 300:
                    self.outbox.mark_done(item.client_uuid, result.get("id"))
                    done += 1
                else:
                    failed += self._settle_error(item, error_for_problem(
                        status, result.get("problem")), own_answer=True)
        self._count(pushed=done, ok=done > 0)
        self._emit("batch_done", sent=len(batch), done=done, failed=failed,
                   bytes=sum(len(i.payload_json) for i in batch))

    def _envelope_refused(self, batch: list[Item], exc: SyncError) -> None:
        """A 422 for the whole batch: fail the records it names, send the others again."""
        found = ((exc.problem or {}).get("errors") or {}).get("records")
        errors: dict[Any, Any] = found if isinstance(found, dict) else {}
        named = {int(k) for k in errors if str(k).isdigit()}
        if not named:
            for item in batch:
                self._retry(item, exc)
            return
        for index, item in enumerate(batch):
            if index in named:
                mine = errors.get(str(index), errors.get(index))
                problem = dict(exc.problem or {}, errors=mine)
                self.outbox.mark_failed(item.client_uuid, problem)
                self._count(failed=1)
            else:
                self.outbox.release(item.client_uuid)

    # -- settling --------------------------------------------------------------------------

    def _settle_error(self, item: Item, exc: SyncError, *, streak: bool = True,
                      own_answer: bool = False) -> int:
        """Move ``item`` on after ``exc``; return 1 if it failed for good.

        ``own_answer``: ``exc`` is this record's own result in a batch that went through. A
        record the server answers 5xx to, batch after batch, is a fault of the server with
        this record: after MAX_RECORD_SERVER_ERRORS it fails with the server's answer, so it
        shows in ``gridsync failed`` and stops holding back what does not depend on it.
        """
        if isinstance(exc, AuthRequired):
            self.outbox.release(item.client_uuid)
            with self._lock:
                self._stats.login_needed = True
            return 0
        if isinstance(exc, DependencyMissing) and item.attempts + 1 < MAX_DEPENDENCY_TRIES:
            self._retry(item, exc)
            return 0
        server_fault = own_answer and (exc.status or 0) >= 500 \
            and item.attempts + 1 >= MAX_RECORD_SERVER_ERRORS
        if isinstance(exc, RecordRejected | DependencyMissing) or server_fault:
            self.outbox.mark_failed(item.client_uuid, exc.problem or {"title": str(exc)})
            self._count(failed=1, ok=True)
            self._emit("record_failed", client_uuid=item.client_uuid, kind=item.kind,
                       problem=exc.problem)
            return 1
        self._retry(item, exc)
        if streak:
            self._note_transient(exc)
        return 0

    def _note_transient(self, exc: SyncError) -> None:
        """Several transient failures in a row end the pass: the server is out of reach."""
        if not isinstance(exc, TransientError):
            return
        with self._lock:
            self._streak += 1
            if self._streak >= GIVE_UP_AFTER_TRANSIENT:
                self._stats.unreachable = True

    def _retry(self, item: Item, exc: SyncError) -> None:
        delay = next_delay(item.attempts, base=self.backoff_base, cap=self.backoff_cap,
                           rng=self.rng)
        if isinstance(exc, ServerUnavailable) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        problem = exc.problem or {"title": type(exc).__name__, "detail": str(exc)}
        self.outbox.mark_retry(item.client_uuid, problem, delay)
        with self._lock:
            self._stats.retried += 1
            if len(self._stats.errors) < 20:
                self._stats.errors.append(f"{item.kind} {item.client_uuid}: {exc}")
        log.info("%s %s will be retried in %.1f s: %s", item.kind, item.client_uuid, delay, exc)

    def _count(self, *, pushed: int = 0, photos: int = 0, failed: int = 0,
               ok: bool = False) -> None:
        with self._lock:
            self._stats.pushed += pushed
            self._stats.photos += photos
            self._stats.failed += failed
            if ok:
                self._streak = 0

    def stop_requested(self) -> bool:
        """Whether the pass should stop (checked by the uploader between chunks)."""
        return self._halted()

