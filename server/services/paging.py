"""Keyset (cursor) paging for every list: stable under inserts, fast at any depth."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from server.errors import UnprocessableError

__all__ = ["paginate", "encode_cursor", "decode_cursor"]


def encode_cursor(last_id: int | str) -> str:
    """An opaque cursor for the row after ``last_id``."""
    raw = json.dumps({"after": last_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    """The ``after`` key of a cursor; 422 if it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return data["after"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise UnprocessableError("The cursor is not valid; start again without it.",
                                 errors={"cursor": ["Not a cursor this server made."]}) from exc


def paginate(session: Session, query: Select[Any], id_column: Any, *, limit: int,
             cursor: str | None, descending: bool = True) -> tuple[list[Any], str | None]:
    """One page of ``query`` ordered by ``id_column``, and the cursor of the next page.

    Args:
        query: a select of ORM entities (filters applied, no ORDER BY or LIMIT).
        id_column: the unique column to page by (usually the primary key).
    """
    if cursor:
        after = decode_cursor(cursor)
        query = query.where(id_column < after if descending else id_column > after)
    query = query.order_by(id_column.desc() if descending else id_column.asc()).limit(limit + 1)
    rows = list(session.scalars(query))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(getattr(rows[-1], id_column.key))
