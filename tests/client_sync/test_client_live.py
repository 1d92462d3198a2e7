"""SyncClient against a live server process: push, refusals, login, resume, pull, the loop."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from client_sync.client import SyncClient
from client_sync.exceptions import ValidationError
from client_sync.testing import FlakyProxy, LiveServer
from server.extensions import db
from server.models import ApiToken, Household, Photo, Report, Visit
from server.storage import PhotoStore
from tests.client_sync.conftest import make_client, noisy_jpeg
from tests.factories import PASSWORD, Actor, Factory

G1 = Factory.G1_CENTER
G2 = Factory.G2_CENTER


def photo_file(folder: Path, name: str = "IMG_0001.jpg", size: int = 96) -> Path:
    return noisy_jpeg(folder / name, size, size * 3 // 4, seed=size)


def stored_sha256(photo_id: str, server: LiveServer) -> str:
    """The sha256 of the bytes the live server stored for a photo."""
    photo = db.session.get(Photo, photo_id)
    data = PhotoStore(server.media_dir).path("original", photo.sha256).read_bytes()
    return hashlib.sha256(data).hexdigest()


def count(model: Any) -> int:
    db.session.commit()  # a fresh snapshot of what the server process wrote
    return db.session.scalar(select(func.count()).select_from(model))


def test_queued_report_household_and_visit_reach_the_server_once(
        device: SyncClient, tmp_path: Path, live_server: LiveServer) -> None:
    photo = photo_file(tmp_path / "camera")
    report = device.queue_report(category="garbage", lat=G1[0], lon=G1[1], photos=[photo],
                                 description="北河沿垃圾堆积")
    home = device.queue_household(door="301", head_name="王芳", lat=G1[0], lon=G1[1])
    visit = device.queue_visit(household_client_uuid=home, outcome="met", lat=G1[0],
                               lon=G1[1], notes="一切正常")
    result = device.sync()
    assert (result.pushed, result.photos, result.failed, result.pending) == (3, 1, 0, 0)
    assert device.sync().pushed == 0  # nothing twice
    assert (count(Report), count(Household), count(Visit), count(Photo)) == (1, 1, 1, 1)
    stored = db.session.scalar(select(Report).where(Report.client_uuid == report))
    assert stored_sha256(stored.photos[0].id, live_server) == \
        hashlib.sha256(photo.read_bytes()).hexdigest()
    v = db.session.scalar(select(Visit).where(Visit.client_uuid == visit))
    assert v.household.client_uuid == home
    assert device.outbox.get(report).server_id == str(stored.id)


def test_invalid_record_is_refused_at_capture_with_field_errors(device: SyncClient) -> None:
    with pytest.raises(ValidationError) as caught:
        device.queue_visit(household_id=1, outcome="asleep", lat=G1[0], lon=200.0)
    assert {"outcome", "location"} <= set(caught.value.errors)
    with pytest.raises(ValidationError) as caught:
        device.queue_visit(household_client_uuid="2b0e7d4c-7f0a-4e43-8f65-6c1c7a1c1d11",
                           outcome="met", lat=G1[0], lon=G1[1])
    assert "household_client_uuid" in caught.value.errors
    assert device.status().pending == 0


def test_server_refusal_lands_in_failed_with_field_errors_and_the_rest_goes_through(
        device: SyncClient) -> None:
    late = datetime.now(UTC) + timedelta(days=3)  # only the server knows "now" for sure
    outside = device.queue_household(door="9", head_name="赵六", lat=G2[0], lon=G2[1])
    blocked = device.queue_visit(household_client_uuid=outside, outcome="met", lat=G2[0],
                                 lon=G2[1])
    home = device.queue_household(door="10", head_name="钱七", lat=G1[0], lon=G1[1])
    future = device.queue_visit(household_client_uuid=home, outcome="met", lat=G1[0],
                                lon=G1[1], visited_at=late)
    fine = [device.queue_visit(household_client_uuid=home, outcome="not_home", lat=G1[0],
                               lon=G1[1]) for _ in range(3)]
    result = device.sync()
    assert result.failed == 2 and result.pushed == 4
    assert result.blocked == 1 and result.pending == 0
    failed = {item.client_uuid: item.last_error for item in device.failed()}
    assert set(failed) == {outside, future}
    assert failed[future]["status"] == 422 and "visited_at" in failed[future]["errors"]
    assert failed[outside]["status"] == 403
    assert [i.client_uuid for i in device.blocked()] == [blocked]
    assert all(device.outbox.get(uid).state == "done" for uid in fine)


def test_retry_sends_a_refused_record_again_after_the_cause_is_fixed(
        device: SyncClient, worker: Actor, factory: Factory) -> None:
    outside = device.queue_household(door="11", head_name="孙八", lat=G2[0], lon=G2[1])
    child = device.queue_visit(household_client_uuid=outside, outcome="met", lat=G2[0],
                               lon=G2[1])
    assert device.sync().failed == 1
    worker.user.grids.append(factory.grid("G2"))  # the secretary widens the worker's grids
    db.session.commit()
    device.retry(outside)
    result = device.sync()
    assert result.pushed == 2 and result.failed == 0
    assert device.outbox.get(child).state == "done"


def test_discarded_record_is_gone_and_its_dependants_stay_held(device: SyncClient) -> None:
    outside = device.queue_household(door="12", head_name="周九", lat=G2[0], lon=G2[1])
    child = device.queue_visit(household_client_uuid=outside, outcome="met", lat=G2[0],
                               lon=G2[1])
    device.sync()
    device.discard(outside)
    assert device.failed() == []
    assert [i.client_uuid for i in device.blocked()] == [child]


def test_revoked_token_holds_everything_until_login(device: SyncClient, worker: Actor) -> None:
    uid = device.queue_household(door="13", head_name="吴十", lat=G1[0], lon=G1[1])
    for token in db.session.scalars(select(ApiToken).where(ApiToken.user_id == worker.id)):
        token.revoked_at = datetime.now(UTC)
    db.session.commit()
    result = device.sync()
    assert result.login_needed and result.pushed == 0
    assert device.status().login_needed
    assert device.outbox.get(uid).state == "ready" and device.outbox.get(uid).attempts == 0
    assert device.sync().login_needed  # no request is even tried
    device.login(worker.user.username, PASSWORD)
    assert device.sync().pushed == 1


def test_token_is_kept_in_the_data_dir_readable_only_by_its_owner(
        device: SyncClient, live_server: LiveServer) -> None:
    path = device.data_dir / "credentials.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert saved["token"].startswith("gw_") and saved["server_url"] == live_server.url
    device.close()
    with SyncClient(None, device.data_dir) as again:  # the server is remembered too
        assert again.server_url == live_server.url and not again.login_needed


def test_photo_upload_cut_mid_stream_resumes_from_the_server_offset(
        tmp_path: Path, live_server: LiveServer, worker: Actor) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    photo = photo_file(tmp_path / "camera", size=320)
    size = photo.stat().st_size
    chunk = 8 * 1024
    assert size > 4 * chunk
    with FlakyProxy(live_server.address, seed=1, cut_uploads=1.0) as proxy:
        client = make_client(proxy.url, tmp_path / "phone", chunk_size=chunk,
                             on_event=lambda name, **d: events.append((name, d)))
        proxy.enabled = False
        client.login(worker.user.username, PASSWORD)
        uid = client.queue_report(category="garbage", lat=G1[0], lon=G1[1], photos=[photo])
        armed = threading.Event()

        def cut_third_chunk(name: str, **data: Any) -> None:
            events.append((name, data))
            if name == "photo_chunk" and data["offset"] >= 2 * chunk and not armed.is_set():
                armed.set()
                proxy.enabled = True
            elif name == "photo_resume":
                proxy.enabled = False

        client.on_event = cut_third_chunk
        result = client.push(timeout=30)
        client.close()
    assert proxy.stats["cut_upload"] == 1
    assert result.pending == 0 and result.pushed == 1
    resumes = [d["offset"] for n, d in events if n == "photo_resume"]
    assert resumes and resumes[0] >= 2 * chunk
    sent = sum(d["length"] for n, d in events if n == "photo_chunk")
    assert sent - size <= chunk
    stored = db.session.scalar(select(Report).where(Report.client_uuid == uid))
    assert stored_sha256(stored.photos[0].id, live_server) == \
        hashlib.sha256(photo.read_bytes()).hexdigest()


def test_unreachable_server_leaves_everything_queued_with_backoff(tmp_path: Path,
                                                                  worker: Actor) -> None:
    with make_client("http://127.0.0.1:9", tmp_path / "phone", backoff_base=60.0,
                     backoff_cap=60.0, rng=lambda: 0.5) as client:
        client.credentials.save(server_url="http://127.0.0.1:9", token="gw_x")
        client.transport.token = "gw_x"
        uid = client.queue_household(door="1", head_name="郑一", lat=G1[0], lon=G1[1])
        before = time.time()
        result = client.sync()
        assert result.unreachable and result.pending == 1 and result.pushed == 0
        item = client.outbox.get(uid)
        assert item.state == "ready" and item.attempts == 1
        assert before + 29 <= item.next_attempt_at <= time.time() + 31  # jitter 0.5 of 60 s
        assert "Connection refused" in item.last_error["detail"]


class _Always503(http.server.BaseHTTPRequestHandler):
    requests_seen: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.requests_seen.append(self.path)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"type": "/problems/unavailable", "title": "Busy", "status": 503})
        self.send_response(503)
        self.send_header("Retry-After", "120")
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def busy_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Always503)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_retry_after_is_honoured_and_a_post_is_sent_once(busy_server: str,
                                                         tmp_path: Path) -> None:
    _Always503.requests_seen.clear()
    with make_client(busy_server, tmp_path / "phone") as client:
        client.credentials.save(server_url=busy_server, token="gw_x")
        client.transport.token = "gw_x"
        uid = client.queue_household(door="2", head_name="冯二", lat=G1[0], lon=G1[1])
        before = time.time()
        client.sync()
        item = client.outbox.get(uid)
    assert item.next_attempt_at >= before + 119
    assert item.last_error["status"] == 503
    assert _Always503.requests_seen == ["/api/v1/sync/batch"]  # urllib3 did not resend it


def test_pull_fills_the_cache_for_offline_lookup_and_agenda(
        device: SyncClient, factory: Factory, worker: Actor) -> None:
    near = device.queue_household(door="101", head_name="陈一", lat=G1[0], lon=G1[1],
                                  tags=["yellow_ribbon"])
    far = device.queue_household(door="102", head_name="陈二", lat=28.8005, lon=113.0705)
    device.sync()
    assert device.pull() > 0
    assert {c["code"] for c in device.cache.categories()} >= {"garbage", "drain"}
    found = device.cache.find_households(text="陈一")
    assert [h["client_uuid"] for h in found] == [near]
    agenda = device.agenda(28.8006, 113.0706)
    assert [i.household["client_uuid"] for i in agenda] == [near, far]
    assert "yellow_ribbon_open" in agenda[0].reasons
    device.queue_visit(household_id=found[0]["id"], outcome="met", lat=G1[0], lon=G1[1])
    assert [i.household["client_uuid"] for i in device.agenda()] == [far]  # met, offline


def test_run_loop_syncs_when_the_server_answers_and_stops_cleanly(device: SyncClient) -> None:
    stop = threading.Event()
    loop = threading.Thread(target=device.run, args=(stop,), kwargs={"interval": 0.2})
    loop.start()
    uid = device.queue_household(door="201", head_name="林三", lat=G1[0], lon=G1[1])
    deadline = time.monotonic() + 20
    while device.outbox.get(uid).state != "done" and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    loop.join(timeout=10)
    assert not loop.is_alive()
    assert device.outbox.get(uid).state == "done"
    assert device.cache.pulled_at is not None


def test_a_slow_photo_never_holds_back_records_that_do_not_need_it(
        tmp_path: Path, live_server: LiveServer, worker: Actor) -> None:
    order: list[str] = []
    with FlakyProxy(live_server.address, latency_s=0.02) as slow:
        client = make_client(slow.url, tmp_path / "phone", chunk_size=2048,
                             on_event=lambda name, **d: order.append(name))
        client.login(worker.user.username, PASSWORD)
        big = photo_file(tmp_path / "camera", size=320)  # ~30 chunks through a slow link
        report = client.queue_report(category="garbage", lat=G1[0], lon=G1[1], photos=[big])
        homes = [client.queue_household(door=str(n), head_name="邻居", lat=G1[0], lon=G1[1])
                 for n in range(5)]
        result = client.sync()
        states = {client.outbox.get(uid).state for uid in [report, *homes]}
        client.close()
    assert result.pending == 0 and result.pushed == 6 and states == {"done"}
    assert order.index("batch_done") < order.index("photo_done")  # households went first
    assert order[-1] == "batch_done"  # the report, once its photo was in


def test_dependency_missing_is_retried_after_the_parent_not_failed(
        device: SyncClient) -> None:
    home = device.queue_household(door="301", head_name="韩一", lat=G1[0], lon=G1[1])
    visit = device.queue_visit(household_client_uuid=home, outcome="met", lat=G1[0],
                               lon=G1[1])
    device.pusher.backoff_base = device.pusher.backoff_cap = 60.0  # one try in this pass
    # The phone believes the household was sent, but the server never got it.
    claimed = device.outbox.next_batch(("household",))
    device.outbox.mark_done(claimed[0].client_uuid, server_id=None)
    result = device.sync()
    assert result.failed == 0 and result.pending == 1
    item = device.outbox.get(visit)
    assert item.state == "ready" and item.attempts == 1
    assert item.last_error["type"].endswith("/dependency_missing")
    assert item.last_error["missing"] == [{"kind": "household", "client_uuid": home}]


def test_a_post_whose_answer_is_lost_is_not_resent_by_the_transport(
        busy_server: str, tmp_path: Path) -> None:
    _Always503.requests_seen.clear()
    host, port = busy_server.removeprefix("http://").split(":")
    with FlakyProxy((host, int(port)), drop_after=1.0) as proxy, \
            make_client(proxy.url, tmp_path / "phone") as client:
        client.credentials.save(server_url=proxy.url, token="gw_x")
        client.transport.token = "gw_x"
        # One try in this pass: a full-jitter backoff may otherwise come due within it.
        client.pusher.backoff_base = client.pusher.backoff_cap = 60.0
        uid = client.queue_household(door="3", head_name="褚三", lat=G1[0], lon=G1[1])
        result = client.sync()
        assert client.outbox.get(uid).last_error["title"] == "ConnectionFailed"
    assert result.unreachable and proxy.stats["drop_after"] == 1
    assert _Always503.requests_seen == ["/api/v1/sync/batch"]


def test_an_upload_the_server_lost_starts_again_and_still_arrives_once(
        tmp_path: Path, live_server: LiveServer, worker: Actor) -> None:
    photo = photo_file(tmp_path / "camera", size=320)
    client = make_client(live_server.url, tmp_path / "phone", chunk_size=8 * 1024)
    client.login(worker.user.username, PASSWORD)
    uid = client.queue_report(category="garbage", lat=G1[0], lon=G1[1], photos=[photo])
    photo_id = client.outbox.get(uid).depends_on[0]

    def stop_after_two_chunks(name: str, **data: Any) -> None:
        if name == "photo_chunk" and data["offset"] >= 8 * 1024:
            client.stop()

    client.on_event = stop_after_two_chunks
    client.sync()
    item = client.outbox.get(photo_id)
    assert item.state == "ready" and item.upload_url and item.upload_offset > 0
    gone = client.transport.request("DELETE", item.upload_url,
                                    headers={"Tus-Resumable": "1.0.0"})
    assert gone.status_code == 204  # the server expired it (tus termination)
    client.on_event = lambda *_a, **_k: None
    result = client.sync()
    client.close()
    assert result.pushed == 1 and result.photos == 1 and result.failed == 0
    assert stored_sha256(photo_id, live_server) == hashlib.sha256(photo.read_bytes()).hexdigest()
