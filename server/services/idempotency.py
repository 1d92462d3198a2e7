"""Replay-safe creation of device records, keyed by their ``client_uuid``.

A replay with the same body answers the first result; another body under the same UUID is a
409. Two identical requests racing are settled by the unique constraint on ``client_uuid``,
not by a check-then-insert: the loser's insert fails, its savepoint rolls back, and it
answers the winner's row. :func:`insert_or_twin` is that one way of settling a race, used
by every writer of device records (reports, households, visits, photos, case moves).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.errors import ConflictError

__all__ = ["body_digest", "canonical_json", "find_replay", "create_once", "insert_or_twin",
           "replay_conflict"]

T = TypeVar("T")
U = TypeVar("U")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetime in a request body")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot canonicalise {type(value).__name__}")


def canonical_json(data: Mapping[str, Any]) -> str:
    """JSON with sorted keys, no spaces, times in UTC: equal bodies give equal text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_default)


def body_digest(data: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a loaded request body."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def replay_conflict(client_uuid: str) -> ConflictError:
    """The 409 for another body sent under a ``client_uuid`` the server already holds."""
    return ConflictError(
        f"A different record was already sent with client_uuid {client_uuid}. "
        "An edit must be sent as a new record with a new client_uuid.",
        client_uuid=client_uuid)


def find_replay(session: Session, model: type[T], client_uuid: str, digest: str) -> T | None:
    """The row already made for ``client_uuid`` if the body matches; 409 if it differs."""
    row = session.scalar(select(model).where(model.client_uuid == client_uuid))  # type: ignore
    if row is None:
        return None
    if row.body_sha256 != digest:  # type: ignore[attr-defined]
        raise replay_conflict(client_uuid)
    return row


def insert_or_twin(savepoint: Callable[[], AbstractContextManager[Any]],
                   insert: Callable[[], T], find_twin: Callable[[], U | None], *,
                   races: tuple[type[Exception], ...] = (IntegrityError,),
                   ) -> tuple[T | U, bool]:
    """Run ``insert`` in ``savepoint()``; if a twin won the race, answer the twin instead.

    Returns (what ``insert`` returned, True), or (``find_twin()``, False) when the insert
    failed with one of ``races`` (a unique or version guard) because a twin request wrote
    first. With no twin to find, the error was a real fault and goes up unchanged.

    Args:
        savepoint: makes the savepoint around the insert (``session.begin_nested``, or a
            cheaper one of the caller's own).
        insert: writes the row and flushes it.
        find_twin: reads the winner (it may raise the 409 of a different body).
        races: the errors a lost race raises.
    """
    try:
        with savepoint():
            return insert(), True
    except races:
        twin = find_twin()
        if twin is None:
            raise
        return twin, False


def create_once(session: Session, model: type[T], client_uuid: str, digest: str,
                build: Callable[[], T]) -> tuple[T, bool]:
    """Insert the row ``build()`` makes unless ``client_uuid`` exists; return (row, created).

    The caller has already answered plain replays with :func:`find_replay` (before its
    validation, so a replay is never refused by a rule that changed since). What is left is
    the race: ``build`` adds the row (and its children) and the insert runs in a savepoint,
    so when a twin request wins meanwhile, only this record rolls back and the winner's row
    is answered.
    """

    def insert() -> T:
        row = build()
        session.flush()
        return row

    return insert_or_twin(session.begin_nested, insert,
                          lambda: find_replay(session, model, client_uuid, digest))
