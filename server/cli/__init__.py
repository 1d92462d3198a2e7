"""The admin command line, ``gridwork`` (Flask's CLI with the app factory).

Every command reads the same ``GRIDWORK_*`` environment as the server, and fails with a
one-line message and a non-zero exit on bad input.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
from functools import wraps
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup, FlaskGroup, ScriptInfo

from server.cli.friendly import friendly

__all__ = ["main", "register_cli"]

communities = AppGroup("communities", help="Communities (社区).")
departments = AppGroup("departments", help="Departments (职能部门) that receive cases.")
grids = AppGroup("grids", help="Grid boundaries (网格).")
users = AppGroup("users", help="User accounts.")


@communities.command("create")
@click.argument("code")
@click.argument("name")
@friendly
def community_create(code: str, name: str) -> None:
    """Create a community: CODE NAME."""
    from server.extensions import db
    from server.services.org import create_community

    create_community(db.session, code, name)
    click.echo(f"Created community {code} ({name}).")


@departments.command("create")
@click.argument("code")
@click.argument("name")
@click.option("--webhook", default=None, help="URL that receives a signed POST per case step.")
@friendly
def department_create(code: str, name: str, webhook: str | None) -> None:
    """Create a department: CODE NAME."""
    from server.extensions import db
    from server.services.org import create_department

    create_department(db.session, code, name, webhook)
    click.echo(f"Created department {code} ({name}).")


@grids.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--community", "community_code", required=True, help="Community code.")
@friendly
def grids_import(file: Path, community_code: str) -> None:
    """Import grid polygons from a GeoJSON FeatureCollection (properties: code, name)."""
    from server.extensions import db
    from server.services.grids import import_grids

    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"{file} is not a JSON file: {exc}") from exc
    result = import_grids(db.session, community_code, data)
    click.echo(f"Grids created: {len(result.created)}, updated: {len(result.updated)}.")


@users.command("create")
@click.argument("username")
@click.option("--role", required=True, help="admin, secretary, dispatcher, department, "
                                            "supervisor, grid_worker or building_head.")
@click.option("--grid", "grid_codes", multiple=True, help="Grid code (repeatable).")
@click.option("--community", "community_code", default=None, help="Community code.")
@click.option("--department", "department_code", default=None, help="Department code.")
@click.option("--building", "building_codes", multiple=True,
              help="Building code in --community (repeatable), for building heads.")
@click.option("--display-name", default=None, help="Name shown to others.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@friendly
def user_create(username: str, role: str, grid_codes: tuple[str, ...],
                community_code: str | None, department_code: str | None,
                building_codes: tuple[str, ...], display_name: str | None,
                password_stdin: bool) -> None:
    """Create a user with a role and the grids, community or department they work in."""
    from sqlalchemy import select

    from server.extensions import db
    from server.models import Building, Community
    from server.services.auth import create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    building_ids: tuple[int, ...] = ()
    if building_codes:
        ids = db.session.scalars(select(Building.id).join(
            Community, Building.community_id == Community.id).where(
            Community.code == community_code, Building.code.in_(building_codes))).all()
        if len(ids) != len(set(building_codes)):
            raise click.ClickException("Unknown building code in --community.")
        building_ids = tuple(ids)
    user = create_user(db.session, username, password, role, display_name=display_name,
                       grid_codes=grid_codes, community_code=community_code,
                       department_code=department_code, building_ids=building_ids)
    click.echo(f"Created user {user.username} ({user.role}).")


@click.command("seed-demo")
@friendly
def seed_demo() -> None:
    """Build the demo community 友谊河社区 (idempotent) and print its logins."""
    from server.demo import seed_demo as build

    for line in build():
        click.echo(line)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the app with gunicorn (not the Flask development server)."""
    from server.request_limits import GUNICORN_LIMITS

    args = [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}",
            "--workers", str(workers), "--worker-class", "gthread", "--threads", "4",
            # Photo uploads on a weak signal are slow: do not kill a worker mid-upload.
            "--timeout", "120", "--graceful-timeout", "30", "--access-logfile", "-",
            # Above the app's own limits, so the app answers a long URL or header (414,
            # 431) as problem+json; gunicorn's own answer is an HTML page.
            *GUNICORN_LIMITS,
            "server.wsgi:app"]
    _require_free_port(host, port)
    click.echo(f"Starting Gridwork on http://{host}:{port}/ (Ctrl-C stops it) ...")
    click.echo(f"ODK Collect / KoboCollect server URL: http://{host}:{port}/openrosa "
               "(from a phone: this computer's address; gridwork odk qr USER --url ...)")
    os.execv(sys.executable, args)  # noqa: S606 - replaces this process with gunicorn


