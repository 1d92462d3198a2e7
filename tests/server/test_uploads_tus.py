"""Resumable upload, tus 1.0.0: the protocol with the Flask client, and tuspy over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import io
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select
from tusclient.client import TusClient
from werkzeug.serving import make_server

from server.models import Photo, Upload
from server.models.types import utcnow
from tests.server.storage.imagegen import make_bomb, make_jpeg

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"
POINT = (28.8031, 113.0712)


def metadata(**pairs: str) -> str:
    """An Upload-Metadata header."""
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def create(client, actor, length: int, **meta: str):
    """POST /api/v1/uploads/ and return the response."""
    headers = {**actor.headers, **TUS, "Upload-Length": str(length)}
    if meta:
        headers["Upload-Metadata"] = metadata(**meta)
    return client.post("/api/v1/uploads/", headers=headers)


def patch(client, actor, location: str, data: bytes, offset: int, **headers: str):
    """PATCH a chunk at ``offset``."""
    return client.patch(location, data=data, headers={
        **actor.headers, **TUS, "Content-Type": OCTETS, "Upload-Offset": str(offset),
        **{k.replace("_", "-"): v for k, v in headers.items()}})


def head(client, actor, location: str):
    """HEAD an upload."""
    return client.head(location, headers={**actor.headers, **TUS})


def temp_file(media_dir: Path, location: str) -> Path:
    """The partial file of the upload at ``location``."""
    return media_dir / "tmp" / f"tus-{location.rsplit('/', 1)[1]}.part"


def test_options_advertises_version_extensions_checksums_and_max_size(client, app):
    resp = client.options("/api/v1/uploads/")
    assert resp.status_code == 204
    assert resp.headers["Tus-Version"] == "1.0.0"
    assert resp.headers["Tus-Resumable"] == "1.0.0"
    assert set(resp.headers["Tus-Extension"].split(",")) == {
        "creation", "creation-with-upload", "termination", "checksum", "expiration"}
    assert "sha1" in resp.headers["Tus-Checksum-Algorithm"].split(",")
    assert resp.headers["Tus-Max-Size"] == str(app.config["MAX_PHOTO_BYTES"])


def test_creation_then_chunks_then_photo_id_in_answer_and_head(client, factory, db):
    worker = factory.actor("grid_worker")
    data, photo_id = make_jpeg(800, 600, texture=30, gps=POINT), str(uuid.uuid4())
    resp = create(client, worker, len(data), filename="canal.jpg", content_type="image/jpeg",
                  client_uuid=photo_id)
    assert resp.status_code == 201 and resp.headers["Upload-Offset"] == "0"
    assert resp.headers["Tus-Resumable"] == "1.0.0" and "Upload-Expires" in resp.headers
    location = resp.headers["Location"]
    assert location.startswith("/api/v1/uploads/")
    half = len(data) // 2
    first = patch(client, worker, location, data[:half], 0)
    assert first.status_code == 204 and first.headers["Upload-Offset"] == str(half)
    assert "Photo-Id" not in first.headers
    state = head(client, worker, location)
    assert state.status_code == 200 and state.headers["Cache-Control"] == "no-store"
    assert (state.headers["Upload-Offset"], state.headers["Upload-Length"]) == (
        str(half), str(len(data)))
    last = patch(client, worker, location, data[half:], half)
    assert last.status_code == 204 and last.headers["Photo-Id"] == photo_id
    assert head(client, worker, location).headers["Photo-Id"] == photo_id
    photo = db.session.get(Photo, photo_id)
    assert photo.sha256 == hashlib.sha256(data).hexdigest()
    assert photo.filename == "canal.jpg"
    assert photo.exif_lat == pytest.approx(POINT[0], abs=1e-6)


def test_creation_with_upload_finishes_a_small_photo_in_one_request(client, factory, db):
    worker = factory.actor("grid_worker")
    data = make_jpeg(gps=POINT)
    resp = client.post("/api/v1/uploads/", data=data, headers={
        **worker.headers, **TUS, "Upload-Length": str(len(data)), "Content-Type": OCTETS})
    assert resp.status_code == 201
    assert resp.headers["Upload-Offset"] == str(len(data))
    assert db.session.get(Photo, resp.headers["Photo-Id"]) is not None


def test_missing_tus_resumable_is_412_with_the_supported_version(client, factory):
    worker = factory.actor("grid_worker")
    resp = client.post("/api/v1/uploads/", headers={**worker.headers, "Upload-Length": "10"})
    assert resp.status_code == 412 and resp.headers["Tus-Version"] == "1.0.0"
    assert resp.mimetype == "application/problem+json"


def test_upload_longer_than_the_limit_is_413_at_creation(client, factory, app):
    worker = factory.actor("grid_worker")
    resp = create(client, worker, app.config["MAX_PHOTO_BYTES"] + 1)
    assert resp.status_code == 413 and resp.headers["Tus-Resumable"] == "1.0.0"


@pytest.mark.parametrize("headers", [
    {"Upload-Metadata": "filename not-base64!"},
    {"Upload-Metadata": metadata(client_uuid="not-a-uuid")},
    {"Upload-Length": "-5"},
    {"Upload-Length": ""},
])
def test_malformed_creation_headers_are_400(client, factory, headers):
    worker = factory.actor("grid_worker")
    resp = client.post("/api/v1/uploads/", headers={
        **worker.headers, **TUS, "Upload-Length": "100", **headers})
    assert resp.status_code == 400 and resp.mimetype == "application/problem+json"


def test_patch_rules_content_type_offset_and_length(client, factory):
    worker = factory.actor("grid_worker")
    location = create(client, worker, 100).headers["Location"]
    wrong_type = client.patch(location, data=b"x" * 10, headers={
        **worker.headers, **TUS, "Content-Type": "image/jpeg", "Upload-Offset": "0"})
    assert wrong_type.status_code == 415
    wrong_offset = patch(client, worker, location, b"x" * 10, 5)
    assert wrong_offset.status_code == 409
    assert wrong_offset.json["type"] == "/problems/offset_mismatch"
    too_long = patch(client, worker, location, b"x" * 101, 0)
    assert too_long.status_code == 413
    assert head(client, worker, location).headers["Upload-Offset"] == "0"


def test_checksum_is_verified_per_chunk_and_a_bad_chunk_is_discarded(client, factory):
    worker = factory.actor("grid_worker")
    data = make_jpeg(400, 300, texture=20)
    location = create(client, worker, len(data)).headers["Location"]
    chunk = data[:1000]
    wrong = base64.b64encode(hashlib.sha1(b"other", usedforsecurity=False).digest()).decode()
    bad = patch(client, worker, location, chunk, 0, Upload_Checksum=f"sha1 {wrong}")
    assert bad.status_code == 460 and bad.json["type"] == "/problems/checksum_mismatch"
    assert head(client, worker, location).headers["Upload-Offset"] == "0"
    for algorithm in ("sha1", "md5", "sha256"):
        start = int(head(client, worker, location).headers["Upload-Offset"])
        piece = data[start:start + 1000]
        digest = base64.b64encode(hashlib.new(algorithm, piece).digest()).decode()
        good = patch(client, worker, location, piece, start,
                     Upload_Checksum=f"{algorithm} {digest}")
        assert good.status_code == 204
        assert good.headers["Upload-Offset"] == str(start + 1000)
    unknown = patch(client, worker, location, b"x", 3000, Upload_Checksum="crc32 AAAA")
    assert unknown.status_code == 400


def test_another_users_upload_is_404(client, factory):
    owner = factory.actor("grid_worker")
    other = factory.actor("grid_worker")
    location = create(client, owner, 100).headers["Location"]
    assert head(client, other, location).status_code == 404
    assert patch(client, other, location, b"x", 0).status_code == 404
    assert client.delete(location, headers={**other.headers, **TUS}).status_code == 404
    assert head(client, owner, location).status_code == 200


def test_termination_deletes_the_upload_and_its_bytes(client, factory, media_dir):
    worker = factory.actor("grid_worker")
    location = create(client, worker, 5000).headers["Location"]
    patch(client, worker, location, b"\xff\xd8\xff" + b"x" * 100, 0)
    assert temp_file(media_dir, location).stat().st_size == 103
    resp = client.delete(location, headers={**worker.headers, **TUS})
    assert resp.status_code == 204 and resp.headers["Tus-Resumable"] == "1.0.0"
    assert not temp_file(media_dir, location).exists()
    assert head(client, worker, location).status_code == 404


@pytest.mark.parametrize("data,status", [
    (b"plain text, not a photo\n" * 50, 415),
    (make_bomb(), 422),
], ids=["text", "bomb"])
def test_bad_image_at_the_last_byte_is_a_problem_and_leaves_nothing(
        client, factory, db, media_dir, data, status):
    worker = factory.actor("grid_worker")
    before = {p for p in media_dir.rglob("*") if p.is_file()}
    location = create(client, worker, len(data), filename="x.jpg").headers["Location"]
    resp = patch(client, worker, location, data, 0)
    assert resp.status_code == status and resp.mimetype == "application/problem+json"
    assert resp.headers["Tus-Resumable"] == "1.0.0"
    assert db.session.scalar(select(func.count()).select_from(Photo)) == 0
    assert db.session.scalar(select(func.count()).select_from(Upload)) == 0
    assert {p for p in media_dir.rglob("*") if p.is_file()} == before


def test_same_client_uuid_with_other_bytes_is_409(client, factory, db):
    worker = factory.actor("grid_worker")
    photo_id = str(uuid.uuid4())
    for data, status in ((make_jpeg(64, 48), 204), (make_jpeg(80, 60), 409)):
        location = create(client, worker, len(data), client_uuid=photo_id).headers["Location"]
        assert patch(client, worker, location, data, 0).status_code == status
    assert db.session.get(Photo, photo_id).width == 64


def test_expired_upload_is_gone_and_purge_removes_it_with_its_file(
        app, client, factory, db, media_dir):
    worker = factory.actor("grid_worker")
    location = create(client, worker, 5000).headers["Location"]
    patch(client, worker, location, b"\xff\xd8\xff" + b"x" * 100, 0)
    live = create(client, worker, 5000).headers["Location"]
    upload = db.session.get(Upload, location.rsplit("/", 1)[1])
    upload.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert head(client, worker, location).status_code == 410
    result = app.test_cli_runner().invoke(args=["uploads", "purge"])
    assert result.exit_code == 0, result.output
    assert "Purged 1 expired upload(s)" in result.output
    db.session.expire_all()
    assert db.session.get(Upload, location.rsplit("/", 1)[1]) is None
    assert not temp_file(media_dir, location).exists()
    assert temp_file(media_dir, live).exists()


# --- over real HTTP: tuspy, and a connection dropped mid-chunk ---------------------------


@pytest.fixture
def live_url(app) -> Iterator[str]:
    """The app served by a real HTTP server on loopback, in a thread of this process."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


