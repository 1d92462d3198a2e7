"""Background jobs: the heavy work a request hands off (photo derivatives, webhook delivery,
the escalation sweep), run on procrastinate, a job queue on PostgreSQL.

Services call one function, :func:`defer`, with the session whose transaction the job
belongs to. Where the job runs depends on ``GRIDWORK_JOBS``:

- ``queue`` (the city tier, PostgreSQL): the job row is inserted through procrastinate on the
  session's own connection, in its transaction, so the job commits with the data it is
  about or not at all (no job for a photo that rolled back, no photo without its job).
  ``gridwork worker`` runs the jobs (``server.jobs.worker``), retries a failed one with
  backoff, and takes up again a job whose worker died mid-way (killed, power cut) once that
  worker's heartbeat is ``JOBS_STALLED_S`` old. Every job is safe to run twice.
- ``inline`` (the embedded default, SQLite, ``make demo``): after the commit, this process
  runs the job on a thread of its own (``server.jobs.inline``; at once, in the committing
  thread, under ``TESTING``). No worker is needed; a job lost with the process is made
  again where it is missed (a photo's display image asked for and not there re-defers it).

The tasks themselves are in ``server.jobs.tasks``; the schema procrastinate needs is made by
the migration 0006 (``server.jobs.queue.apply_schema``), in a schema of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, has_app_context

if TYPE_CHECKING:
    from server.jobs.inline import InlineRunner

__all__ = ["EXTENSION", "defer", "defer_now", "init_app", "mode", "runner", "settings"]

EXTENSION = "gridwork.jobs"
_DEFAULTS: dict[str, Any] = {
    "JOBS": "inline",              # or "queue": procrastinate on PostgreSQL, gridwork worker
    "JOBS_MAX_ATTEMPTS": 6,        # a failing job is tried this many times in all
    "JOBS_RETRY_WAIT_S": 5.0,      # then waits 5 s, 10 s, 15 s... between tries
    "JOBS_HEARTBEAT_S": 10.0,      # a worker says it is alive this often
    "JOBS_STALLED_S": 30.0,        # ... and its jobs are taken up again this long after it stops
    "JOBS_POLL_S": 5.0,            # a worker looks for jobs at least this often (besides NOTIFY)
    "JOBS_CONCURRENCY": 2,         # jobs one worker runs at a time (threads)
    "JOBS_SCHEMA": "procrastinate",  # the PostgreSQL schema of procrastinate's tables
    "JOBS_SWEEP_CRON": "* * * * *",  # the escalation sweep and webhook retries (6 fields: s)
}


def settings(config: Any = None) -> dict[str, Any]:
    """The job settings in force: ``GRIDWORK_JOBS*`` over the defaults above."""
    cfg = config if config is not None else current_app.config
    return {name: cfg.get(name, default) for name, default in _DEFAULTS.items()}


def mode(config: Any = None) -> str:
    """``queue`` or ``inline`` (anything else is refused when the app is built)."""
    return str(settings(config)["JOBS"]).lower()


def init_app(app: Flask) -> InlineRunner:
    """Check ``GRIDWORK_JOBS`` and give ``app`` its in-process runner (used in inline mode).

    ``defer`` calls it on first use, so an app factory need not.
    """
    from server.jobs.inline import InlineRunner

    chosen = mode(app.config)
    if chosen not in ("inline", "queue"):
        raise RuntimeError(f"GRIDWORK_JOBS must be 'inline' or 'queue', not {chosen!r}.")
    if chosen == "queue" and not str(app.config["DATABASE_URL"]).startswith("postgresql"):
        raise RuntimeError("GRIDWORK_JOBS=queue needs PostgreSQL (GRIDWORK_DATABASE_URL); "
                           "the embedded tier runs its jobs in process (GRIDWORK_JOBS=inline).")
    runner_: InlineRunner = app.extensions.setdefault(EXTENSION, InlineRunner(app))
    return runner_


def runner(app: Flask | None = None) -> InlineRunner:
    """``app``'s in-process runner (made on first use)."""
    app = app if app is not None else current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get(EXTENSION)
    return found if found is not None else init_app(app)


def defer(session: Any, task: str, *, lock: str | None = None, **kwargs: Any) -> None:
    """Queue ``task(**kwargs)`` as part of ``session``'s transaction.

    ``lock`` names a job that need not be queued twice: while one with that name waits, a
    second is not added (a photo's derivatives asked for again before they are made).
    """
    if mode() == "queue":
        from server.jobs.queue import defer_on

        runner()  # checks the settings once
        defer_on(session.connection(), task, lock=lock, schema=settings()["JOBS_SCHEMA"],
                 **kwargs)
        return
    from server.transactions import after_commit

    inline = runner()
    after_commit(session, lambda: inline.submit(task, kwargs, lock=lock))


def defer_now(task: str, *, lock: str | None = None, **kwargs: Any) -> None:
    """Queue ``task`` on its own (after a commit, from outside any transaction)."""
    if not has_app_context():
        return
    if mode() == "queue":
        from server.extensions import db
        from server.jobs.queue import defer_on

        with db.engine.begin() as connection:
            defer_on(connection, task, lock=lock, schema=settings()["JOBS_SCHEMA"], **kwargs)
        return
    runner().submit(task, kwargs, lock=lock)
