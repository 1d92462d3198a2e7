"""``gridwork keys generate`` and ``gridwork keys rotate``: the keys of sensitive fields."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from server.crypto import FieldKeyError, generate_key

__all__ = ["command"]

command = AppGroup("keys", help="Keys that encrypt phone and ID numbers at rest.")


@command.command("generate")
def generate() -> None:
    """Print a new random field key."""
    click.echo(generate_key())


@command.command("rotate")
def rotate() -> None:
    """Re-encrypt every sensitive field under the first key of GRIDWORK_FIELD_KEYS.

    Rotation: put the new key first in GRIDWORK_FIELD_KEYS (keep the old ones after it),
    restart the servers, run this, then remove the old keys and restart again.
    """
    from server.extensions import db
    from server.services.field_keys import rotate_field_keys

    try:
        count = rotate_field_keys(db.session)
    except FieldKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Re-encrypted the sensitive fields of {count} households.")