def stored_original(media_dir: Path, sha256: str) -> Path:
    """Where the store keeps an original."""
    return media_dir / "original" / sha256[:2] / sha256[2:4] / sha256


def test_tuspy_uploads_a_6mb_photo_through_an_interruption(
        live_url, factory, db, media_dir):
    worker = factory.actor("grid_worker")
    data = make_jpeg(4000, 3000, texture=40, quality=95, gps=POINT, gps_form="deg_min")
    assert len(data) > 6_000_000
    photo_id, chunk = str(uuid.uuid4()), 1024 * 1024
    tus = TusClient(f"{live_url}/api/v1/uploads/", headers=worker.headers)
    meta = {"filename": "IMG_0637.jpg", "content_type": "image/jpeg", "client_uuid": photo_id}
    # file_stream, not file_path: tuspy leaves the files it opens by path unclosed.
    first = tus.uploader(file_stream=io.BytesIO(data), chunk_size=chunk, metadata=meta,
                         upload_checksum=True)
    first.set_url(first.create_url())
    for _ in range(3):
        first.upload_chunk()
    # The phone loses signal; later a new uploader asks the server where to resume.
    resumed = tus.uploader(file_stream=io.BytesIO(data), url=first.url, chunk_size=chunk,
                           upload_checksum=True)
    assert resumed.offset == 3 * chunk
    resumed.upload()
    assert resumed.request.response_headers["photo-id"] == photo_id
    sha256 = hashlib.sha256(data).hexdigest()
    photo = db.session.get(Photo, photo_id)
    assert photo.sha256 == sha256 and photo.size_bytes == len(data)
    assert hashlib.sha256(stored_original(media_dir, sha256).read_bytes()).hexdigest() == sha256
    assert (photo.exif_lat, photo.exif_lon) == (pytest.approx(POINT[0], abs=1e-6),
                                                pytest.approx(POINT[1], abs=1e-6))
    assert not (media_dir / "tmp" / f"tus-{first.url.rsplit('/', 1)[1]}.part").exists()


