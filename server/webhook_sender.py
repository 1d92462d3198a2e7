"""The webhook sender: the background thread that posts due department deliveries.

The app factory gives every app its sender (``init_app``); the process that serves the app
starts it (``start``: ``server.wsgi``, which ``gridwork serve`` runs in each gunicorn
worker) when ``WEBHOOKS_ASYNC`` is on, and it stops when the process exits. A service never
starts it: it only queues delivery rows and, once its transaction commits, wakes the sender
(``server.services.webhooks.notify``), so a move's delivery goes out at once. Between wakes
the sender polls every ``WEBHOOK_POLL_S`` for retries, and its first pass sends what waited
while no server ran.

With ``GRIDWORK_JOBS=queue`` (the city tier) no process runs this thread: a wake defers the
job ``webhooks.deliver`` (``server.jobs``) and ``gridwork worker`` sends, and also makes a
pass every minute for the retries.

A process that does not serve the app (a ``gridwork`` command, a test) starts no thread:
what it queues is sent by the running server's next pass, by ``gridwork webhooks run`` (the
same sender as a worker process of its own) or by ``gridwork webhooks deliver`` (one pass,
for cron).
"""

from __future__ import annotations

import atexit
import logging
import threading

from flask import Flask

__all__ = ["WebhookSender", "init_app", "sender_of", "start"]

log = logging.getLogger(__name__)
EXTENSION = "gridwork.webhook_sender"


class WebhookSender:
    """Sends due deliveries when woken, and on a timer."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._wake, self._stopping = threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self._stops_at_exit = False
        self.thread: threading.Thread | None = None

    def start(self) -> bool:
        """Start the sending thread if ``WEBHOOKS_ASYNC`` is on and jobs run in this process
        (not ``GRIDWORK_JOBS=queue``, where the worker sends); whether one runs now."""
        from server.jobs import mode

        if not self.app.config.get("WEBHOOKS_ASYNC", True) or mode(self.app.config) == "queue":
            return False
        with self._lock:
            if self.thread is None or not self.thread.is_alive():
                self._stopping.clear()
                self.thread = threading.Thread(target=self.run, name="gridwork-webhooks",
                                               daemon=True)
                self.thread.start()
                if not self._stops_at_exit:
                    atexit.register(self.stop, 2.0)
                    self._stops_at_exit = True
        return True

    def wake(self) -> None:
        """Send now: the thread, if it runs in this process, or the job queue's worker
        (a queued row waits for the next pass otherwise)."""
        from server.jobs import defer_now, mode

        if mode(self.app.config) == "queue":
            try:
                defer_now("webhooks.deliver", lock="webhooks.deliver")
            except Exception:  # the move committed; the worker's next minute sends it
                log.exception("could not queue the webhook delivery job")
            return
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop sending (at exit, in tests) and wait for the thread."""
        with self._lock:
            thread, self.thread = self.thread, None
        self._stopping.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout)

    def run(self) -> None:
        """Send until ``stop``: the thread's loop, or ``gridwork webhooks run`` in the
        foreground."""
        wait = 0.0
        while not self._stopping.is_set():
            self._wake.wait(timeout=wait)
            self._wake.clear()
            if self._stopping.is_set():
                break
            wait = self._pass()

    def _pass(self) -> float:
        from server.extensions import db
        from server.services.webhooks import deliver_due, next_due_in

        poll = float(self.app.config.get("WEBHOOK_POLL_S", 60.0))
        with self.app.app_context():
            try:
                deliver_due(db.session())
                wait = next_due_in(db.session())
            except Exception:  # a bad pass must not kill the sender; the next one retries
                log.exception("webhook delivery pass failed")
                wait = poll
            finally:
                db.session.remove()
        return poll if wait is None else min(wait, poll)


def init_app(app: Flask) -> WebhookSender:
    """Give ``app`` its sender (``app.extensions``), not started."""
    sender = WebhookSender(app)
    app.extensions[EXTENSION] = sender
    return sender


def sender_of(app: Flask) -> WebhookSender:
    """The sender the app factory gave ``app``."""
    sender: WebhookSender = app.extensions[EXTENSION]
    return sender


def start(app: Flask) -> bool:
    """Start ``app``'s sender, for a process that serves it (see the module docstring)."""
    return sender_of(app).start()
