"""The durable outbox: order, dependencies, crash recovery, frozen payloads and the lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from client_sync.exceptions import LockedError
from client_sync.photos import file_sha256
from client_sync.queue import PHOTO_MISSING, Outbox

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "device"


@pytest.fixture
def outbox(data_dir: Path) -> Iterator[Outbox]:
    with Outbox(data_dir) as box:
        yield box


@pytest.fixture
def photo_file(tmp_path: Path) -> Path:
    path = tmp_path / "IMG_0001.jpg"
    path.write_bytes(b"\xff\xd8 not really a jpeg, but bytes are bytes " * 1000)
    return path


def _child_args(code: str, data_dir: Path) -> dict:
    """Popen arguments that run Python ``code`` with ``DATA_DIR`` set and the repo importable."""
    prelude = "import os, sys, time\nfrom client_sync.queue import Outbox\n"
    return {
        "args": [sys.executable, "-c", prelude + textwrap.dedent(code)],
        "env": {**os.environ, "PYTHONPATH": str(REPO), "DATA_DIR": str(data_dir)},
    }


def _run(code: str, data_dir: Path) -> int:
    """Run ``code`` in a child process to the end and return its exit code."""
    return subprocess.run(**_child_args(code, data_dir), check=False).returncode


def _uuids(items: list) -> list[str]:
    return [item.client_uuid for item in items]


# -- durability and crashes ------------------------------------------------------------


def test_queued_records_survive_close_and_reopen(data_dir: Path) -> None:
    with Outbox(data_dir) as box:
        first = box.enqueue("visit", {"note": "无人在家", "n": 1})
        second = box.enqueue("report", {"category": "garbage"})
    with Outbox(data_dir) as box:
        assert box.counts()["ready"] == 2
        batch = box.next_batch()
    assert _uuids(batch) == [first, second]
    assert batch[0].payload == {"note": "无人在家", "n": 1}


def test_in_flight_record_of_a_killed_process_is_ready_again_on_reopen(data_dir: Path) -> None:
    with Outbox(data_dir) as box:
        uid = box.enqueue("visit", {"note": "sent when the battery died"})
    code = """
        box = Outbox(os.environ["DATA_DIR"])
        print(box.next_batch()[0].client_uuid, flush=True)
        time.sleep(60)
        """
    with subprocess.Popen(
        **_child_args(code, data_dir), stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == uid
        os.kill(child.pid, signal.SIGKILL)
    assert child.returncode == -signal.SIGKILL
    with Outbox(data_dir) as box:
        assert box.get(uid).state == "ready"
        assert _uuids(box.next_batch()) == [uid]


def test_second_process_cannot_open_a_data_dir_in_use(data_dir: Path) -> None:
    code = """
        from client_sync.exceptions import LockedError
        try:
            Outbox(os.environ["DATA_DIR"]).close()
        except LockedError:
            sys.exit(3)
        """
    with Outbox(data_dir):
        assert _run(code, data_dir) == 3
    assert _run(code, data_dir) == 0


def test_second_outbox_in_the_same_process_is_refused_too(outbox: Outbox, data_dir: Path) -> None:
    with pytest.raises(LockedError, match=str(os.getpid())):
        Outbox(data_dir)


def test_photo_file_is_on_disk_before_its_row_is_written(outbox: Outbox, photo_file: Path) -> None:
    seen: list[list[str]] = []

    def trace(statement: str) -> None:
        if statement.startswith("INSERT INTO records"):
            seen.append(sorted(p.name for p in outbox.photos.root.iterdir()))

    outbox._conn().set_trace_callback(trace)
    outbox.enqueue("photo", {"filename": "IMG_0001.jpg"}, photo_path=photo_file)
    assert seen == [[file_sha256(photo_file)]]


def test_photo_orphaned_by_a_crash_before_its_row_is_removed_on_open(
    data_dir: Path, photo_file: Path
) -> None:
    code = f"""
        box = Outbox(os.environ["DATA_DIR"])
        box.atomic = lambda: os.kill(os.getpid(), 9)  # die after the file, before the row
        box.enqueue("photo", {{"filename": "x.jpg"}}, photo_path={str(photo_file)!r})
        """
    assert _run(code, data_dir) == -signal.SIGKILL
    orphan = data_dir / "photos" / file_sha256(photo_file)
    assert orphan.is_file()
    with Outbox(data_dir) as box:
        assert not orphan.exists()
        assert box.counts()["ready"] == 0


def test_photo_row_whose_file_vanished_is_failed_on_open(data_dir: Path, photo_file: Path) -> None:
    with Outbox(data_dir) as box:
        photo = box.enqueue("photo", {"filename": "x.jpg"}, photo_path=photo_file)
        report = box.enqueue("report", {"photo_ids": [photo]}, depends_on=[photo])
        box.get(photo).photo_path.unlink()
    with Outbox(data_dir) as box:
        (failed,) = box.failed()
        assert failed.client_uuid == photo
        assert failed.last_error["type"] == PHOTO_MISSING
        assert _uuids(box.blocked()) == [report]


def test_original_may_be_deleted_once_the_photo_is_queued(outbox: Outbox, photo_file: Path) -> None:
    expected = file_sha256(photo_file)
    uid = outbox.enqueue("photo", {"filename": "x.jpg"}, photo_path=photo_file)
    photo_file.unlink()
    item = outbox.get(uid)
    assert item.file_sha256 == expected
    assert file_sha256(item.photo_path) == expected


def test_upload_url_and_offset_survive_a_restart(data_dir: Path, photo_file: Path) -> None:
    with Outbox(data_dir) as box:
        uid = box.enqueue("photo", {"filename": "x.jpg"}, photo_path=photo_file)
        box.next_batch(["photo"])
        box.set_upload(uid, "http://server/api/v1/uploads/abc", 524_288 // 16)
    with Outbox(data_dir) as box:
        item = box.get(uid)
    assert (item.upload_url, item.upload_offset) == ("http://server/api/v1/uploads/abc", 32_768)


# -- order and dependencies ------------------------------------------------------------


def test_visit_waits_for_the_household_created_offline(outbox: Outbox) -> None:
    household = outbox.enqueue("household", {"address": "3-2-301"})
    visit = outbox.enqueue("visit", {"household_client_uuid": household}, depends_on=[household])
    assert _uuids(outbox.next_batch(["visit"])) == []
    assert _uuids(outbox.next_batch()) == [household]
    assert _uuids(outbox.next_batch()) == []  # the household is sent but not yet confirmed
    outbox.mark_done(household, server_id=7)
    assert _uuids(outbox.next_batch()) == [visit]


def test_report_waits_for_every_one_of_its_photos(outbox: Outbox, photo_file: Path) -> None:
    photos = [outbox.enqueue("photo", {"n": n}, photo_path=photo_file) for n in range(2)]
    report = outbox.enqueue("report", {"photo_ids": photos}, depends_on=photos)
    assert _uuids(outbox.next_batch(["photo"])) == photos
    outbox.mark_done(photos[0])
    assert _uuids(outbox.next_batch(["report"])) == []
    outbox.mark_done(photos[1])
    assert _uuids(outbox.next_batch(["report"])) == [report]


def test_failed_parent_holds_only_its_own_dependants(outbox: Outbox) -> None:
    bad = outbox.enqueue("household", {"address": ""})
    good = outbox.enqueue("household", {"address": "3-2-302"})
    child = outbox.enqueue("visit", {"h": bad}, depends_on=[bad])
    grandchild = outbox.enqueue("report", {"from_visit": child}, depends_on=[child])
    other = outbox.enqueue("visit", {"h": good}, depends_on=[good])
    outbox.next_batch()
    outbox.mark_failed(bad, {"status": 422, "errors": {"address": ["required"]}})
    outbox.mark_done(good, 9)
    assert _uuids(outbox.next_batch()) == [other]
    assert _uuids(outbox.blocked()) == [child, grandchild]
    assert outbox.failed()[0].last_error["errors"] == {"address": ["required"]}


def test_uploading_photo_does_not_hold_back_records_that_do_not_need_it(
    outbox: Outbox, photo_file: Path
) -> None:
    photo = outbox.enqueue("photo", {"filename": "big.jpg"}, photo_path=photo_file)
    report = outbox.enqueue("report", {"photo_ids": [photo]}, depends_on=[photo])
    visits = [outbox.enqueue("visit", {"n": n}) for n in range(3)]
    assert _uuids(outbox.next_batch(["photo"])) == [photo]  # still uploading
    assert _uuids(outbox.next_batch(["household", "visit", "report"])) == visits
    assert outbox.get(report).state == "ready"


def test_record_waiting_out_its_backoff_does_not_hold_back_the_queue(outbox: Outbox) -> None:
    first = outbox.enqueue("visit", {"n": 1})
    second = outbox.enqueue("visit", {"n": 2})
    outbox.next_batch(limit=1, now=1000.0)
    outbox.mark_retry(first, "connection reset", delay_s=30.0, now=1000.0)
    assert _uuids(outbox.next_batch(now=1001.0)) == [second]
    assert _uuids(outbox.next_batch(now=1029.0)) == []
    assert outbox.next_due() == 1030.0
    (again,) = outbox.next_batch(now=1030.0)
    assert (again.client_uuid, again.attempts) == (first, 1)
    assert again.last_error == {"title": "connection reset"}


def test_release_hands_a_record_back_without_a_penalty(outbox: Outbox) -> None:
    uid = outbox.enqueue("visit", {"n": 1})
    outbox.next_batch()
    outbox.release(uid)
    (item,) = outbox.next_batch()
    assert item.attempts == 0


def test_dependency_must_already_be_in_the_outbox(outbox: Outbox) -> None:
    with pytest.raises(ValueError, match="not in the outbox"):
        outbox.enqueue("visit", {"n": 1}, depends_on=["2d8e5c1e-0000-4000-8000-000000000000"])
    assert outbox.counts()["ready"] == 0


# -- frozen payloads -------------------------------------------------------------------


def test_queued_payload_is_frozen(outbox: Outbox) -> None:
    payload = {"note": "door locked", "tags": ["elderly"]}
    uid = outbox.enqueue("visit", payload)
    payload["note"] = "edited after queuing"
    payload["tags"].append("changed")
    assert outbox.get(uid).payload == {"note": "door locked", "tags": ["elderly"]}
    assert (
        outbox.enqueue("visit", {"tags": ["elderly"], "note": "door locked"}, client_uuid=uid)
        == uid
    )
    with pytest.raises(ValueError, match="new record"):
        outbox.enqueue("visit", {"note": "edited"}, client_uuid=uid)
    with pytest.raises(Exception, match="frozen"):
        outbox._conn().execute("UPDATE records SET payload = '{}' WHERE client_uuid = ?", (uid,))
    assert outbox.counts()["ready"] == 1


def test_verify_names_a_record_whose_payload_was_tampered_with(outbox: Outbox) -> None:
    uid = outbox.enqueue("visit", {"note": "ok"})
    intact = outbox.enqueue("visit", {"note": "fine"})
    assert outbox.verify() == []
    db = outbox._conn()
    db.execute("DROP TRIGGER records_frozen")
    db.execute('UPDATE records SET payload = \'{"note":"forged"}\' WHERE client_uuid = ?', (uid,))
    assert outbox.verify() == [uid]
    assert intact not in outbox.verify()


def test_verify_names_a_photo_whose_stored_file_was_damaged(
    outbox: Outbox, photo_file: Path
) -> None:
    uid = outbox.enqueue("photo", {"filename": "x.jpg"}, photo_path=photo_file)
    assert outbox.verify() == []
    with outbox.get(uid).photo_path.open("r+b") as f:
        f.write(b"bitrot")
    assert outbox.verify() == [uid]


# -- after a refusal -------------------------------------------------------------------


def test_retry_makes_a_failed_record_due_again(outbox: Outbox) -> None:
    uid = outbox.enqueue("report", {"category": "nope"})
    outbox.next_batch()
    outbox.mark_failed(uid, {"status": 422})
    assert outbox.next_batch() == []
    outbox.retry(uid)
    (item,) = outbox.next_batch()
    assert (item.client_uuid, item.attempts) == (uid, 0)


def test_discard_removes_only_the_record_and_its_dependants_stay_held(outbox: Outbox) -> None:
    household = outbox.enqueue("household", {"address": "x"})
    visit = outbox.enqueue("visit", {"h": household}, depends_on=[household])
    outbox.next_batch()
    with pytest.raises(ValueError, match="in_flight"):
        outbox.discard(household)
    outbox.mark_failed(household, "rejected")
    outbox.discard(household)
    with pytest.raises(KeyError):
        outbox.get(household)
    assert _uuids(outbox.blocked()) == [visit]
    assert outbox.next_batch() == []


def test_same_photo_bytes_are_stored_once_and_kept_while_any_record_needs_them(
    outbox: Outbox, photo_file: Path
) -> None:
    first = outbox.enqueue("photo", {"n": 1}, photo_path=photo_file)
    second = outbox.enqueue("photo", {"n": 2}, photo_path=photo_file)
    stored = outbox.get(first).photo_path
    assert [p.name for p in outbox.photos.root.iterdir()] == [stored.name]
    outbox.discard(first)
    assert stored.is_file()
    outbox.next_batch()
    outbox.mark_done(second, "photo-id")
    assert not stored.exists()


# -- figures for status and progress ---------------------------------------------------


def test_counts_and_pending_bytes_follow_the_queue(outbox: Outbox, photo_file: Path) -> None:
    size = photo_file.stat().st_size
    photo = outbox.enqueue("photo", {"f": 1}, photo_path=photo_file)
    visit = outbox.enqueue("visit", {"n": 1})
    assert outbox.pending_bytes() == size + len(b'{"n":1}')
    outbox.next_batch()
    outbox.set_upload(photo, "http://s/u/1", 1000)
    assert outbox.pending_bytes() == size - 1000 + len(b'{"n":1}')
    outbox.mark_done(visit, 3)
    assert outbox.counts() == {"ready": 0, "in_flight": 1, "done": 1, "failed": 0}
    with pytest.raises(ValueError, match="outside"):
        outbox.set_upload(photo, "http://s/u/1", size + 1)


def test_atomic_group_is_all_or_nothing(outbox: Outbox) -> None:
    kept = outbox.enqueue("visit", {"n": 0})
    with pytest.raises(RuntimeError), outbox.atomic():
        outbox.enqueue("visit", {"n": 1})
        outbox.enqueue("visit", {"n": 2})
        raise RuntimeError("power cut")
    assert _uuids(outbox.next_batch()) == [kept]
