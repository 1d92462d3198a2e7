"""Department webhooks: signed, written with the move, sent after it, retried, never blocking."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from client_sync.testing import LiveServer
from server import webhook_sender
from server.extensions import db
from server.models import WebhookDelivery
from server.models.types import utcnow
from server.services import webhooks
from server.services.escalation import escalate_overdue
from tests.server.case_support import CaseWorld


class Receiver:
    """A webhook endpoint on loopback that records what it gets and answers as told."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []  # answers to give, in order; then 200
        self.gate = threading.Event()  # the answer waits for it
        self.gate.set()
        self.got = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()},
                                          body))
                receiver.got.set()
                receiver.gate.wait(10)
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def w(factory, monkeypatch, app, receiver) -> Iterator[CaseWorld]:
    monkeypatch.setitem(app.config, "WEBHOOKS_ASYNC", False)
    world = CaseWorld(factory, monkeypatch)
    world.department("WATER", webhook_url=receiver.url, webhook_secret="water-secret")
    yield world
    app.extensions["gridwork.webhook_sender"].stop()


def _deliveries() -> list[WebhookDelivery]:
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_a_move_on_a_department_case_queues_a_delivery_with_the_step(w):
    report = w.report()
    w.walk(report.id, "accepted")
    assert _deliveries() == []  # no department yet: nobody to tell
    w.walk(report.id, "dispatched")
    (delivery,) = _deliveries()
    assert delivery.delivered_at is None and delivery.attempts == 0
    assert delivery.payload["step"]["action"] == "dispatch"
    assert delivery.payload["department"] == "WATER"
    assert delivery.payload["case"]["deadline_at"] is not None


def test_the_post_is_signed_with_hmac_sha256_of_the_exact_body(w, receiver):
    report = w.report()
    w.walk(report.id, "dispatched")
    run = webhooks.deliver_due(db.session)
    assert (run.sent, run.failed) == (1, 0)
    ((headers, body),) = receiver.requests
    expected = hmac.new(b"water-secret", body, hashlib.sha256).hexdigest()
    assert headers["x-gridwork-signature"] == f"sha256={expected}"
    assert headers["content-type"].startswith("application/json")
    payload = json.loads(body)
    assert (payload["report_id"], payload["step"]["to_status"]) == (report.id, "dispatched")
    assert _deliveries()[0].delivered_at is not None


