"""Path parameters the database can hold: an ``<int:…>`` id fits every id column."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, Map

__all__ = ["IdConverter", "MAX_ID"]

# The largest INTEGER (the id columns of users, grids, buildings...; schemas.base.INT_MAX):
# a larger id names no row (404, not a 500 overflow on PostgreSQL).
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """Werkzeug's ``int`` converter, bounded to what every id column holds."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
