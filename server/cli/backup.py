"""``gridwork backup DEST`` and ``gridwork restore SRC``."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from server.services.backup import BackupError
from server.services.backup import backup as make_backup
from server.services.backup import restore as restore_backup

__all__ = ["commands"]


@click.command("backup")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
def backup_command(dest: Path) -> None:
    """Write a consistent backup (database and photos) into the new folder DEST.

    Safe while the server runs.
    """
    try:
        info = make_backup(current_app.config["DATABASE_URL"],
                           Path(current_app.config["MEDIA_DIR"]), dest)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Backed up the {info.dialect} database and {info.photos} photos to {dest}.")


@click.command("restore")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask before replacing the current data.")
@with_appcontext
def restore_command(src: Path, yes: bool) -> None:
    """Restore the backup in SRC over the configured database and photo folder.

    Stop the server first.
    """
    if not yes:
        click.confirm("This replaces the data of the configured database. Go on?", abort=True)
    try:
        info = restore_backup(src, current_app.config["DATABASE_URL"],
                              Path(current_app.config["MEDIA_DIR"]))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Restored the backup of {info.created_at} ({info.photos} photos).")


commands = [backup_command, restore_command]
