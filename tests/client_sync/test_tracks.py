"""Patrol tracks from the client: queued offline, pushed once to a live server, segments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from client_sync.client import SyncClient
from client_sync.exceptions import ValidationError
from client_sync.patrol import Patrol
from client_sync.testing import LiveServer
from server.extensions import db
from server.geo import distance_m
from server.models import Track
from tests.client_sync.conftest import make_client
from tests.factories import PASSWORD, Actor
from tests.server.visit_support import point_at

START = (28.8010, 113.0710)


def _tracks() -> list[Track]:
    db.session.expire_all()
    return list(db.session.scalars(select(Track).order_by(Track.started_at)))


def test_a_queued_track_reaches_the_server_once(device: SyncClient) -> None:
    begin = datetime.now(UTC) - timedelta(minutes=20)
    points = [[*point_at(START, 30.0 * i), 6.0, begin + timedelta(seconds=30 * i)]
              for i in range(10)]
    uid = device.queue_track(started_at=begin, ended_at=begin + timedelta(minutes=5),
                             points=points)
    assert device.status().counts.get("ready") == 1
    first = device.sync()
    again = device.sync()
    assert (first.pushed, first.failed, again.pushed) == (1, 0, 0)
    (track,) = _tracks()
    assert track.client_uuid == uid
    assert track.point_count == 10
    assert track.length_m == pytest.approx(270.0, abs=0.5)


def test_a_bad_track_is_refused_at_capture(device: SyncClient) -> None:
    begin = datetime.now(UTC) - timedelta(minutes=20)
    with pytest.raises(ValidationError) as caught:
        device.queue_track(started_at=begin, ended_at=begin + timedelta(minutes=1),
                           points=[[*START, 5.0, begin + timedelta(minutes=2)]])
    assert "points" in caught.value.errors
    assert device.status().pending == 0


def test_a_patrol_keeps_a_position_every_30_s_or_25_m() -> None:
    queued: list[tuple[datetime, datetime, list[list[object]]]] = []
    begin = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
    patrol = Patrol(lambda s, e, p: queued.append((s, e, p)) or "uuid", started_at=begin)
    here = START
    kept = []
    for second in range(0, 300, 5):  # a fix every 5 s, standing still for 2 minutes
        if second >= 120:
            here = point_at(here, 10.0)  # then walking at 2 m/s: 10 m per fix
        kept.append(patrol.offer(*here, 5.0, begin + timedelta(seconds=second)))
    standing = kept[:24]
    assert sum(standing) == 4  # 0, 30, 60, 90 s
    walking = kept[24:]  # 120 s on: kept at 120 s (30 s passed), then every 30 m
    assert walking == [True, False, False] * 12
    patrol.stop(begin + timedelta(minutes=5))
    (segment,) = queued
    assert segment[0] == begin and segment[1] == begin + timedelta(minutes=5)
    assert len(segment[2]) == sum(kept) + 1  # and the last fix (295 s), where it ended
    assert segment[2][-1][3] == begin + timedelta(seconds=295)


def test_a_long_patrol_goes_in_segments_whose_lengths_add_up(tmp_path: Path,
                                                              live_server: LiveServer,
                                                              worker: Actor) -> None:
    phone = make_client(live_server.url, tmp_path / "phone")
    phone.login(worker.user.username, PASSWORD)
    begin = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    patrol = phone.start_patrol(started_at=begin, segment_points=10)
    walked = [START]
    for i in range(25):  # 25 positions 30 m and 30 s apart: 24 legs, 720 m
        if i:
            walked.append(point_at(walked[-1], 30.0))
        assert patrol.offer(*walked[-1], 5.0, begin + timedelta(seconds=30 * i))
    uuids = patrol.stop(begin + timedelta(seconds=30 * 25))
    assert len(uuids) == 3  # 10, then 1 carried + 9, then 1 carried + 6 on stop
    phone.close()  # the phone is switched off; everything waits in its outbox
    phone = make_client(live_server.url, tmp_path / "phone")
    try:
        result = phone.sync()
    finally:
        phone.close()
    assert (result.pushed, result.failed) == (3, 0)
    tracks = _tracks()
    assert [t.client_uuid for t in tracks] == uuids
    expected = sum(distance_m(a, b) for a, b in zip(walked, walked[1:], strict=False))
    assert sum(t.length_m for t in tracks) == pytest.approx(expected, abs=1.0)
    assert tracks[0].ended_at == tracks[1].started_at
    assert tracks[-1].ended_at == begin + timedelta(seconds=750)


def test_an_outbox_made_before_tracks_takes_them_and_keeps_what_it_held(
        tmp_path: Path) -> None:
    """A device updated mid-shift: its outbox's table refused kind track; it is rebuilt."""
    import sqlite3

    from client_sync import queue

    data = tmp_path / "phone"
    with queue.Outbox(data) as outbox:
        first = outbox.enqueue("household", {"door": "101"})
        second = outbox.enqueue("household", {"door": "102"})
        outbox.discard(second)  # the counter stays past a discarded record
    old_check = "CHECK (kind IN ('photo', 'household', 'visit', 'report'))"
    db = sqlite3.connect(data / "outbox.sqlite3")
    sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'records'").fetchone()[0]
    db.executescript("PRAGMA writable_schema = ON;"
                     "UPDATE sqlite_master SET sql = "
                     f"{_quote(sql.replace(queue._KIND_CHECK, old_check))}"
                     " WHERE name = 'records'; PRAGMA writable_schema = OFF;")
    db.close()
    db = sqlite3.connect(data / "outbox.sqlite3")
    with pytest.raises(sqlite3.IntegrityError):  # the old table, as an older version made it
        db.execute("INSERT INTO records (client_uuid, kind, payload, payload_sha256,"
                   " created_at, updated_at) VALUES ('x', 'track', '{}', '', 0, 0)")
    db.close()
    with queue.Outbox(data) as outbox:
        track = outbox.enqueue("track", {"points": []})
        assert [i.client_uuid for i in outbox.next_batch(("household", "track"))] == [
            first, track]
        assert outbox.get(track).seq > outbox.get(first).seq + 1


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def test_a_patrol_left_running_overnight_starts_a_new_segment_the_server_takes(
        device: SyncClient) -> None:
    begin = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=30)
    patrol = device.start_patrol(started_at=begin)
    for i in range(5):
        patrol.offer(*point_at(START, 30.0 * i), 5.0, begin + timedelta(minutes=i))
    morning = begin + timedelta(hours=20)  # the phone stayed in a pocket, the app open
    for i in range(3):
        patrol.offer(*point_at(START, 30.0 * i), 5.0, morning + timedelta(minutes=i))
    uuids = patrol.stop(morning + timedelta(minutes=5))
    assert len(uuids) == 2
    result = device.sync()
    assert (result.pushed, result.failed) == (2, 0)
    first, second = _tracks()
    assert first.ended_at == begin + timedelta(minutes=4)  # closed at its last position
    assert second.started_at == morning and second.point_count == 3
    assert first.length_m == pytest.approx(120.0, abs=0.5)


