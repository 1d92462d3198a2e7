"""``gridwork uploads``: housekeeping of resumable photo uploads."""

from __future__ import annotations

import click
from flask.cli import AppGroup

__all__ = ["command"]

command = AppGroup("uploads", help="Resumable photo uploads (tus).")


@command.command("purge")
def purge() -> None:
    """Delete expired uploads and their partial files (run it daily, e.g. from cron)."""
    from server.extensions import db
    from server.services.uploads import purge_expired

    uploads, files = purge_expired(db.session)
    click.echo(f"Purged {uploads} expired upload(s) and {files} partial file(s).")