def _offset(url: str, headers: dict[str, str]) -> int:
    resp = requests.head(url, headers={**headers, **TUS}, timeout=10)
    return int(resp.headers["Upload-Offset"])


def _wait_for(check, seconds: float = 10.0) -> bool:
    """Poll ``check`` until it holds: the server thread works on its own time."""
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(check())


def test_chunk_cut_off_by_a_dropped_connection_keeps_what_arrived(live_url, factory, db):
    """Progress shows while a chunk streams in, what arrived stays when the line drops,
    and the client resumes from there."""
    worker = factory.actor("grid_worker")
    data = make_jpeg(4000, 3000, texture=40, quality=95, gps=POINT)
    tus = TusClient(f"{live_url}/api/v1/uploads/", headers=worker.headers)
    url = tus.uploader(file_stream=io.BytesIO(data)).create_url()
    sent = len(data) // 2
    host, port = live_url.removeprefix("http://").split(":")
    request_head = (
        f"PATCH {url.removeprefix(live_url)} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: {worker.headers['Authorization']}\r\nTus-Resumable: 1.0.0\r\n"
        f"Content-Type: {OCTETS}\r\nUpload-Offset: 0\r\nContent-Length: {len(data)}\r\n\r\n")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(request_head.encode() + data[:sent])
        # The request is still open (a half-open line looks the same): whole megabytes show.
        assert _wait_for(lambda: _offset(url, worker.headers) >= 1024 * 1024)
        assert _offset(url, worker.headers) <= sent
    assert _wait_for(lambda: _offset(url, worker.headers) == sent)
    resumed = tus.uploader(file_stream=io.BytesIO(data), url=url, chunk_size=1024 * 1024)
    assert resumed.offset == sent
    resumed.upload()
    photo = db.session.get(Photo, resumed.request.response_headers["photo-id"])
    assert photo.sha256 == hashlib.sha256(data).hexdigest()


