"""The API's blueprint: flask-smorest's, with a request parser that refuses deep JSON."""

from __future__ import annotations

import json
from typing import Any

from flask import Request
from flask_smorest import Blueprint as SmorestBlueprint
from webargs.flaskparser import FlaskParser

__all__ = ["Blueprint"]


class _Parser(FlaskParser):  # type: ignore[misc]
    """webargs' Flask parser; JSON nested past Python's recursion limit is invalid JSON (400)."""

    def _raw_load_json(self, req: Request) -> Any:
        try:
            return super()._raw_load_json(req)
        except RecursionError as exc:  # e.g. [[[[…]]]] 1,000 deep: a 400, never a 500
            raise json.JSONDecodeError("JSON nested too deep", "[", 0) from exc


class Blueprint(SmorestBlueprint):  # type: ignore[misc]
    """One resource of the API (flask-smorest's Blueprint with the house parser)."""

    ARGUMENTS_PARSER = _Parser()
