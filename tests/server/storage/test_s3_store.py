"""The S3-compatible photo store against a real S3 server over HTTP: moto's standalone
server (``moto[server]`` from PyPI, ``python -m moto.server``), an in-memory implementation
of the S3 REST API that boto3 talks to exactly as to AWS S3 or MinIO. It proves the
requests the store makes; it is not a claim about a production server's durability."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.storage import derive_stored, keep_original, open_store
from tests.server.storage.imagegen import make_jpeg

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto.server")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server on a loopback port, for the module."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("ab") as out:
        server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                   "-p", str(port)], stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            break
        except OSError as exc:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("moto server did not start: "
                                   + log.read_text()[-2000:]) from exc
            time.sleep(0.1)
    yield url
    server.terminate()
    server.wait(10)


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new empty bucket; boto3 gets test credentials from the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "gridwork-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "gridwork-test-secret")
    name = f"photos-{time.monotonic_ns()}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(
        Bucket=name)
    return name


def _objects(endpoint: str, bucket: str) -> list[str]:
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", ()))


def _config(endpoint: str, bucket: str, media: Path) -> dict[str, Any]:
    return {"PHOTO_STORE": f"s3://{bucket}/city", "S3_ENDPOINT_URL": endpoint,
            "S3_REGION": "us-east-1", "MEDIA_DIR": str(media)}


def test_the_s3_store_keeps_originals_and_derivatives_as_objects(s3_endpoint, bucket, tmp_path):
    store = open_store(_config(s3_endpoint, bucket, tmp_path / "media"))
    data = make_jpeg(1200, 900, texture=20, orientation=6)
    src = store.tmp_dir / "upload.part"
    src.write_bytes(data)
    import hashlib

    sha256 = hashlib.sha256(data).hexdigest()
    info = keep_original(src, store, sha256=sha256)
    assert (info.width, info.height) == (900, 1200)  # upright, from EXIF orientation 6
    assert not src.exists()
    fan = f"{sha256[:2]}/{sha256[2:4]}"
    assert _objects(s3_endpoint, bucket) == [f"city/original/{fan}/{sha256}"]
    assert store.exists("original", sha256) and not store.exists("thumb", sha256)
    assert store.open("display", sha256) is None

    assert derive_stored(store, sha256) is True
    assert derive_stored(store, sha256) is False  # a retry finds them made
    assert _objects(s3_endpoint, bucket) == [f"city/display/{fan}/{sha256}.jpg",
                                             f"city/original/{fan}/{sha256}",
                                             f"city/thumb/{fan}/{sha256}.jpg"]
    original = store.open("original", sha256)
    assert original is not None and original.read() == data
    thumb = store.open("thumb", sha256)
    assert thumb is not None and thumb.read()[:3] == b"\xff\xd8\xff"
    assert list(store.iter_originals()) == [sha256]
    assert list(store.tmp_dir.iterdir()) == []  # the download for the job was removed
    store.delete(sha256)
    assert _objects(s3_endpoint, bucket) == []
    store.put_blob("exports/7-abc.csv", b"a,b\n")  # a job's file (an export)
    assert _objects(s3_endpoint, bucket) == ["city/blobs/exports/7-abc.csv"]
    blob = store.open_blob("exports/7-abc.csv")
    assert blob is not None and blob.read() == b"a,b\n"
    assert store.open_blob("exports/7-nope.csv") is None


def test_photos_over_the_api_live_in_the_bucket_not_the_folder(
        s3_endpoint, bucket, make_app, factory, tmp_path):
    """Upload, derivatives (the job, at once under TESTING), display and original served
    from the bucket; the media folder only saw the upload arrive."""
    media = tmp_path / "media"
    app = make_app(**_config(s3_endpoint, bucket, media))
    client = app.test_client()
    admin = factory.actor("admin")
    data = make_jpeg(800, 600, texture=10)
    answer = client.post("/api/v1/photos", data={"file": (io.BytesIO(data), "p.jpg")},
                         headers=admin.headers, content_type="multipart/form-data")
    assert answer.status_code == 201, answer.get_json()
    photo = answer.get_json()
    assert len(_objects(s3_endpoint, bucket)) == 3
    assert [p for p in media.rglob("*") if p.is_file()] == []
    display = client.get(f"/api/v1/photos/{photo['id']}/display", headers=admin.headers)
    assert display.status_code == 200 and display.data[:3] == b"\xff\xd8\xff"
    original = client.get(f"/api/v1/photos/{photo['id']}/original", headers=admin.headers)
    assert original.status_code == 200 and original.data == data
