"""The house base schema: what no database stores is refused at the schema, client and server.

Every request schema derives from :class:`Schema`, so the server refuses these with a 422
naming the field, and ``client_sync`` refuses them at capture, while the worker is still at
the door:

- a NUL byte or another control character but tab and newline, or a lone surrogate, in any
  string, key or value (PostgreSQL stores neither; UTF-8 cannot encode a lone surrogate);
- an integer outside a 32-bit column (-2^31 .. 2^31 - 1): the id columns of users, grids,
  buildings and communities are INTEGER, and no count or id the API takes comes near it;
- a query parameter given twice where it takes one value (``?community=a&community=b%06``:
  the server would read one and a proxy or a log another);
- a date or time outside :data:`DATE_WINDOW`, the policy window of every date the API takes:
  nothing Gridwork records happened before 2000, and a date past 2099 is a typo (a visit
  dated year 0001, a report of 1900, ``?from=0001-01-01``). A time is judged by its date as
  written, before any offset is applied, so the rule is the year in the text:
  ``2000-01-01T00:00:00+14:00`` is in, ``0001-01-01T00:00:00+14:00`` is out.

The OpenAPI document states the same rules, field by field (``server/api/docs.py`` renders
:data:`TEXT_PATTERN`, :data:`DATE_PATTERN` and the 32-bit range into every field of a house
schema), so a client generated from the document refuses what the server refuses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, ClassVar

import marshmallow
from marshmallow import ValidationError, fields, post_load, pre_load

__all__ = ["Schema", "DATE_WINDOW", "DATE_PATTERN", "INT_MIN", "INT_MAX", "TEXT_PATTERN",
           "check_text"]

DATE_WINDOW = (date(2000, 1, 1), date(2099, 12, 31))
INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # what every integer column holds
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
#: The text rule as a JSON Schema pattern (ECMA-262): no control character but tab, newline
#: and carriage return. (A lone surrogate is no Unicode text, so no pattern needs to say so.)
TEXT_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$"
#: The date rule as a pattern, for a date or a time: its year as written lies in the window.
DATE_PATTERN = r"^20[0-9]{2}-"


def check_text(text: str) -> str | None:
    """Why ``text`` cannot be stored (a control character, a lone surrogate), or ``None``."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    char = found.group()
    if "\ud800" <= char <= "\udfff":
        return "Contains a lone surrogate (broken UTF-16); send valid Unicode text."
    return f"Contains the control character U+{ord(char):04X}; remove it."


def _window_error(value: date) -> str | None:
    first, last = DATE_WINDOW
    # The date as written: 0001-01-01T00:00:00+14:00 is year 1 (and never converted to UTC
    # here, where it would fall before the calendar begins), 2000-01-01T00:00:00+14:00 is in.
    day = value.date() if isinstance(value, datetime) else value
    if first <= day <= last:
        return None
    return f"Must lie between {first.isoformat()} and {last.isoformat()}."


def _nest(errors: dict[str, Any], path: tuple[Any, ...], message: str) -> None:
    where = errors
    for key in path[:-1]:
        where = where.setdefault(key, {})
    where.setdefault(path[-1] if path else "_schema", []).append(message)


def _walk_input(value: Any, path: tuple[Any, ...], errors: dict[str, Any]) -> None:
    if isinstance(value, str):
        problem = check_text(value)
        if problem:
            _nest(errors, path, problem)
    elif isinstance(value, Mapping):
        for key in list(value.keys()):
            problem = check_text(key) if isinstance(key, str) else None
            if problem:
                _nest(errors, (*path, "_schema"), f"Key {key!r}: {problem}")
                continue
            _walk_input(value[key], (*path, key), errors)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _walk_input(item, (*path, index), errors)


def _walk_loaded(value: Any, path: tuple[Any, ...], errors: dict[str, Any]) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            _nest(errors, path, f"Must lie between {INT_MIN} and {INT_MAX}.")
    elif isinstance(value, date):
        problem = _window_error(value)
        if problem:
            _nest(errors, path, problem)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _walk_loaded(item, (*path, key), errors)
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            _walk_loaded(item, (*path, index), errors)


def _repeated_singles(data: Mapping[str, Any]) -> list[str]:
    """The keys of a query string (webargs' MultiDictProxy) given more than once although
    their field takes one value."""
    multiple = getattr(data, "multiple_keys", None)
    getlist = getattr(data, "getlist", None)
    if multiple is None or getlist is None:
        return []
    return [key for key in data if key not in multiple and len(getlist(key)) > 1]


def _nested(field: Any) -> bool:
    inner = getattr(field, "inner", None)  # List(Nested(...))
    return isinstance(field, fields.Nested) or isinstance(inner, fields.Nested)


class Schema(marshmallow.Schema):
    """marshmallow's Schema, refusing text, integers and dates no database stores."""

    #: Fields whose raw input another schema loads and checks (a sync record's body).
    checked_elsewhere: ClassVar[frozenset[str]] = frozenset()

    @pre_load
    def _refuse_unstorable_text(self, data: Any, **_: Any) -> Any:
        if not isinstance(data, Mapping):
            errors: dict[str, Any] = {}
            _walk_input(data, (), errors)
        else:
            errors = {}
            by_key = {field.data_key or name: field for name, field in self.load_fields.items()}
            for key in _repeated_singles(data):
                errors[key] = ["Give this parameter once."]
            for key in list(data.keys()):
                if key in self.checked_elsewhere or _nested(by_key.get(key)):
                    continue  # the nested schema checks its own input, once
                _walk_input({key: data[key]}, (), errors)
        if errors:
            raise ValidationError(errors)
        return data

    @post_load
    def _refuse_out_of_range(self, data: Any, **_: Any) -> Any:
        errors: dict[str, Any] = {}
        for name, value in (data.items() if isinstance(data, Mapping) else ()):
            field = self.fields.get(name)
            key = (field.data_key or name) if field is not None else name
            _walk_loaded(value, (key,), errors)  # errors name the field as the client sent it
        if errors:
            raise ValidationError(errors)
        return data
