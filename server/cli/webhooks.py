"""``gridwork webhooks``: send department webhooks (as a worker, or one pass), show a
department's signing key."""

from __future__ import annotations

import contextlib
import signal
import threading

import click
from flask.cli import AppGroup

__all__ = ["command"]

command = AppGroup("webhooks", help="Department webhooks (signed case notifications).")


@command.command("run")
def run() -> None:
    """Send deliveries as they fall due, until stopped: the web server's sender as a worker
    process of its own (with GRIDWORK_WEBHOOKS_ASYNC=false on the web servers)."""
    from flask import current_app

    from server.webhook_sender import sender_of

    sender = sender_of(current_app)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: sender.stop(timeout=0))
    click.echo("Sending department webhooks as they fall due (Ctrl-C stops) ...")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the worker quietly
        sender.run()


@command.command("deliver")
@click.option("--all", "everything", is_flag=True,
              help="Also send the ones still waiting for their retry time.")
def deliver(everything: bool) -> None:
    """Send the pending webhook deliveries that are due (run it from cron as a backstop)."""
    from server.extensions import db
    from server.services.webhooks import deliver_due

    run = deliver_due(db.session(), everything=everything)
    click.echo(f"Webhooks sent: {run.sent}, failed (will retry): {run.failed}, "
               f"given up: {run.gave_up}.")


@command.command("secret")
@click.argument("department_code")
def secret(department_code: str) -> None:
    """Print the key DEPARTMENT_CODE's deliveries are signed with (HMAC-SHA256)."""
    from sqlalchemy import select

    from server.extensions import db
    from server.models import Department
    from server.services.webhooks import secret_for

    department = db.session.scalar(select(Department).where(Department.code == department_code))
    if department is None:
        raise click.ClickException(f"No department with code {department_code}.")
    click.echo(secret_for(department))
