"""``gridwork webhooks``: send pending department webhooks, show a department's signing key."""

from __future__ import annotations

import click
from flask.cli import AppGroup

__all__ = ["command"]

command = AppGroup("webhooks", help="Department webhooks (signed case notifications).")


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
