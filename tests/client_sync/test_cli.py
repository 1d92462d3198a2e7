"""``gridsync``: commands, messages a person can act on, and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from client_sync import cli
from client_sync.queue import Outbox
from client_sync.testing import FlakyProxy, LiveServer
from server.extensions import db
from server.models import Household, Report, Visit
from tests.client_sync.conftest import noisy_jpeg
from tests.factories import PASSWORD, Actor, Factory

REPO = Path(__file__).resolve().parents[2]
G1, G2 = Factory.G1_CENTER, Factory.G2_CENTER


@pytest.fixture
def run(tmp_path: Path, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Any:
    """Run ``gridsync ARGS`` in-process; answer (exit code, stdout, stderr)."""
    monkeypatch.setenv("GRIDSYNC_DATA_DIR", str(tmp_path / "phone"))
    monkeypatch.setenv("GRIDSYNC_SERVER", live_server.url)
    monkeypatch.setenv("GRIDSYNC_PASSWORD", PASSWORD)

    def invoke(*args: str) -> tuple[int, str, str]:
        code = cli.main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


@pytest.fixture
def logged_in(run: Any, worker: Actor) -> Any:
    code, out, _ = run("login", worker.user.username)
    assert code == 0 and "Logged in" in out
    return run


def latest(model: Any) -> Any:
    db.session.commit()
    return db.session.scalar(select(model).order_by(model.id.desc()))


def test_report_then_push_sends_it_and_exits_0(logged_in: Any, tmp_path: Path) -> None:
    photo = noisy_jpeg(tmp_path / "IMG_1.jpg")
    code, out, _ = logged_in("report", "--category", "garbage", "--photo", str(photo),
                             "--lat", str(G1[0]), "--lon", str(G1[1]),
                             "--description", "北河沿垃圾堆积")
    assert code == 0 and "Queued report" in out
    code, out, err = logged_in("push", "--timeout", "30")
    assert code == 0, out + err
    assert "Sent 1 record(s) and 1 photo(s)" in out
    assert "1/2 records" in err or "2/2 records" in err  # the progress bar, on stderr
    assert latest(Report).description == "北河沿垃圾堆积"


def test_household_added_offline_and_its_visit_go_together(logged_in: Any) -> None:
    code, out, _ = logged_in("household", "add", "--door", "502", "--head-name", "刘五",
                             "--lat", str(G1[0]), "--lon", str(G1[1]), "--tag", "elderly")
    uid = out.split()[2].rstrip(".")
    assert code == 0
    code, _, _ = logged_in("visit", "--household-uuid", uid, "--outcome", "met",
                           "--lat", str(G1[0]), "--lon", str(G1[1]),
                           "--need", "drain:楼下下水道堵了")
    assert code == 0
    assert logged_in("push")[0] == 0
    visit = latest(Visit)
    assert visit.household.client_uuid == uid
    assert [n.category for n in visit.needs] == ["drain"]


def test_invalid_record_exits_3_naming_the_field_and_queues_nothing(logged_in: Any) -> None:
    code, out, err = logged_in("household", "add", "--door", "1", "--head-name", "x",
                               "--phone", "not a phone")
    assert code == cli.EXIT_INVALID
    assert "phone: String does not match expected pattern." in err
    assert "0 to send" in logged_in("status")[1]


def test_push_before_login_exits_4_and_says_how_to_log_in(run: Any) -> None:
    code, _, err = run("household", "add", "--door", "1", "--head-name", "甲",
                       "--lat", str(G1[0]), "--lon", str(G1[1]))
    assert code == 0
    code, _, err = run("push")
    assert code == cli.EXIT_LOGIN
    assert "gridsync login" in err
    code, out, _ = run("status")
    assert code == cli.EXIT_LOGIN and "Login needed" in out and "1 to send" in out


def test_refused_record_exits_6_and_failed_shows_the_servers_reason(logged_in: Any) -> None:
    logged_in("household", "add", "--door", "1", "--head-name", "乙",
              "--lat", str(G2[0]), "--lon", str(G2[1]))
    logged_in("household", "add", "--door", "2", "--head-name", "丙",
              "--lat", str(G1[0]), "--lon", str(G1[1]))
    code, out, _ = logged_in("push")
    assert code == cli.EXIT_REFUSED and "gridsync failed" in out
    code, out, _ = logged_in("failed")
    assert code == cli.EXIT_REFUSED
    assert "household" in out and "403" in out and "outside your grids" in out
    code, out, _ = logged_in("retry", "--all")
    assert code == 0 and "1 record(s)" in out
    assert db.session.scalar(select(Household).where(Household.head_name == "丙")) is not None


def test_unreachable_server_exits_5_at_once_and_keeps_the_records(
        run: Any, worker: Actor, live_server: LiveServer) -> None:
    with FlakyProxy(live_server.address) as proxy:  # the link the phone logs in through
        assert run("--server", proxy.url, "login", worker.user.username)[0] == 0
    run("household", "add", "--door", "3", "--head-name", "丁",
        "--lat", str(G1[0]), "--lon", str(G1[1]))
    began = time.monotonic()
    code, out, _ = run("--server", proxy.url, "push")  # the proxy is gone: no signal
    assert code == cli.EXIT_UNREACHABLE
    assert time.monotonic() - began < 30  # it does not wait out its 300 s timeout
    assert "stay queued" in out
    assert "1 to send" in run("--server", proxy.url, "status")[1]


def test_a_token_is_never_sent_to_another_server(logged_in: Any) -> None:
    code, _, err = logged_in("--server", "http://127.0.0.1:9", "pull")
    assert code == cli.EXIT_LOGIN and "gridsync login" in err


def test_a_data_dir_in_use_exits_7(logged_in: Any, tmp_path: Path) -> None:
    with Outbox(tmp_path / "phone"):
        code, _, err = logged_in("status")
    assert code == cli.EXIT_LOCKED and "in use" in err


def test_import_photos_makes_one_report_per_photo_placed_and_timed_by_exif(
        logged_in: Any, tmp_path: Path) -> None:
    camera = tmp_path / "DCIM"
    for n in range(3):
        noisy_jpeg(camera / f"IMG_{n}.JPG", seed=n, taken_at=datetime(2026, 11, 20, 6, 37 + n))
    noisy_jpeg(camera / "IMG_nogps.jpg", gps=None)
    (camera / "notes.jpg").write_text("not a photo")
    code, out, _ = logged_in("import-photos", str(camera), "--category", "garbage")
    assert code == 0
    assert "Queued 3 report(s) from 5 photo(s)" in out
    assert "IMG_nogps.jpg: no GPS position" in out and "notes.jpg: not a photo" in out
    assert logged_in("push")[0] == 0
    db.session.commit()
    times = sorted(r.captured_at for r in db.session.scalars(select(Report)))
    # EXIF time without an offset is read as Asia/Shanghai: 06:37 there is 22:37 UTC.
    assert times[0] == datetime(2026, 11, 19, 22, 37, tzinfo=UTC)


def test_pull_then_agenda_works_offline(logged_in: Any, factory: Factory) -> None:
    logged_in("household", "add", "--door", "7", "--head-name", "戊",
              "--lat", str(G1[0]), "--lon", str(G1[1]), "--tag", "elderly_alone")
    logged_in("push")
    code, out, _ = logged_in("pull")
    assert code == 0 and "1 household(s) and 1 grid(s) available offline" in out
    code, out, _ = logged_in("--server", "http://127.0.0.1:9", "agenda",  # offline
                             "--lat", str(G1[0]), "--lon", str(G1[1]))
    assert code == 0 and "戊" in out and "overdue" in out


def test_the_module_runs_as_a_program_with_json_free_output(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "client_sync.cli", "--data-dir",
                             str(tmp_path / "d"), "status"], cwd=REPO, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "(none: use --server)" in result.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)
