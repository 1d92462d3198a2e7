"""Photo derivatives run as a job: the request keeps the checked original, the job makes the
display image and thumb, and until then they answer 202 with Retry-After (both databases,
the embedded tier's in-process runner)."""

from __future__ import annotations

import io
from pathlib import Path

from server.jobs import runner
from tests.server.storage.imagegen import make_jpeg


def post_photo(client, actor, data: bytes):
    """POST /api/v1/photos with ``data`` as the ``file`` part."""
    return client.post("/api/v1/photos", data={"file": (io.BytesIO(data), "p.jpg")},
                       headers=actor.headers, content_type="multipart/form-data")


def derived(media: Path, sha256: str) -> dict[str, bool]:
    """Which derived files of ``sha256`` are in the media folder."""
    fan = f"{sha256[:2]}/{sha256[2:4]}"
    return {kind: (media / kind / fan / f"{sha256}.jpg").is_file() for kind in ("display", "thumb")}


def test_upload_answers_before_the_derivatives_and_the_job_thread_makes_them(
        make_app, factory, tmp_path):
    """Off TESTING's synchronous mode: the upload answers with only the original stored;
    display and thumb answer 202 with Retry-After until the process's job thread has run."""
    app = make_app(JOBS_INLINE_SYNC=False, MEDIA_DIR=str(tmp_path / "media"))
    client, media = app.test_client(), tmp_path / "media"
    worker = factory.actor("grid_worker")
    jobs, held = runner(app), []
    real_submit = jobs.submit
    jobs.submit = lambda task, kwargs, *, lock=None: held.append((task, kwargs, lock))

    answer = post_photo(client, worker, make_jpeg(1200, 900, texture=20))
    assert answer.status_code == 201, answer.get_json()
    photo = answer.get_json()
    sha256 = photo["sha256"]
    assert (media / "original" / sha256[:2] / sha256[2:4] / sha256).is_file()
    assert held == [("photos.derive", {"sha256": sha256}, f"derive:{sha256}")]
    assert derived(media, sha256) == {"display": False, "thumb": False}
    for kind in ("display", "thumb"):
        pending = client.get(f"/api/v1/photos/{photo['id']}/{kind}", headers=worker.headers)
        assert pending.status_code == 202
        assert pending.headers["Retry-After"] == "2"
        assert pending.headers["Cache-Control"] == "no-store"
        assert pending.get_json()["status"] == "pending"

    for task, kwargs, lock in held:
        real_submit(task, kwargs, lock=lock)  # several asks, one job: the lock
    jobs.drain()
    assert derived(media, sha256) == {"display": True, "thumb": True}
    shown = client.get(f"/api/v1/photos/{photo['id']}/thumb", headers=worker.headers)
    assert shown.status_code == 200 and shown.mimetype == "image/jpeg"


def test_a_missing_derivative_is_made_again_when_asked_for(client, factory, media_dir):
    """A derivative lost (a job that died with an embedded server) is deferred again by the
    GET that misses it; under TESTING it runs at the commit, so the next GET has it."""
    worker = factory.actor("grid_worker")
    photo = post_photo(client, worker, make_jpeg(800, 600)).get_json()
    sha256 = photo["sha256"]
    display = media_dir / "display" / sha256[:2] / sha256[2:4] / f"{sha256}.jpg"
    display.unlink()
    first = client.get(f"/api/v1/photos/{photo['id']}/display", headers=worker.headers)
    assert first.status_code == 202 and int(first.headers["Retry-After"]) > 0
    again = client.get(f"/api/v1/photos/{photo['id']}/display", headers=worker.headers)
    assert again.status_code == 200 and display.is_file()


def test_a_missing_original_is_still_404_not_202(client, factory, media_dir):
    worker = factory.actor("grid_worker")
    photo = post_photo(client, worker, make_jpeg(800, 600)).get_json()
    sha256 = photo["sha256"]
    for kind in ("original", "display", "thumb"):
        name = sha256 if kind == "original" else f"{sha256}.jpg"
        (media_dir / kind / sha256[:2] / sha256[2:4] / name).unlink()
    answer = client.get(f"/api/v1/photos/{photo['id']}/display", headers=worker.headers)
    assert answer.status_code == 404
