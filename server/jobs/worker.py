"""``gridwork worker``: runs the queued jobs (procrastinate) until stopped.

Each task runs in a thread of the worker with an app context of its own. A failing task is
retried with backoff (``JOBS_RETRY_WAIT_S`` × attempt, ``JOBS_MAX_ATTEMPTS`` tries); the
periodic tasks (``server.jobs.tasks.PERIODIC``) are deferred by whichever worker runs, once
per minute (``JOBS_SWEEP_CRON``) between them all. The worker writes a heartbeat every
``JOBS_HEARTBEAT_S``; a job left ``doing`` by a worker whose heartbeat is ``JOBS_STALLED_S``
old (killed, or its host
lost) is put back to ``todo`` by any running worker (:func:`retry_stalled`), and runs again:
every task is safe to run twice, so a job is done once. SIGTERM or SIGINT stops the worker
after the jobs it runs finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import procrastinate
from flask import Flask

from server.jobs import settings
from server.jobs.inline import run_task
from server.jobs.queue import conninfo
from server.jobs.tasks import PERIODIC, TASKS

__all__ = ["build_worker_app", "retry_stalled", "run_worker"]

log = logging.getLogger(__name__)


def _runner(app: Flask, name: str) -> Callable[..., Any]:
    def run(timestamp: int | None = None, **kwargs: Any) -> None:  # periodic jobs get timestamp
        run_task(app, name, kwargs)

    run.__name__ = name.replace(".", "_")
    return run


def build_worker_app(app: Flask) -> procrastinate.App:
    """A procrastinate app with Gridwork's tasks, connected to the app's database."""
    cfg = settings(app.config)
    retry = procrastinate.RetryStrategy(max_attempts=int(cfg["JOBS_MAX_ATTEMPTS"]),
                                        linear_wait=cfg["JOBS_RETRY_WAIT_S"])
    queue_app = procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=conninfo(str(app.config["DATABASE_URL"]), str(cfg["JOBS_SCHEMA"]))))
    for name in TASKS:
        task = queue_app.task(name=name, retry=retry)(_runner(app, name))
        if name in PERIODIC:
            queue_app.periodic(cron=str(cfg["JOBS_SWEEP_CRON"]), periodic_id=name)(task)
    return queue_app


async def retry_stalled(queue_app: procrastinate.App, stalled_s: float) -> list[int]:
    """Put the jobs of workers silent for ``stalled_s`` back in the queue; their ids."""
    manager = queue_app.job_manager
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_s))
    for job in stalled:
        log.warning("job %s (%s) was left running by a worker that stopped; retrying it",
                    job.id, job.task_name)
        await manager.retry_job(job)
    return [job.id for job in stalled if job.id is not None]


async def _watch_stalled(queue_app: procrastinate.App, stalled_s: float) -> None:
    while True:
        try:
            await retry_stalled(queue_app, stalled_s)
        except Exception:  # the database restarting must not stop the worker
            log.exception("looking for stalled jobs failed; trying again")
        await asyncio.sleep(max(stalled_s / 3, 0.2))


def run_worker(app: Flask, *, concurrency: int | None = None, name: str | None = None) -> None:
    """Run jobs until SIGTERM or SIGINT (the ``gridwork worker`` command)."""
    cfg = settings(app.config)
    queue_app = build_worker_app(app)
    stalled_s = float(cfg["JOBS_STALLED_S"])

    async def main() -> None:
        async with queue_app.open_async():
            watcher = asyncio.create_task(_watch_stalled(queue_app, stalled_s))
            try:
                await queue_app.run_worker_async(
                    concurrency=concurrency or int(cfg["JOBS_CONCURRENCY"]),
                    name=name or "gridwork-worker",
                    fetch_job_polling_interval=float(cfg["JOBS_POLL_S"]),
                    update_heartbeat_interval=float(cfg["JOBS_HEARTBEAT_S"]),
                    stalled_worker_timeout=stalled_s, install_signal_handlers=True)
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    asyncio.run(main())
