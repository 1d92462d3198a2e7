"""``gridwork worker``: run the queued jobs (photo derivatives, webhooks, escalation)."""

from __future__ import annotations

import click

__all__ = ["command"]


@click.command("worker")
@click.option("--concurrency", type=int, default=None,
              help="Jobs run at a time (threads); default GRIDWORK_JOBS_CONCURRENCY (2).")
@click.option("--name", default=None, help="The worker's name in logs.")
def command(concurrency: int | None, name: str | None) -> None:
    """Run background jobs until stopped (SIGTERM), with GRIDWORK_JOBS=queue on PostgreSQL.

    Any number of workers may run, on any hosts; a job whose worker died is taken up again
    by another once the dead one's heartbeat is GRIDWORK_JOBS_STALLED_S (30 s) old.
    """
    from flask import current_app

    from server.jobs import mode
    from server.jobs.worker import run_worker

    if mode() != "queue":
        raise click.ClickException(
            "gridwork worker runs the job queue of the city tier: set GRIDWORK_JOBS=queue "
            "(with PostgreSQL) on the web hosts and here. Without it the server runs its "
            "jobs itself.")
    click.echo("Running jobs (SIGTERM or Ctrl-C stops) ...")
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the real app
    run_worker(app, concurrency=concurrency, name=name)
