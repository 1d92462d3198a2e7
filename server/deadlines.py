"""How long one request may work: a deadline that long loops check.

gunicorn's ``--timeout`` does not stop a request in a threaded (``gthread``) worker: the
worker's main thread keeps reporting alive while one of its threads works on, so a request
that loops over a hostile file would hold a thread (and its memory) for as long as the file
lasts. Every request therefore starts with a deadline ``REQUEST_DEADLINE_S`` from now, and a
loop whose length the caller decides (the rows of an imported sheet) calls
:func:`check_deadline` as it goes: past the deadline it raises
:class:`~server.errors.DeadlineExceededError`, a 503 problem, and the request's transaction
rolls back as for any error. A ``gridwork`` command has no deadline: the administrator who
runs it may wait.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flask import Flask

from server.errors import DeadlineExceededError

__all__ = ["check_deadline", "deadline", "install_request_deadline"]

_DEADLINE: ContextVar[float | None] = ContextVar("gridwork_deadline", default=None)
_DETAIL = ("The request took longer than the server allows and was stopped; nothing was "
           "changed.")


def check_deadline(detail: str | None = None) -> None:
    """Raise :class:`DeadlineExceededError` (with ``detail``) once the deadline is past."""
    at = _DEADLINE.get()
    if at is not None and time.monotonic() > at:
        raise DeadlineExceededError(detail or _DETAIL)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Run the block with a deadline ``seconds`` from now (a request's, or a test's)."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def install_request_deadline(app: Flask) -> None:
    """Give every request of ``app`` a deadline of ``REQUEST_DEADLINE_S`` seconds."""

    @app.before_request
    def _start() -> None:
        _DEADLINE.set(time.monotonic() + float(app.config["REQUEST_DEADLINE_S"]))

    @app.teardown_request
    def _end(_error: BaseException | None) -> None:
        _DEADLINE.set(None)  # the thread serves the next request with a deadline of its own
