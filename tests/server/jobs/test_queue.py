"""The city tier's job queue (procrastinate on PostgreSQL) and ``gridwork worker``.

The job row is written in the transaction of the data it is about; a real worker process
runs it; a worker killed (SIGKILL) in the middle of a job leaves it to another worker,
which finishes it: the job ends done, once.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from server.jobs.queue import apply_schema, drop_schema
from tests.server.storage.imagegen import make_jpeg

pytestmark = pytest.mark.postgres_only
REPO = Path(__file__).resolve().parents[3]
LAUNCHER = Path(__file__).with_name("worker_launcher.py")


@pytest.fixture(scope="module")
def jobs_schema(test_database: Any) -> Iterator[str]:
    """procrastinate's schema for this run (named after the run's own schema)."""
    if test_database.dialect != "postgresql":
        pytest.skip("the job queue runs on PostgreSQL")
    schema = f"{test_database.schema}_jobs"
    engine = create_engine(test_database.url)
    with engine.begin() as conn:
        apply_schema(conn, schema)
    yield schema
    with engine.begin() as conn:
        drop_schema(conn, schema)
    engine.dispose()


@pytest.fixture
def queue_app(make_app: Any, jobs_schema: str, tmp_path: Path) -> Any:
    """An app with GRIDWORK_JOBS=queue on a clean queue and photo folder of its own."""
    app = make_app(JOBS="queue", JOBS_SCHEMA=jobs_schema, MEDIA_DIR=str(tmp_path / "media"))
    _jobs_sql(app, f'DELETE FROM "{jobs_schema}".procrastinate_jobs')
    return app


def _jobs_sql(app: Any, sql: str, **params: Any) -> list[Any]:
    from server.extensions import db

    with app.app_context(), db.engine.begin() as conn:
        # procrastinate's triggers name its tables without a schema
        conn.execute(text("SELECT set_config('search_path', :s, true)"),
                     {"s": app.config["JOBS_SCHEMA"]})
        result = conn.execute(text(sql), params)
        return list(result) if result.returns_rows else []


def _jobs(app: Any, task: str | None = "photos.derive") -> list[Any]:
    """The queue's jobs (of ``task``; every one with None), oldest first."""
    schema = app.config["JOBS_SCHEMA"]
    rows = _jobs_sql(app, f'SELECT id, task_name, status, attempts, args FROM "{schema}".'
                          "procrastinate_jobs ORDER BY id")
    return [row for row in rows if task is None or row.task_name == task]


def _upload(app: Any, actor: Any, data: bytes) -> dict[str, Any]:
    answer = app.test_client().post(
        "/api/v1/photos", data={"file": (io.BytesIO(data), "p.jpg")}, headers=actor.headers,
        content_type="multipart/form-data")
    assert answer.status_code == 201, answer.get_json()
    body: dict[str, Any] = answer.get_json()
    return body