def test_server_killed_while_making_the_photo_keeps_the_bytes_and_head_finishes_it(
        app, client, factory, db, monkeypatch):
    """The bytes moved into the photo store, then the process died before the row committed."""
    import server.services.uploads as uploads_service
    from server.services.photos import photo_store
    from server.storage import store_photo

    class Killed(BaseException):
        """Stands for SIGKILL: nothing after it runs, no cleanup handler catches it."""

    def dies_after_storing(session, user, src, sha256, **kwargs):
        store_photo(src, photo_store(), sha256=sha256)  # the bytes reach the store...
        raise Killed  # ...and the process dies before the Photo row is written

    worker = factory.actor("grid_worker")
    data, photo_id = make_jpeg(640, 480, texture=20, gps=POINT), str(uuid.uuid4())
    location = create(client, worker, len(data), client_uuid=photo_id).headers["Location"]
    real_accept = uploads_service.accept_photo
    monkeypatch.setattr(uploads_service, "accept_photo", dies_after_storing)
    with pytest.raises(Killed):
        patch(client, worker, location, data, 0)
    monkeypatch.setattr(uploads_service, "accept_photo", real_accept)  # the restarted server
    db.session.rollback()
    assert db.session.get(Photo, photo_id) is None
    state = head(client, worker, location)  # the client's first question after a restart
    assert state.status_code == 200
    assert state.headers["Photo-Id"] == photo_id
    assert db.session.get(Photo, photo_id).sha256 == hashlib.sha256(data).hexdigest()
    assert not any(temp_file(Path(app.config["MEDIA_DIR"]), location).parent.glob(
        f"tus-{location.rsplit('/', 1)[1]}*"))  # nothing of the upload is left in tmp/


