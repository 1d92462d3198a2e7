"""Where a transaction ends: the boundary commits, a service never does.

A service changes the session and flushes (so ids exist and constraints fire); it neither
commits nor rolls back the caller's transaction. Four boundaries commit, each in one place:

- **a request**: :func:`end_request`, an ``after_request`` hook, commits once when the answer
  is a success (status below 400) and rolls back otherwise. A view whose refusal must still
  leave a trace (a failed login's audit row) calls :func:`keep_on_error` first.
- **a CLI command**: ``server.cli.register_cli`` wraps each command in :func:`unit_of_work`.
- **a batch record**: ``server.services.sync.apply_batch`` runs each record in a savepoint
  of its own and commits the batch once at the end.
- **a background job** (webhook delivery, escalation, key rotation): each attempt or
  slice is one :func:`unit_of_work`, so no transaction stays open while it waits on the
  network, and one failed case does not undo the others.

A long request may end its unit early with :func:`checkpoint`: a sync batch, which runs in
a transaction of its own on another connection, and a tus upload, whose offset is committed
as its bytes stream in (so a HEAD sees the progress and a dropped line keeps what arrived).

Work that must follow the commit, never precede it (waking the webhook sender), registers
with :func:`after_commit`. Work that undoes what a rollback cannot (a stored photo file whose
row the rollback took away) registers with :func:`after_rollback`.

A read whose database connection drops (the database restarted, a backend was terminated)
runs once more on a fresh connection (:func:`dispatch_retrying_reads`): a GET, HEAD or
OPTIONS changes nothing that must not happen twice (its own writes, a token's last use or a
read's audit row, died with the connection's transaction). Any other request answers 503
``database_unavailable`` (``server.errors``), and the client sends it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import Flask, Response, request
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

__all__ = ["after_commit", "after_rollback", "checkpoint", "dispatch_retrying_reads",
           "end_request", "init_app", "keep_on_error", "unit_of_work"]

log = logging.getLogger(__name__)
_AFTER_COMMIT = "gridwork_after_commit"
_AFTER_ROLLBACK = "gridwork_after_rollback"
_KEEP = "gridwork.keep_on_error"
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
T = TypeVar("T")


@contextmanager
def unit_of_work(session: Session | Any) -> Iterator[Any]:
    """Commit ``session`` when the block ends normally; roll it back when it raises."""
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    session.commit()


def checkpoint(session: Session | Any) -> None:
    """Commit the work so far, mid-request; the boundary still commits the rest."""
    session.commit()


def keep_on_error() -> None:
    """Commit this request's changes even though it answers an error (4xx)."""
    # On the request, not on g: an app context (and its g) can outlive one request (a test
    # client's requests share the test's), and the next request's refusal must roll back.
    request.environ[_KEEP] = True


def end_request(response: Response) -> Response:
    """The request boundary: commit a success (or a kept refusal), roll back the rest."""
    from server.extensions import db

    session = db.session
    if response.status_code < 400 or (response.status_code < 500
                                      and request.environ.get(_KEEP)):
        session.commit()
    else:
        session.rollback()
    return response


def _dropped(error: BaseException) -> bool:
    return isinstance(error, sa_exc.DisconnectionError) or (
        isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated)


def dispatch_retrying_reads(dispatch: Callable[[], T]) -> T:
    """Run the view (``dispatch``); a read whose connection dropped runs once more."""
    try:
        return dispatch()
    except (sa_exc.DBAPIError, sa_exc.DisconnectionError) as error:
        if request.method not in _READS or not _dropped(error):
            raise
        log.warning("database connection dropped on %s %s; reading once more",
                    request.method, request.path)
    from server.extensions import db

    db.session.rollback()  # forgets the dead connection; the pool hands out a fresh one
    return dispatch()


def after_commit(session: Session | Any, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the transaction that holds this session's changes commits.

    A rollback forgets it. ``session`` may be a scoped session (``db.session``).
    """
    info = session.info
    info.setdefault(_AFTER_COMMIT, []).append(callback)


def after_rollback(session: Session | Any, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the transaction that holds this session's changes rolls back.

    A commit forgets it; so does a savepoint's rollback (the outer work may still commit).
    The callback runs after the rollback, in a fresh transaction of the session: it may read
    what the database holds now. An error in it is logged, never raised (a rollback is often
    already the answer to an error).
    """
    info = session.info
    info.setdefault(_AFTER_ROLLBACK, []).append(callback)


def _run_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the work is not committed yet
    session.info.pop(_AFTER_ROLLBACK, None)
    callbacks = session.info.pop(_AFTER_COMMIT, None)
    for callback in callbacks or ():
        callback()


def _forget(session: Session, *_: Any) -> None:
    if not session.in_nested_transaction():  # a savepoint's rollback keeps the outer work
        session.info.pop(_AFTER_COMMIT, None)


def _run_after_rollback(session: Session, previous: Any) -> None:
    # after_soft_rollback: the session may run SQL again here (after_rollback may not).
    if previous.nested or previous.parent is not None:
        return  # a savepoint (or an inner subtransaction) rolled back: the outer work goes on
    callbacks = session.info.pop(_AFTER_ROLLBACK, None)
    for callback in callbacks or ():
        try:
            callback()
        except Exception:  # noqa: BLE001 - a cleanup must not hide the error being answered
            log.exception("cleanup after a rollback failed")


def init_app(app: Flask) -> None:
    """Install the request boundary on ``app`` (the session events are global, once)."""
    app.after_request(end_request)
    if not event.contains(Session, "after_commit", _run_after_commit):
        event.listen(Session, "after_commit", _run_after_commit)
        event.listen(Session, "after_rollback", _forget)
    if not event.contains(Session, "after_soft_rollback", _run_after_rollback):
        event.listen(Session, "after_soft_rollback", _run_after_rollback)