def _worker(app: Any, marks: Path, *, pause_s: float = 0.0,
            sweep_cron: str = "* * * * *") -> subprocess.Popen[bytes]:
    """``gridwork worker`` as a process of its own, heartbeat 0.5 s, stalled after 3 s."""
    env = {**os.environ, "GRIDWORK_DATABASE_URL": app.config["DATABASE_URL"],
           "GRIDWORK_MEDIA_DIR": app.config["MEDIA_DIR"], "GRIDWORK_SECRET_KEY": "worker-test",
           "GRIDWORK_INSTANCE_DIR": str(marks), "GRIDWORK_JOBS": "queue",
           "GRIDWORK_JOBS_SCHEMA": app.config["JOBS_SCHEMA"], "GRIDWORK_JOBS_POLL_S": "0.2",
           "GRIDWORK_JOBS_HEARTBEAT_S": "0.5", "GRIDWORK_JOBS_STALLED_S": "3",
           "GRIDWORK_JOBS_RETRY_WAIT_S": "0.2", "GRIDWORK_TEST_JOB_MARKS": str(marks),
           "GRIDWORK_TEST_JOB_PAUSE_S": str(pause_s), "GRIDWORK_LOG_LEVEL": "WARNING",
           "GRIDWORK_JOBS_SWEEP_CRON": sweep_cron}
    with (marks / "worker.log").open("ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, str(LAUNCHER)], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=log)


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_derivative_job_is_written_with_the_photo_and_refused_twice(queue_app, factory):
    worker = factory.actor("grid_worker")
    photo = _upload(queue_app, worker, make_jpeg(800, 600))
    jobs = _jobs(queue_app, None)
    assert [(j.task_name, j.status, j.args) for j in jobs] == [
        ("photos.derive", "todo", {"sha256": photo["sha256"]})]
    client = queue_app.test_client()
    for _ in range(2):  # asking again while it waits adds no second job (its queueing lock)
        pending = client.get(f"/api/v1/photos/{photo['id']}/display", headers=worker.headers)
        assert pending.status_code == 202 and pending.headers["Retry-After"] == "2"
    assert len(_jobs(queue_app)) == 1


def test_a_photo_that_rolls_back_leaves_no_job(queue_app, factory, tmp_path):
    """The job row is in the photo's transaction: no photo row, no job."""
    import hashlib

    from server.extensions import db
    from server.services.photos import accept_photo

    worker = factory.actor("grid_worker")
    data = make_jpeg(640, 480)
    with queue_app.app_context():
        src = tmp_path / "upload.jpg"
        src.write_bytes(data)
        accept_photo(db.session, worker.user, src, hashlib.sha256(data).hexdigest(),
                     client_uuid="6a1f5f2e-8a55-4f7e-9c1e-3d2b1a0f9e88")
        db.session.rollback()
    assert _jobs(queue_app, None) == []


def test_a_worker_killed_mid_job_leaves_it_to_another_which_does_it_once(
        queue_app, factory, tmp_path):
    """SIGKILL the worker while it makes a photo's derivatives; a second worker sees the first
    one's heartbeat stop, takes the job up again and finishes it: one job, succeeded on its
    second attempt, the derivatives made once, by the second worker."""
    marks = tmp_path / "marks"
    marks.mkdir()
    worker = factory.actor("grid_worker")
    photo = _upload(queue_app, worker, make_jpeg(1600, 1200, texture=20))
    first = _worker(queue_app, marks, pause_s=60)
    try:
        _wait(lambda: (marks / f"started-{first.pid}").exists(), 30, "the first worker to start")
        assert [j.status for j in _jobs(queue_app)] == ["doing"]
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        _stop(first)
    second = _worker(queue_app, marks)
    try:
        _wait(lambda: [j.status for j in _jobs(queue_app)] == ["succeeded"], 60,
              "the second worker to finish the job")
    finally:
        _stop(second)
    (job,) = _jobs(queue_app)
    assert job.task_name == "photos.derive" and job.attempts == 2
    assert (marks / "finished").read_text().split() == [str(second.pid)]
    shown = queue_app.test_client().get(f"/api/v1/photos/{photo['id']}/display",
                                         headers=worker.headers)
    assert shown.status_code == 200 and shown.mimetype == "image/jpeg"


def test_a_failing_job_is_retried_by_the_worker(queue_app, factory, tmp_path):
    """The original is missing at first: the job fails, is retried with backoff, and
    succeeds once the original is back."""
    marks = tmp_path / "marks"
    marks.mkdir()
    worker = factory.actor("grid_worker")
    photo = _upload(queue_app, worker, make_jpeg(640, 480))
    sha256 = photo["sha256"]
    original = Path(queue_app.config["MEDIA_DIR"]) / "original" / sha256[:2] / sha256[2:4] / sha256
    aside = tmp_path / "aside"
    original.rename(aside)
    process = _worker(queue_app, marks)
    try:
        _wait(lambda: _jobs(queue_app)[0].attempts >= 2, 30, "a failed attempt and a retry")
        aside.rename(original)
        _wait(lambda: _jobs(queue_app)[0].status == "succeeded", 30, "the job to succeed")
    finally:
        _stop(process)
    assert _jobs(queue_app)[0].attempts >= 2


def test_a_committed_case_move_queues_the_webhook_job(queue_app):
    """With GRIDWORK_JOBS=queue no web process sends webhooks: a wake queues the job."""
    from server.webhook_sender import sender_of

    sender = sender_of(queue_app)
    assert sender.start() is False and sender.thread is None
    with queue_app.app_context():
        sender.wake()
        sender.wake()  # the lock: one job waits, not two
    assert [(j.task_name, j.status) for j in _jobs(queue_app, None)] == [
        ("webhooks.deliver", "todo")]


def test_migration_0006_makes_the_queue_schema_and_its_downgrade_removes_it(
        test_database, tmp_path):
    from flask_migrate import downgrade, upgrade

    from server import create_app
    from server.extensions import db
    from tests.dbsetup import make_test_database

    if test_database.dialect != "postgresql":
        pytest.skip("the job queue runs on PostgreSQL")
    fresh = make_test_database(tmp_path)
    fresh.create()
    schema = f"{fresh.schema}_jobs"
    app = create_app({"TESTING": True, "DATABASE_URL": fresh.url, "SECRET_KEY": "x",
                      "INSTANCE_DIR": str(tmp_path), "JOBS_SCHEMA": schema})
    present = text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s "
                   "AND table_name IN ('procrastinate_jobs', 'procrastinate_workers')")
    try:
        with app.app_context():
            upgrade()
            with db.engine.connect() as conn:
                assert conn.scalar(present, {"s": schema}) == 2
            downgrade(revision="0005")
            with db.engine.connect() as conn:
                assert conn.scalar(present, {"s": schema}) == 0
            db.engine.dispose()
    finally:
        engine = create_engine(test_database.url)
        with engine.begin() as conn:
            drop_schema(conn, schema)
        engine.dispose()
        fresh.drop()


def test_the_worker_escalates_an_overdue_case_and_sends_each_webhook_once(
        queue_app, factory, monkeypatch, app, tmp_path):
    """The sweep runs as a periodic job of the worker (here every second): it escalates the
    overdue case, its commit queues the delivery job, and the department gets the dispatch
    and the escalation, once each."""
    import json
    from datetime import UTC, datetime, timedelta

    from server.extensions import db
    from server.models import CaseStep, Report
    from tests.server.case_support import CaseWorld
    from tests.server.test_webhooks import Receiver

    receiver = Receiver()
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setitem(app.config, "WEBHOOKS_ASYNC", False)
    try:
        world = CaseWorld(factory, monkeypatch)
        world.department("WATER", webhook_url=receiver.url, webhook_secret="water-secret")
        report = world.report()
        world.walk(report.id, "dispatched")
        db.session.refresh(report)
        report.deadline_at = datetime.now(UTC) - timedelta(hours=1)
        db.session.commit()
        process = _worker(queue_app, marks, sweep_cron="* * * * * *")
        try:
            _wait(lambda: len(receiver.requests) >= 2, 45, "the dispatch and the escalation")
            time.sleep(2.5)  # more sweeps and passes: nothing is sent again
        finally:
            _stop(process)
    finally:
        receiver.close()
    events = sorted(json.loads(body)["event"] for _headers, body in receiver.requests)
    assert events == ["case.escalated", "case.transition"]
    db.session.expire_all()
    assert db.session.get(Report, report.id).escalated_at is not None
    steps = db.session.scalars(select(CaseStep.action).where(CaseStep.report_id == report.id))
    assert list(steps).count("escalate") == 1