def _streamed(first: bytes, rest: bytes, sent: threading.Event,
              go_on: threading.Event) -> Iterator[bytes]:
    """A chunked body: ``first``, then (once ``go_on`` is set, or after 2 s) ``rest``."""
    yield first
    sent.set()
    go_on.wait(2)
    yield rest


def test_two_patches_at_one_offset_store_the_bytes_that_passed_their_checksum(
        live_url, factory, db, media_dir):
    """One PATCH streams the photo with its right checksum; another, at the same offset at
    the same moment, sends other bytes under that checksum. The one that passed is the one
    whose bytes become the photo."""
    worker = factory.actor("grid_worker")
    good = make_jpeg(1600, 1200, texture=40, gps=POINT)
    assert len(good) > 4 * 64 * 1024  # the server reads 64 kB at a time: several reads
    other = bytes(reversed(good))
    digest = base64.b64encode(hashlib.sha1(good, usedforsecurity=False).digest()).decode()
    created = requests.post(f"{live_url}/api/v1/uploads/", timeout=10, headers={
        **worker.headers, **TUS, "Upload-Length": str(len(good))})
    url = f"{live_url}{created.headers['Location']}"
    headers = {**worker.headers, **TUS, "Content-Type": OCTETS, "Upload-Offset": "0",
               "Upload-Checksum": f"sha1 {digest}"}
    half_sent, other_done = threading.Event(), threading.Event()
    start = threading.Barrier(2)
    answers: dict[str, requests.Response] = {}

    def send_good() -> None:
        start.wait()
        half = 96 * 1024  # the server has written a read of it when the other arrives
        answers["good"] = requests.patch(url, headers=headers, timeout=30, data=_streamed(
            good[:half], good[half:], half_sent, other_done))

    def send_other() -> None:
        start.wait()
        half_sent.wait(5)  # while the good body is half way in
        answers["other"] = requests.patch(url, headers=headers, data=other, timeout=30)
        other_done.set()

    threads = [threading.Thread(target=send_good), threading.Thread(target=send_other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers["good"].status_code == 204, answers["good"].text
    assert answers["other"].status_code in (409, 460), answers["other"].text
    photo = db.session.get(Photo, answers["good"].headers["Photo-Id"])
    sha256 = hashlib.sha256(good).hexdigest()
    assert photo.sha256 == sha256
    assert stored_original(media_dir, sha256).read_bytes() == good
    assert list((media_dir / "tmp").glob("*.chunk-*")) == []


def test_a_user_may_keep_only_so_many_unfinished_uploads(client, factory, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_OPEN_UPLOADS_PER_USER", 2)
    worker, colleague = factory.actor("grid_worker"), factory.actor("grid_worker")
    first = create(client, worker, 1000).headers["Location"]
    assert create(client, worker, 1000).status_code == 201
    refused = create(client, worker, 1000)
    assert (refused.status_code, refused.mimetype) == (429, "application/problem+json")
    assert refused.json["type"] == "/problems/too_many_uploads"
    assert "DELETE" in refused.json["detail"] and int(refused.headers["Retry-After"]) >= 60
    assert create(client, colleague, 1000).status_code == 201  # a cap per user
    client.delete(first, headers={**worker.headers, **TUS})
    assert create(client, worker, 1000).status_code == 201


def test_the_bytes_a_user_declares_in_unfinished_uploads_are_capped(client, factory, app,
                                                                      monkeypatch):
    monkeypatch.setitem(app.config, "MAX_UPLOAD_BYTES_IN_FLIGHT_PER_USER", 100_000)
    worker = factory.actor("grid_worker")
    assert create(client, worker, 60_000).status_code == 201
    refused = create(client, worker, 60_000)
    assert (refused.status_code, refused.json["type"]) == (429, "/problems/too_many_uploads")
    data = make_jpeg(gps=POINT)  # a finished upload no longer counts
    done = client.post("/api/v1/uploads/", data=data, headers={
        **worker.headers, **TUS, "Upload-Length": str(len(data)), "Content-Type": OCTETS})
    assert done.status_code == 201 and done.headers["Photo-Id"]
    assert create(client, worker, 100_000 - 60_000).status_code == 201
