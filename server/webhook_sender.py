"""The webhook sender: one background thread per app that posts due deliveries.

The app factory wires it (``init_app``): a service only queues delivery rows and, once its
transaction commits, asks the sender to wake (``server.services.webhooks.notify``). The
thread starts on the first wake when ``WEBHOOKS_ASYNC`` is on (so a command or a test that
sends nothing starts no thread), polls every ``WEBHOOK_POLL_S`` for retries, and stops when
the process exits. ``gridwork webhooks deliver`` sends the same deliveries by hand (cron).
"""

from __future__ import annotations

import atexit
import logging
import threading

from flask import Flask

__all__ = ["WebhookSender", "init_app"]

log = logging.getLogger(__name__)
EXTENSION = "gridwork.webhook_sender"


class WebhookSender:
    """Sends due deliveries when woken, and on a timer, on a daemon thread of its own."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._wake, self._stopping = threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def wake(self) -> None:
        """Send now (starting the thread on first use when WEBHOOKS_ASYNC is on)."""
        if not self.app.config.get("WEBHOOKS_ASYNC", True):
            return
        with self._lock:
            if self.thread is None or not self.thread.is_alive():
                self._stopping.clear()
                self.thread = threading.Thread(target=self._run, name="gridwork-webhooks",
                                               daemon=True)
                self.thread.start()
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (at exit, in tests) and wait for it."""
        with self._lock:
            thread, self.thread = self.thread, None
        self._stopping.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout)

    def _pass(self) -> float:
        from server.extensions import db
        from server.services.webhooks import deliver_due, next_due_in

        poll = float(self.app.config.get("WEBHOOK_POLL_S", 60.0))
        with self.app.app_context():
            try:
                deliver_due(db.session())
                wait = next_due_in(db.session())
            except Exception:  # a bad pass must not kill the thread; the next one retries
                log.exception("webhook delivery pass failed")
                wait = poll
            finally:
                db.session.remove()
        return poll if wait is None else min(wait, poll)

    def _run(self) -> None:
        wait = 0.0
        while not self._stopping.is_set():
            self._wake.wait(timeout=wait)
            self._wake.clear()
            if self._stopping.is_set():
                break
            wait = self._pass()


def init_app(app: Flask) -> WebhookSender:
    """Give ``app`` its sender (``app.extensions``), stopped when the process exits."""
    sender = WebhookSender(app)
    app.extensions[EXTENSION] = sender
    atexit.register(sender.stop, 2.0)
    return sender
