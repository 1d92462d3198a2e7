"""The API's blueprint: flask-smorest's, with a request parser that refuses deep JSON, and a
note of every schema a request is loaded with (the OpenAPI document states the house rules on
those, not on answers: server/api/docs.py)."""

from __future__ import annotations

import json
from typing import Any

from flask import Request
from flask_smorest import Blueprint as SmorestBlueprint
from webargs.flaskparser import FlaskParser

from server.api.docs import note_request_schema

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

    def arguments(self, schema: Any, *args: Any, **kwargs: Any) -> Any:
        """flask-smorest's ``arguments``; ``schema`` (and what it nests) loads a request."""
        note_request_schema(schema)
        return super().arguments(schema, *args, **kwargs)
