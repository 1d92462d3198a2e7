"""``gridsync`` says what went wrong in words a worker can act on, and nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from client_sync import cli
from client_sync.cli_output import field_errors
from client_sync.testing import FlakyProxy, LiveServer
from tests.client_sync.test_cli import REPO, logged_in, run  # noqa: F401 - fixtures
from tests.factories import Actor, Factory

G1 = Factory.G1_CENTER
AT_G1 = ("--lat", str(G1[0]), "--lon", str(G1[1]))


def gridsync(data_dir: Path, *args: str, **popen: Any) -> subprocess.CompletedProcess[str]:
    """The installed command in a process of its own, as a worker runs it."""
    env = {**os.environ, "GRIDSYNC_DATA_DIR": str(data_dir)}
    env.pop("GRIDSYNC_SERVER", None)
    return subprocess.run([sys.executable, "-m", "client_sync.cli", *args], cwd=REPO,
                          env=env, text=True, check=False, timeout=60,
                          **{"capture_output": True, **popen})


def test_a_wrong_password_says_so_not_log_in_first(run: Any, worker: Actor) -> None:  # noqa: F811
    code, out, err = run("login", worker.user.username, "--password", "wrong horse")
    assert code == cli.EXIT_LOGIN and out == ""
    assert err == "Wrong username or password. Not logged in.\n"


def test_a_server_given_without_scheme_is_reached_over_http(
        run: Any, worker: Actor, live_server: LiveServer) -> None:  # noqa: F811
    bare = f"{live_server.host}:{live_server.port}"
    code, out, err = run("--server", bare, "login", worker.user.username)
    assert code == 0, err
    assert out == f"Logged in to http://{bare} as {worker.user.username}.\n"
    assert "Login needed" not in run("--server", bare, "status")[1]


@pytest.mark.parametrize(("given", "expected"), [
    ("127.0.0.1:18080", "http://127.0.0.1:18080"),
    ("localhost:5000/", "http://localhost:5000"),
    ("gridwork.example.cn", "https://gridwork.example.cn"),
    ("http://gridwork.example.cn", "http://gridwork.example.cn"),
])
def test_server_address_adds_the_scheme_a_bare_address_needs(given: str, expected: str) -> None:
    assert cli.server_address(given) == expected


@pytest.mark.parametrize("given", ["ftp://gridwork.example.cn", "127.0.0.1:port", "http://"])
def test_a_server_address_that_cannot_be_one_is_a_usage_error(
        given: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(["--server", given, "status"])
    assert stop.value.code == cli.EXIT_USAGE
    assert "is not a server address; give e.g. https://" in capsys.readouterr().err


def test_invalid_nested_field_is_named_by_its_dotted_path(logged_in: Any,  # noqa: F811
                                                          tmp_path: Path) -> None:
    code, _, err = logged_in("household", "add", "--door", "1", "--head-name", "甲",
                             "--lat", "95", "--lon", str(G1[1]))
    assert code == cli.EXIT_INVALID
    assert "  location.lat: Must be greater than or equal to -90 and less than or equal to " \
           "90.\n" in err
    assert "{" not in err


def test_field_errors_flattens_marshmallow_messages_to_dotted_paths() -> None:
    errors = {"needs": {0: {"category": ["Missing data for required field."]},
                        1: {"text": ["Too long.", "Not a string."]}},
              "location": {"lat": ["Out of range."]}, "_schema": ["Give one household."],
              "photo_ids": ["A photo is listed twice."]}
    assert field_errors(errors) == [
        "_schema: Give one household.", "location.lat: Out of range.",
        "needs.0.category: Missing data for required field.",
        "needs.1.text: Too long.; Not a string.", "photo_ids: A photo is listed twice."]


def test_a_need_of_an_unknown_category_is_refused_at_capture(logged_in: Any) -> None:  # noqa: F811
    assert logged_in("pull")[0] == 0
    code, _, err = logged_in("visit", "--household-id", "1", "--outcome", "met", *AT_G1,
                             "--need", "foo:楼下下水道堵了")
    assert code == cli.EXIT_INVALID
    assert "needs: Unknown category 'foo': give one of garbage, illegal_parking," in err
    assert "0 to send" in logged_in("status")[1]


def test_server_and_data_dir_options_say_what_they_are() -> None:
    text = cli.build_parser().format_help()
    assert "$GRIDSYNC_SERVER" in text and "127.0.0.1:5000" in text
    assert "$GRIDSYNC_DATA_DIR" in text and "the offline cache" in text


def test_output_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`gridsync agenda | head` where head has gone: no BrokenPipe traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = gridsync(tmp_path / "phone", "agenda", capture_output=False, stdout=write_end,
                          stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == 0


def test_connect_retries_of_urllib3_stay_off_stderr(run: Any, worker: Actor,  # noqa: F811
                                                    live_server: LiveServer,
                                                    tmp_path: Path) -> None:
    with FlakyProxy(live_server.address) as proxy:
        assert run("--server", proxy.url, "login", worker.user.username)[0] == 0
    result = gridsync(tmp_path / "phone", "--server", proxy.url, "pull")  # proxy gone
    assert result.returncode == cli.EXIT_UNREACHABLE
    assert result.stderr.startswith("Could not reach the server")
    assert "Retrying" not in result.stderr and "urllib3" not in result.stderr
    verbose = gridsync(tmp_path / "phone", "-v", "--server", proxy.url, "pull")
    assert "Retrying" in verbose.stderr  # still there for whoever asks



def test_retry_all_with_nothing_refused_says_so_and_exits_0(logged_in: Any) -> None:  # noqa: F811
    """The README's `gridsync status ; gridsync failed ; gridsync retry --all`, all clear."""
    code, out, err = logged_in("retry", "--all")
    assert (code, out, err) == (0, "Nothing was refused: nothing to retry.\n", "")