def test_a_failed_send_is_retried_with_backoff_then_given_up(w, receiver, app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_MAX_ATTEMPTS", 3)
    receiver.statuses = [500, 503, 500]
    report = w.report()
    w.walk(report.id, "dispatched")

    before = utcnow()
    assert webhooks.deliver_due(db.session).failed == 1
    (delivery,) = _deliveries()
    assert delivery.attempts == 1 and delivery.last_error.startswith("HTTP 500")
    assert delivery.next_attempt_at >= before + timedelta(seconds=30)
    assert webhooks.deliver_due(db.session).failed == 0  # not due yet: nothing sent
    assert len(receiver.requests) == 1

    later = utcnow() + timedelta(hours=2)
    assert webhooks.deliver_due(db.session, now=later).failed == 1
    assert webhooks.deliver_due(db.session, now=later + timedelta(hours=2)).gave_up == 1
    (delivery,) = _deliveries()
    assert (delivery.attempts, delivery.next_attempt_at, delivery.delivered_at) == (3, None, None)
    assert webhooks.deliver_due(db.session, everything=True).sent == 0
    assert len(receiver.requests) == 3


def test_backoff_doubles_from_30_seconds_up_to_an_hour():
    assert [webhooks.backoff_seconds(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert webhooks.backoff_seconds(20) == 3600


def test_a_refused_move_notifies_nobody(w):
    report = w.report()
    w.walk(report.id, "dispatched")
    webhooks.deliver_due(db.session)
    refused = w.move(w.actor("dept_WATER"), report.id, "handle")  # no after-photo: 422
    assert refused.status_code == 422
    assert len(_deliveries()) == 1


def test_the_sender_thread_posts_after_the_commit_and_never_holds_up_the_move(w, receiver, app,
                                                                              monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOKS_ASYNC", True)
    assert webhook_sender.start(app)  # as the serving process does (server.wsgi)
    report = w.report()
    w.walk(report.id, "dispatched")
    assert receiver.got.wait(10), "the background sender did not post the dispatch"
    receiver.got.clear()
    receiver.gate.clear()  # the receiver now hangs until we let it answer

    water = w.actor("dept_WATER")
    answer = w.move(water, report.id, "handle", photo_ids=[w.photo(water)])
    assert answer.status_code == 201  # answered while the receiver still hangs
    assert receiver.got.wait(10)
    handled = [d for d in _deliveries() if d.payload["step"]["action"] == "handle"]
    assert handled[0].delivered_at is None
    receiver.gate.set()
    for _ in range(100):
        if all(d.delivered_at for d in _deliveries()):
            break
        threading.Event().wait(0.1)
    assert all(d.delivered_at for d in _deliveries())


def test_escalation_of_an_overdue_case_is_sent_to_the_department(w, receiver):
    report = w.report()
    w.walk(report.id, "dispatched")
    db.session.refresh(report)
    w.set_time(report.deadline_at + timedelta(minutes=5))
    assert escalate_overdue(db.session) == [report.id]
    webhooks.deliver_due(db.session)
    events = [json.loads(body)["event"] for _h, body in receiver.requests]
    assert events == ["case.transition", "case.escalated"]


def test_cli_delivers_pending_ones_and_prints_the_derived_signing_key(w, receiver, app):
    w.department("WATER", webhook_secret=None)
    report = w.report()
    w.walk(report.id, "dispatched")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["webhooks", "deliver"])
    assert result.exit_code == 0 and "Webhooks sent: 1" in result.output
    key = runner.invoke(args=["webhooks", "secret", "WATER"]).output.strip()
    ((headers, body),) = receiver.requests
    assert headers["x-gridwork-signature"] == webhooks.sign(key, body)
    assert runner.invoke(args=["webhooks", "secret", "NOPE"]).exit_code != 0


def test_the_sender_wakes_only_after_the_commit(w, receiver, app, monkeypatch):
    """A move queues its delivery; the running sender is woken when the request commits,
    not while the service runs (the row would not be visible yet)."""
    monkeypatch.setitem(app.config, "WEBHOOKS_ASYNC", True)
    sender = webhook_sender.sender_of(app)
    assert sender.start()
    thread = sender.thread
    woken: list[bool] = []
    real_wake = sender.wake

    def wake() -> None:
        with db.engine.connect() as other:  # what another connection (the sender) sees
            count = other.scalar(select(func.count()).select_from(WebhookDelivery))
        woken.append(bool(count))
        real_wake()

    monkeypatch.setattr(sender, "wake", wake)
    report = w.report()
    w.walk(report.id, "dispatched")
    assert woken and all(woken)  # woken, and every time with the delivery already visible
    assert receiver.got.wait(10)
    assert sender.thread is thread  # the one the app started: the move started none


def _sender_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "gridwork-webhooks" and t.is_alive()]


def test_a_move_queues_and_wakes_but_never_starts_a_sender(w, app, monkeypatch):
    """Outside a serving process (a command, a test) a move starts no thread: the row waits
    for the server's sender."""
    monkeypatch.setitem(app.config, "WEBHOOKS_ASYNC", True)
    before = _sender_threads()
    report = w.report()
    w.walk(report.id, "dispatched")
    (delivery,) = _deliveries()
    assert delivery.delivered_at is None
    assert webhook_sender.sender_of(app).thread is None
    assert _sender_threads() == before


def test_the_served_app_starts_its_sender_and_sends_what_waited(w, receiver, app, tmp_path):
    """gunicorn serving server.wsgi (as gridwork serve runs it) sends a delivery queued before
    it started, with no move to wake it."""
    report = w.report()
    w.walk(report.id, "dispatched")
    assert len(_deliveries()) == 1 and not receiver.requests
    with LiveServer(app.config["DATABASE_URL"], tmp_path / "media", workers=1,
                    env={"GRIDWORK_WEBHOOKS_ASYNC": "true"}):
        assert receiver.got.wait(20), "the served app's sender did not post"
    ((_headers, body),) = receiver.requests
    assert json.loads(body)["step"]["action"] == "dispatch"


def test_webhooks_run_is_the_sender_as_a_worker_until_sigterm(w, receiver, app, tmp_path):
    report = w.report()
    w.walk(report.id, "dispatched")
    env = {**os.environ, "GRIDWORK_DATABASE_URL": app.config["DATABASE_URL"],
           "GRIDWORK_INSTANCE_DIR": str(tmp_path), "GRIDWORK_SECRET_KEY": "worker-secret",
           "GRIDWORK_WEBHOOKS_ASYNC": "false"}  # the setting is the web servers'; run sends
    worker = subprocess.Popen([str(Path(sys.executable).parent / "gridwork"), "webhooks", "run"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert receiver.got.wait(20), "gridwork webhooks run did not post"
        for _ in range(100):  # the delivery is recorded once its answer came
            if _deliveries()[0].delivered_at is not None:
                break
            threading.Event().wait(0.1)
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=20)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert worker.returncode == 0, err
    assert "Traceback" not in err
    assert _deliveries()[0].delivered_at is not None
    assert len(receiver.requests) == 1
