"""Path parameters the database can hold: an ``<int:…>`` id fits a 64-bit column."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, Map

__all__ = ["Int64Converter", "MAX_ID"]

MAX_ID = 2**63 - 1  # the largest BIGINT; a larger id names no row (404, not a 500 overflow)


class Int64Converter(IntegerConverter):
    """Werkzeug's ``int`` converter, bounded to what a BIGINT column holds."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
