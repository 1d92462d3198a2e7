"""The hostile corpus (tests/hostile/corpus.py) against both upload channels.

For every entry, on every channel it applies to (one-shot ``POST /photos``, tus creation then
PATCH, tus creation-with-upload): the answer is problem+json with the status and slug the
corpus names; the server still answers ``/health`` with its database; no photo row appears;
the media folder (original/, display/, thumb/, tmp/) holds exactly the files it held before.
The few entries that are acceptable photos however odd (polyglots, 1 x 100,000 strips, absurd
EXIF GPS, odd file names) are stored with the values the corpus names and add only their own
three files.

An upload is *live* while the server would still take bytes for it: ``photo_id`` is null and
``expires_at`` is in the future. After a hostile exchange:

- a refusal at creation, or of the file at its last byte, leaves no upload row at all;
- a PATCH refused for the protocol (offset, checksum, type, length) leaves the upload live at
  the offset it had before, so an honest client can resume; a DELETE then removes the row and
  its bytes, and the folder is as it was;
- no upload is ever whole (offset = length) without its photo: a client would stop sending
  and never learn a Photo-Id.
"""

from __future__ import annotations

import base64
import io
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select
from werkzeug.test import TestResponse

from server.models import Photo, Upload
from server.models.types import utcnow
from tests.factories import Actor
from tests.hostile import corpus
from tests.hostile.corpus import FileEntry, OneShotAttack, Outcome, TusAttack

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"
PROBLEM = "application/problem+json"
FORM = f"multipart/form-data; boundary={corpus.BOUNDARY}"


@dataclass(frozen=True)
class State:
    """What a hostile request could leave behind: files, photo rows, upload rows."""

    files: frozenset[str]
    photos: frozenset[str]
    uploads: dict[str, tuple[int, str | None]]


