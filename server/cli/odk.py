"""``gridwork odk qr USER``: a QR code that sets up ODK Collect or KoboCollect for a user.

Collect reads its project settings from a QR code holding base64(zlib(JSON)): the server
URL (``<site>/openrosa``), the username and a password. The password is a new *Collect
password* for that user (``server.openrosa.auth``), which Digest needs over plain HTTP;
revoke it like a lost phone's token.
"""

from __future__ import annotations

import base64
import json
import sys
import zlib
from pathlib import Path
from typing import Any

import click
import segno
from flask.cli import AppGroup

from server.cli.friendly import friendly

__all__ = ["command", "collect_settings", "settings_payload"]

command = AppGroup("odk", help="ODK Collect / KoboCollect phones (OpenRosa at /openrosa).")


def collect_settings(server_url: str, username: str, password: str) -> dict[str, Any]:
    """The Collect project settings for one worker on this server."""
    return {
        "general": {
            "server_url": server_url.rstrip("/") + "/openrosa",
            "username": username,
            "password": password,
            # Forms and their media (households.csv) follow the server on their own.
            "form_update_mode": "match_exactly",
            "periodic_form_updates_check": "every_one_hour",
            "autosend": "wifi_and_cellular",
        },
        "admin": {"change_server": False},
        "project": {"name": "网格通 Gridwork", "icon": "网", "color": "#1e6fd9"},
    }


def settings_payload(settings: dict[str, Any]) -> str:
    """What the QR code holds: the settings as JSON, zlib-compressed, base64-encoded."""
    data = json.dumps(settings, ensure_ascii=False).encode()
    return base64.b64encode(zlib.compress(data, 9)).decode()


@command.command("qr")
@click.argument("username")
@click.option("--url", "server_url", required=True,
              help="The site as the phones reach it, e.g. https://gridwork.example.org "
                   "(/openrosa is added).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the code to a .png or .svg file instead of the terminal.")
@click.option("--payload", "show_payload", is_flag=True,
              help="Print the text the code holds (base64 of zlib of JSON) instead.")
@friendly
def qr(username: str, server_url: str, output: Path | None, show_payload: bool) -> None:
    """Mint a Collect password for USERNAME and show the settings QR code to scan."""
    from sqlalchemy import select

    from server.extensions import db
    from server.models import User
    from server.openrosa.auth import issue_collect_password
    from server.openrosa.forms import forms_for
    from server.services.access import access_for

    if not server_url.startswith(("http://", "https://")):
        raise click.ClickException("--url needs its scheme: https://... (or http:// on a LAN).")
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise click.ClickException(f"No active user {username!r}.")
    forms = forms_for(access_for(db.session, user))
    if not forms:
        raise click.ClickException(f"A {user.role} has no forms to fill in on a phone.")
    password = issue_collect_password(db.session, user)
    payload = settings_payload(collect_settings(server_url, username, password))
    if show_payload:
        click.echo(payload)
        return
    code = segno.make(payload, error="m", micro=False)
    if output is not None:
        code.save(str(output), scale=6, border=4)
        click.echo(f"Wrote {output}.")
    else:
        code.terminal(out=sys.stdout, compact=True)
    click.echo(f"ODK Collect for {username}: server {server_url.rstrip('/')}/openrosa, "
               f"Collect password {password} (shown once), forms: "
               + ", ".join(f.title for f in forms) + ".")
    if server_url.startswith("http://"):
        click.echo("Over http:// Collect logs in with Digest, so only this Collect password "
                   "works there; serve over HTTPS in production.")


@command.command("xlsform")
@click.argument("form_id", type=click.Choice(["gridwork_visit", "gridwork_report"]))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="The .xlsx file to write.")
def xlsform(form_id: str, output: Path) -> None:
    """Write a form as the XLSForm it is made from (the served XForm is pyxform's of it)."""
    from server.extensions import db
    from server.openrosa.forms import FORMS
    from server.openrosa.forms import xlsform as make

    output.write_bytes(make(db.session, FORMS[form_id]))
    click.echo(f"Wrote {output}.")
