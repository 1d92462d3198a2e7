"""The embedded tier's job runner: jobs run in the process that committed them.

One daemon thread per process takes jobs from an in-memory queue, each in an app context of
its own (so its own database session), and tries a failing job again after
``JOBS_RETRY_WAIT_S`` × attempt, ``JOBS_MAX_ATTEMPTS`` times in all. Under ``TESTING`` a
job runs at once in the committing thread, so a test sees its effect when the request
returns. Nothing here is durable: a job lost with the process is made again where it is
missed (see ``server.jobs``).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from typing import Any

from flask import Flask

__all__ = ["InlineRunner", "run_task"]

log = logging.getLogger(__name__)


def run_task(app: Flask, task: str, kwargs: dict[str, Any]) -> Any:
    """Run one task in an app context of its own; its session is removed afterwards."""
    from server.extensions import db
    from server.jobs.tasks import TASKS

    with app.app_context():
        try:
            return TASKS[task](**kwargs)
        finally:
            db.session.remove()


class InlineRunner:
    """Runs deferred jobs on a thread of this process (or at once under ``TESTING``)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._queue: queue.Queue[tuple[str, dict[str, Any], int]] = queue.Queue()
        self._waiting: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def synchronous(self) -> bool:
        """Whether jobs run at once in the caller's thread."""
        return bool(self.app.config.get("JOBS_INLINE_SYNC", self.app.testing))

    def submit(self, task: str, kwargs: dict[str, Any], *, lock: str | None = None) -> None:
        """Run ``task`` soon; a job whose ``lock`` is already waiting is not added twice."""
        if self.synchronous:
            self._attempt(task, kwargs, 1, retry_inline=True)
            return
        with self._lock:
            if lock is not None:
                if lock in self._waiting:
                    return
                self._waiting.add(lock)
                kwargs = {**kwargs, "_lock": lock}
            if self._thread is None or not self._thread.is_alive():
                if self._thread is None:  # a command ending soon after its commit still
                    atexit.register(self.drain)  # makes what it deferred (seed-demo's photos)
                self._thread = threading.Thread(target=self._run, name="gridwork-jobs",
                                                daemon=True)
                self._thread.start()
        self._queue.put((task, kwargs, 1))

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until every submitted job has run (tests, and a clean exit)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)

    def _run(self) -> None:
        while True:
            task, kwargs, attempt = self._queue.get()
            try:
                lock = kwargs.pop("_lock", None)
                with self._lock:
                    self._waiting.discard(lock)
                if not self._attempt(task, kwargs, attempt, retry_inline=False):
                    self._retry_later(task, kwargs, attempt)
            finally:
                self._queue.task_done()

    def _attempt(self, task: str, kwargs: dict[str, Any], attempt: int, *,
                 retry_inline: bool) -> bool:
        max_attempts = int(self.app.config.get("JOBS_MAX_ATTEMPTS", 6))
        while True:
            try:
                run_task(self.app, task, kwargs)
                return True
            except Exception:
                log.exception("job %s failed (attempt %d of %d)", task, attempt, max_attempts)
                if not retry_inline or attempt >= max_attempts:
                    return False
                attempt += 1

    def _retry_later(self, task: str, kwargs: dict[str, Any], attempt: int) -> None:
        if attempt >= int(self.app.config.get("JOBS_MAX_ATTEMPTS", 6)):
            log.error("job %s given up after %d attempts", task, attempt)
            return
        wait = float(self.app.config.get("JOBS_RETRY_WAIT_S", 5.0)) * attempt

        def again() -> None:
            self._queue.put((task, kwargs, attempt + 1))

        timer = threading.Timer(wait, again)
        timer.daemon = True
        timer.start()