# -- gridsync track FILE.gpx ---------------------------------------------------------------

_GPX = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="logger" xmlns="http://www.topografix.com/GPX/1/1">
<trk><name>巡查</name>{segments}</trk></gpx>"""


def _gpx(path: Path, segments: list[list[tuple[float, float, datetime]]]) -> Path:
    body = "".join(
        "<trkseg>" + "".join(
            f'<trkpt lat="{lat:.7f}" lon="{lon:.7f}"><time>'
            f'{when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}</time><hdop>1.2</hdop>'
            "</trkpt>" for lat, lon, when in seg) + "</trkseg>" for seg in segments)
    path.write_text(_GPX.format(segments=body), encoding="utf-8")
    return path


@pytest.fixture
def gridsync(tmp_path: Path, live_server: LiveServer, worker: Actor,
             monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """``gridsync ARGS`` in-process, logged in as the G1 worker: (exit code, out, err)."""
    from client_sync import cli

    monkeypatch.setenv("GRIDSYNC_DATA_DIR", str(tmp_path / "logger"))
    monkeypatch.setenv("GRIDSYNC_SERVER", live_server.url)
    monkeypatch.setenv("GRIDSYNC_PASSWORD", PASSWORD)

    def invoke(*args: str) -> tuple[int, str, str]:
        code = cli.main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    assert invoke("login", worker.user.username)[0] == 0
    return invoke


def test_gridsync_track_queues_a_gpx_loggers_patrol_at_30_s_or_25_m(
        gridsync: Any, tmp_path: Path) -> None:
    begin = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    walk_1s = [(*point_at(START, 1.3 * i), begin + timedelta(seconds=i)) for i in range(600)]
    later = begin + timedelta(hours=1)
    standing = [(*START, later + timedelta(seconds=5 * i)) for i in range(60)]
    path = _gpx(tmp_path / "patrol.gpx", [walk_1s, standing])
    code, out, err = gridsync("track", str(path))
    assert code == 0, err
    assert "Queued 2 track(s) from 2 segment(s)" in out
    assert gridsync("push")[0] == 0
    walked, stood = _tracks()
    assert walked.point_count == 31  # every 20 s (26 m), and where it ended
    assert walked.length_m == pytest.approx(1.3 * 599, abs=1.0)
    assert walked.points[0][2] == 6.0  # hdop 1.2 at 5 m a unit
    assert stood.point_count == 11  # standing 5 minutes: one every 30 s, the last on stop
    assert stood.length_m == 0.0


def test_gridsync_track_refuses_a_file_that_is_not_gpx_or_lacks_times(
        gridsync: Any, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.gpx"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY a "aaaaaaaaaa">'
                    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><gpx>&b;</gpx>')
    code, _out, err = gridsync("track", str(bomb))
    assert code == 3 and "refused" in err
    timeless = tmp_path / "timeless.gpx"
    timeless.write_text(_GPX.format(segments='<trkseg><trkpt lat="28.8" lon="113.07"/>'
                                             "</trkseg>"))
    code, _out, err = gridsync("track", str(timeless))
    assert code == 3 and "<time>" in err
    assert gridsync("status")[1].count("track") == 0
