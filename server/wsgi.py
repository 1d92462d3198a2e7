"""WSGI entry point for gunicorn: ``gunicorn server.wsgi:app``."""

from __future__ import annotations

from server import create_app

app = create_app()