@pytest.fixture
def media_dir(app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A media folder of this test's own: what it finds there, this test put there."""
    media = tmp_path / "media"
    monkeypatch.setitem(app.config, "MEDIA_DIR", str(media))
    return media


@pytest.fixture
def worker(app: Any, factory: Any, media_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Actor:
    """A grid worker uploading, with MAX_PHOTO_BYTES at the corpus's limit."""
    monkeypatch.setitem(app.config, "MAX_PHOTO_BYTES", corpus.LIMIT)
    return factory.actor("grid_worker")


def state(db: Any, media_dir: Path) -> State:
    """The files under the media folder and the photo and upload rows, now."""
    db.session.expire_all()
    files = frozenset(str(p.relative_to(media_dir)) for p in media_dir.rglob("*") if p.is_file())
    photos = frozenset(db.session.scalars(select(Photo.id)))
    uploads = {u.id: (u.offset, u.photo_id) for u in db.session.scalars(select(Upload))}
    return State(files, photos, uploads)


def live_uploads(db: Any) -> dict[str, int]:
    """Uploads the server would still take bytes for, with their offsets."""
    db.session.expire_all()
    rows = db.session.scalars(select(Upload).where(Upload.photo_id.is_(None),
                                                   Upload.expires_at > utcnow()))
    return {u.id: u.offset for u in rows}


def assert_sound(client: FlaskClient, db: Any) -> None:
    """The server answers /health with its database; no upload is whole without a photo."""
    health = client.get("/api/v1/health")
    assert health.status_code == 200 and health.get_json()["database"] == "ok"
    db.session.expire_all()
    zombies = db.session.scalars(select(Upload.id).where(
        Upload.photo_id.is_(None), Upload.offset >= Upload.length)).all()
    assert zombies == []


def assert_problem(resp: TestResponse, outcome: Outcome, *, head: bool = False) -> None:
    """The answer is the problem the corpus names."""
    assert resp.status_code == outcome.status, resp.get_data(as_text=True)[:400]
    assert resp.mimetype == PROBLEM
    if head:
        return
    problem = resp.get_json()
    assert problem["status"] == outcome.status and problem["title"] and problem["detail"]
    if outcome.slug:
        assert problem["type"] == f"/problems/{outcome.slug}"


def own_files(sha256: str) -> frozenset[str]:
    """The three stored files of one photo, relative to the media folder."""
    fan = f"{sha256[:2]}/{sha256[2:4]}"
    return frozenset({f"original/{fan}/{sha256}", f"display/{fan}/{sha256}.jpg",
                      f"thumb/{fan}/{sha256}.jpg"})


def metadata(**pairs: str) -> str:
    """An Upload-Metadata header."""
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def tus_create(client: FlaskClient, actor: Actor, length: int, *, meta: str,
               body: bytes | None = None,
               extra: dict[str, str | None] | None = None) -> TestResponse:
    """POST /uploads/ (with a first chunk when ``body`` is given); a None in ``extra`` drops
    that header."""
    headers: dict[str, str | None] = {**actor.headers, **TUS, "Upload-Length": str(length),
                                      "Upload-Metadata": meta}
    if body is not None:
        headers["Content-Type"] = OCTETS
    headers.update(extra or {})
    return client.post("/api/v1/uploads/", data=body,
                       headers={k: v for k, v in headers.items() if v is not None})


def tus_patch(client: FlaskClient, actor: Actor, location: str, patch: corpus.Patch,
              ) -> TestResponse:
    """Send ``patch`` to the upload at ``location``."""
    headers = {**actor.headers, **TUS, "Content-Type": OCTETS,
               "Upload-Offset": str(patch.offset), **patch.headers}
    if patch.chunked:  # no Content-Length: the server only learns the size as bytes arrive
        headers["Transfer-Encoding"] = "chunked"
        return client.patch(location, input_stream=io.BytesIO(patch.body), headers=headers,
                            environ_overrides={"wsgi.input_terminated": True})
    return client.patch(location, data=patch.body, headers=headers)


def send_one_shot(client: FlaskClient, actor: Actor, entry: FileEntry,
                  client_uuid: str) -> TestResponse:
    """The entry as ``POST /photos`` (client_uuid first, then the file)."""
    body = corpus.multipart([("client_uuid", None, client_uuid.encode()),
                             ("file", entry.filename, entry.data)])
    return client.post("/api/v1/photos", data=body, headers=actor.headers, content_type=FORM)


def send_tus(client: FlaskClient, actor: Actor, entry: FileEntry, client_uuid: str, *,
             with_upload: bool) -> TestResponse:
    """The entry through tus: creation then one PATCH, or creation-with-upload."""
    meta = metadata(filename=entry.filename, content_type="image/jpeg", client_uuid=client_uuid)
    created = tus_create(client, actor, len(entry.data), meta=meta,
                         body=entry.data if with_upload else None)
    if created.status_code != 201 or with_upload or not entry.data:
        return created
    return tus_patch(client, actor, created.headers["Location"], corpus.Patch(entry.data))


def check_outcome(db: Any, entry: FileEntry, outcome: Outcome, resp: TestResponse,
                  before: State, after: State, client_uuid: str) -> None:
    """A refusal leaves everything as it was; an acceptance adds one photo and its files."""
    if not outcome.accepted:
        assert_problem(resp, outcome)
        assert after == before
        return
    assert resp.status_code in (201, 204), resp.get_data(as_text=True)[:400]
    photo_id = resp.headers.get("Photo-Id") or resp.get_json()["id"]
    assert photo_id == entry.client_uuid or photo_id == client_uuid
    photo = db.session.get(Photo, photo_id)
    for name, value in entry.fields.items():
        assert getattr(photo, name) == value, name
    assert after.photos == before.photos | {photo_id}
    mine = own_files(photo.sha256)
    assert after.files - before.files == mine  # this test's own media folder: all fresh
    assert all(done == photo_id for _offset, done in after.uploads.values())


def _client_uuid(entry: FileEntry) -> str:
    return entry.client_uuid if entry.client_uuid is not None else str(uuid.uuid4())


FILES = [pytest.param(entry, id=entry.name) for entry in corpus.files()]


@pytest.mark.parametrize("entry", FILES)
def test_hostile_file_through_the_one_shot_upload(client, db, media_dir, worker, entry):
    before, client_uuid = state(db, media_dir), _client_uuid(entry)
    resp = send_one_shot(client, worker, entry, client_uuid)
    assert_sound(client, db)
    check_outcome(db, entry, entry.outcome("photos"), resp, before, state(db, media_dir),
                  client_uuid)


@pytest.mark.parametrize("with_upload", [False, True], ids=["patch", "creation-with-upload"])
@pytest.mark.parametrize("entry", FILES)
def test_hostile_file_through_tus(client, db, media_dir, worker, entry, with_upload):
    before, client_uuid = state(db, media_dir), _client_uuid(entry)
    resp = send_tus(client, worker, entry, client_uuid, with_upload=with_upload)
    assert_sound(client, db)
    check_outcome(db, entry, entry.outcome("tus"), resp, before, state(db, media_dir),
                  client_uuid)


@pytest.mark.parametrize("attack", [pytest.param(a, id=a.name)
                                    for a in corpus.one_shot_attacks()])
def test_hostile_one_shot_body_is_a_problem_and_leaves_nothing(
        client, db, media_dir, worker, attack: OneShotAttack):
    before = state(db, media_dir)
    resp = client.post("/api/v1/photos", data=attack.body, headers=worker.headers,
                       content_type=attack.content_type)
    assert_problem(resp, attack.expect)
    assert_sound(client, db)
    assert state(db, media_dir) == before


def _attack_upload_path(client: FlaskClient, actor: Actor, attack: TusAttack) -> None:
    for method in ("HEAD", "PATCH", "DELETE"):
        resp = client.open(attack.path, method=method, data=b"x" if method == "PATCH" else None,
                           headers={**actor.headers, **TUS, "Content-Type": OCTETS,
                                    "Upload-Offset": "0"})
        assert_problem(resp, attack.expect, head=method == "HEAD")


@pytest.mark.parametrize("attack", [pytest.param(a, id=a.name) for a in corpus.tus_attacks()])
def test_hostile_tus_exchange_is_a_problem_and_leaves_nothing_live(
        client, db, media_dir, worker, attack: TusAttack):
    before = state(db, media_dir)
    if attack.path is not None:
        _attack_upload_path(client, worker, attack)
    else:
        created = tus_create(client, worker, attack.length, meta=metadata(filename="x.jpg"),
                             body=attack.create_body, extra=dict(attack.create_headers))
        if attack.patch is None:
            assert_problem(created, attack.expect)
        else:
            assert created.status_code == 201, created.get_json()
            location = created.headers["Location"]
            assert_problem(tus_patch(client, worker, location, attack.patch), attack.expect)
            assert_sound(client, db)
            assert live_uploads(db) == {location.rsplit("/", 1)[1]: 0}
            assert client.delete(location, headers={**worker.headers, **TUS}).status_code == 204
    assert_sound(client, db)
    assert live_uploads(db) == {}
    assert state(db, media_dir) == before


def test_a_traversal_filename_never_writes_outside_the_media_dir(client, db, media_dir, worker):
    marker = f"escape-{uuid.uuid4().hex}"
    names = [f"../../../../{marker}", f"/tmp/{marker}", f"..\\..\\{marker}"]
    for number, name in enumerate(names):
        entry = FileEntry(name, "traversal", corpus.exif_jpeg(b""), corpus.ACCEPTED,
                          filename=name)
        assert send_one_shot(client, worker, entry, str(uuid.uuid4())).status_code == 201
        resp = send_tus(client, worker, entry, str(uuid.uuid4()), with_upload=bool(number))
        assert resp.status_code in (201, 204)
        assert db.session.get(Photo, resp.headers["Photo-Id"]).filename == name  # a label
    bases = [media_dir / "tmp", media_dir / "original" / "ab" / "cd", Path.cwd(), Path("/tmp")]
    assert not [anc / marker for base in bases for anc in (base, *base.parents)
                if (anc / marker).exists()]
    assert not list(media_dir.parents[1].rglob(f"*{marker}*"))


@pytest.mark.parametrize("name", ["jpeg_zip_polyglot", "jpeg_html_polyglot"])
def test_a_polyglot_reaches_browsers_only_re_encoded(client, factory, worker, name):
    """The bytes stay as uploaded (their hash is the photo's identity), but what a browser
    fetches is a fresh JPEG, and the original is typed image/jpeg, unsniffable, script-free."""
    entry = next(e for e in corpus.files() if e.name == name)
    photo = send_one_shot(client, worker, entry, str(uuid.uuid4())).get_json()
    for kind in ("display", "thumb"):
        image = client.get(f"/api/v1/photos/{photo['id']}/{kind}", headers=worker.headers)
        assert image.status_code == 200 and image.mimetype == "image/jpeg"
        assert b"PK\x03\x04" not in image.data and b"<script" not in image.data
        with Image.open(io.BytesIO(image.data)) as decoded:
            assert decoded.format == "JPEG"
    with client.get(f"/api/v1/photos/{photo['id']}/original",
                    headers=factory.actor("dispatcher").headers) as original:
        assert original.status_code == 200 and original.data == entry.data
        assert original.mimetype == "image/jpeg"
        assert original.headers["X-Content-Type-Options"] == "nosniff"
        assert "script-src 'self';" in original.headers["Content-Security-Policy"]


def test_the_corpus_exif_writer_makes_readable_gps_when_well_formed(client, worker):
    """So the absurd GPS entries read as no GPS for their absurdity, not for the writer."""
    for kind, lat in (("rational", ((28, 1), (48, 1), (11, 1))), ("double", (28.8031, 0.0, 0.0))):
        lon = ((113, 1), (4, 1), (26, 1)) if kind == "rational" else (113.0739, 0.0, 0.0)
        entry = FileEntry("control", "well-formed", corpus.exif_jpeg(
            corpus.exif_tiff([], gps=corpus.gps_tags(lat, lon, kind=kind))), corpus.ACCEPTED)
        resp = send_one_shot(client, worker, entry, str(uuid.uuid4()))
        assert resp.status_code == 201
        assert resp.get_json()["exif"]["lat"] == pytest.approx(28.8031, abs=1e-4)
        assert resp.get_json()["exif"]["lon"] == pytest.approx(113.0739, abs=1e-4)


def test_a_failure_after_the_bytes_are_stored_leaves_no_file_behind(
        client, db, media_dir, worker, monkeypatch):
    """Say the database goes away between storing the files and writing the row."""
    from server.services import photos

    def lost(*_args: Any) -> Any:
        raise RuntimeError("the database went away")

    record = photos._record
    monkeypatch.setattr(photos, "_record", lost)
    before = state(db, media_dir)
    entry = FileEntry("fresh", "fresh bytes", corpus.exif_jpeg(corpus.exif_tiff(
        [(0x010F, "ascii", uuid.uuid4().hex.encode() + b"\0")])), corpus.ACCEPTED)
    resp = send_one_shot(client, worker, entry, str(uuid.uuid4()))
    assert_problem(resp, Outcome(500, "server_error"))
    assert state(db, media_dir).files == before.files
    assert state(db, media_dir).photos == before.photos
    # Over tus the upload's own bytes stay (nothing else does), so the upload can still be
    # finished once the database is back, without sending the photo again.
    resp = send_tus(client, worker, entry, str(uuid.uuid4()), with_upload=True)
    assert_problem(resp, Outcome(500, "server_error"))
    after = state(db, media_dir)
    assert after.photos == before.photos
    assert {f for f in after.files - before.files if not f.startswith("tmp/tus-")} == set()
    upload = db.session.scalars(select(Upload)).one()
    assert upload.offset == upload.length and upload.photo_id is None
    assert f"tmp/tus-{upload.id}.part" in after.files, sorted(after.files)
    monkeypatch.setattr(photos, "_record", record)  # the database is back
    finished = client.head(f"/api/v1/uploads/{upload.id}",
                           headers={**worker.headers, "Tus-Resumable": "1.0.0"})
    assert "Photo-Id" in finished.headers, (finished.status_code, dict(finished.headers))
    assert not any(f.startswith("tmp/tus-") for f in state(db, media_dir).files)


# --- over real HTTP: gunicorn workers answer the whole corpus and stay up ----------------

@pytest.fixture
def live(app_config: dict[str, Any], tmp_path: Path) -> Any:
    """gunicorn as ``gridwork serve`` runs it, serving the test database, its photos in a
    folder of its own."""
    from client_sync.testing import LiveServer
    from server.request_limits import GUNICORN_LIMITS

    with LiveServer(app_config["DATABASE_URL"], tmp_path / "live-media", workers=2,
                    threads=2, args=GUNICORN_LIMITS) as server:
        yield server


def test_gunicorn_answers_the_whole_corpus_and_stays_up(db, worker, live, tmp_path):
    import requests

    session = requests.Session()
    session.headers.update(worker.headers)
    stored: set[str] = set()
    for entry in corpus.files():
        client_uuid = _client_uuid(entry)
        body = corpus.multipart([("client_uuid", None, client_uuid.encode()),
                                 ("file", entry.filename, entry.data)])
        one_shot = session.post(f"{live.url}/api/v1/photos", data=body,
                                headers={"Content-Type": FORM}, timeout=30)
        meta = metadata(filename=entry.filename, client_uuid=_client_uuid(entry))
        tus = session.post(f"{live.url}/api/v1/uploads/", data=entry.data, timeout=30, headers={
            **TUS, "Upload-Length": str(len(entry.data)), "Upload-Metadata": meta,
            "Content-Type": OCTETS})
        for resp, outcome in ((one_shot, entry.outcome("photos")), (tus, entry.outcome("tus"))):
            if outcome.accepted:
                assert resp.status_code == 201, (entry.name, resp.text[:300])
                stored.add(resp.headers.get("Photo-Id") or resp.json()["id"])
            else:
                assert (resp.status_code, resp.headers["Content-Type"]) == (
                    outcome.status, PROBLEM), (entry.name, resp.text[:300])
        assert session.get(f"{live.url}/api/v1/health", timeout=10).json()["database"] == "ok"
    # Display images and thumbs are a job after the commit (202 until made): wait for them.
    for photo_id in stored:
        for size in ("display", "thumb"):
            deadline = time.monotonic() + 60
            while (answer := session.get(f"{live.url}/api/v1/photos/{photo_id}/{size}",
                                         timeout=10)).status_code == 202:
                assert time.monotonic() < deadline, (photo_id, size, "never made")
                time.sleep(0.1)
            assert answer.status_code == 200, (photo_id, size, answer.status_code)
    media = tmp_path / "live-media"
    left = {str(p.relative_to(media)) for p in media.rglob("*") if p.is_file()}
    db.session.expire_all()
    shas = set(db.session.scalars(select(Photo.sha256).where(Photo.id.in_(stored))))
    assert left == set().union(*(own_files(sha) for sha in shas))
    assert "unhandled error" not in live.log_tail(100_000)


def test_a_form_parsed_before_the_view_gets_the_same_refusals(make_app, db, media_dir, worker):
    """When something read the form first (a cookie session's CSRF check), the view takes
    the parsed form: it must refuse the same way."""
    from flask import request

    app = make_app(MAX_PHOTO_BYTES=corpus.LIMIT, MEDIA_DIR=str(media_dir))

    @app.before_request
    def read_the_form() -> None:
        assert request.files is not None  # parses the whole body before the view runs

    client = app.test_client()
    two = next(a for a in corpus.one_shot_attacks() if a.name == "two_file_parts")
    nul = next(e for e in corpus.files() if e.name == "filename_nul")
    before = state(db, media_dir)
    for resp in (client.post("/api/v1/photos", data=two.body, headers=worker.headers,
                             content_type=two.content_type),
                 send_one_shot(client, worker, nul, str(uuid.uuid4()))):
        assert_problem(resp, corpus.refused(422))
        assert "file" in resp.get_json()["errors"]
    assert state(db, media_dir) == before