def _require_free_port(host: str, port: int) -> None:
    """One clear line when the port is taken, instead of gunicorn retrying five times."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise click.ClickException(f"Cannot listen on {host}:{port}: {exc.strerror}.") \
                    from None
            raise click.ClickException(
                f"Port {port} is in use (another Gridwork?). Try another: "
                f"make demo PORT={port + 1}, or gridwork serve --port {port + 1}.") from None


def gridwork_commands() -> list[click.Command]:
    """Every ``gridwork`` command, in one explicit list, each a unit of work."""
    from server.cli import (
        accounts,
        backup,
        buildings,
        cases,
        households,
        keys,
        map_cells,
        odk,
        report,
        uploads,
        webhooks,
        worker,
    )

    for sub in accounts.commands:  # users list, disable, enable, reset-password...
        users.add_command(sub)
    commands = [communities, departments, grids, users, seed_demo, serve, *backup.commands,
                buildings.command, cases.command, households.command, keys.command, odk.command,
                report.command, uploads.command, webhooks.command, worker.command,
                map_cells.command]
    for command in commands:
        _commit_when_done(command)
    return commands


def register_cli(app: Flask) -> None:
    """Add the admin commands to ``app.cli`` (``app.test_cli_runner`` finds them there)."""
    for command in gridwork_commands():
        app.cli.add_command(command)


class _GridworkGroup(FlaskGroup):  # type: ignore[misc]
    """Flask's command group holding Gridwork's commands itself, so ``--help`` lists them
    without building the app (which needs GRIDWORK_SECRET_KEY)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        names = set(click.Group.list_commands(self, ctx))
        # The extensions' commands (db, openapi...) come with the app; with no secret yet,
        # a command that needs the app says so in one line when it runs.
        with contextlib.suppress(click.ClickException):
            names.update(ctx.ensure_object(ScriptInfo).load_app().cli.list_commands(ctx))
        return sorted(names)


def _commit_when_done(command: click.Command) -> None:
    """The command boundary: a command's work commits once when it ends, or rolls back.

    Services only flush; this is where a ``gridwork`` command's writes become durable.
    """
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _commit_when_done(sub)
        return
    callback = command.callback
    if callback is None or getattr(callback, "_gridwork_unit", False):
        return

    @wraps(callback)
    def in_unit(*args: Any, **kwargs: Any) -> Any:
        from flask import has_app_context

        from server.extensions import db
        from server.transactions import unit_of_work

        if not has_app_context():  # a command of the group itself: build the app now
            app = click.get_current_context().ensure_object(ScriptInfo).load_app()
            with app.app_context():
                return in_unit(*args, **kwargs)
        with unit_of_work(db.session):
            return callback(*args, **kwargs)

    in_unit._gridwork_unit = True  # type: ignore[attr-defined]
    command.callback = in_unit


def _create_app() -> Flask:
    from server import create_app

    try:
        return create_app()
    except RuntimeError as exc:  # a setting missing, e.g. GRIDWORK_SECRET_KEY: one line
        raise click.ClickException(str(exc)) from None


def main() -> None:
    """Entry point of the ``gridwork`` console script."""
    cli = _GridworkGroup(create_app=_create_app, add_default_commands=True,
                         help="Gridwork server administration.")
    for command in gridwork_commands():
        cli.add_command(command)
    # Flask-Migrate adds "db" to the app's commands; here too, so --help lists the README's
    # first step (gridwork db upgrade) before any secret is set.
    from flask_migrate.cli import db as migrations

    cli.add_command(migrations, "db")
    cli.main(prog_name="gridwork")
