"""The baseline the sync benches measure against: a bare Flask app that echoes JSON.

``POST /echo`` parses the JSON body and answers it back (``jsonify``), ``GET
/api/v1/health`` answers 200 so ``client_sync.testing.LiveServer`` can serve it with the
very gunicorn settings it serves Gridwork with: ``LiveServer(..., app="bench.echo_app:app")``.
No database, no auth, no schema: what a request costs before Gridwork does anything.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request

__all__ = ["app"]

app = Flask(__name__)


@app.post("/echo")
def echo() -> Any:
    """The JSON body, parsed and sent back."""
    return jsonify(request.get_json())


@app.get("/api/v1/health")
def health() -> Any:
    """Always well: what LiveServer waits for."""
    return {"status": "ok"}
