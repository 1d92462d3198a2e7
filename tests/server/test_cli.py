"""The admin CLI on a fresh database, in the order the README gives, and `gridwork serve`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from client_sync.testing import free_port
from tests.dbsetup import make_test_database
from tests.factories import square

GRIDWORK = shutil.which("gridwork", path=str(Path(sys.executable).parent)) or "gridwork"


@pytest.fixture
def cli_env(tmp_path):
    database = make_test_database(tmp_path)
    database.create()
    env = {**os.environ, "GRIDWORK_DATABASE_URL": database.url,
           "GRIDWORK_INSTANCE_DIR": str(tmp_path / "instance"),
           "GRIDWORK_SECRET_KEY": "cli-test-secret"}
    env.pop("GRIDWORK_DEMO", None)
    yield env
    database.drop()


def run(env, *args, stdin=None):
    return subprocess.run([GRIDWORK, *args], env=env, input=stdin, capture_output=True,
                          text=True, timeout=120)


def test_admin_commands_on_a_fresh_database(cli_env, tmp_path):
    assert run(cli_env, "db", "upgrade").returncode == 0
    assert run(cli_env, "communities", "create", "YYH", "友谊河社区").returncode == 0
    assert run(cli_env, "departments", "create", "WATER", "水务局").returncode == 0
    geojson = tmp_path / "grids.geojson"
    geojson.write_text(json.dumps({"type": "FeatureCollection", "features": [
        square("A1", "一网格", 113.07, 28.80, 113.08, 28.81)]}), encoding="utf-8")
    first = run(cli_env, "grids", "import", str(geojson), "--community", "YYH")
    again = run(cli_env, "grids", "import", str(geojson), "--community", "YYH")
    assert "created: 1" in first.stdout and "updated: 1" in again.stdout
    made = run(cli_env, "users", "create", "zhou", "--role", "grid_worker", "--grid", "A1",
               "--password-stdin", stdin="long enough password\n")
    assert made.returncode == 0, made.stderr
    assert "Created user zhou" in made.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("users", "create", "x", "--role", "wizard", "--password-stdin"), "role"),
    (("users", "create", "x", "--role", "grid_worker", "--grid", "NOPE", "--password-stdin"),
     "No grid with code NOPE"),
    (("communities", "create", "YYH", "again"), "exists already"),
    (("grids", "import", "/nonexistent.geojson", "--community", "YYH"), "does not exist"),
])
def test_bad_input_fails_with_a_readable_message(cli_env, args, message):
    run(cli_env, "db", "upgrade")
    run(cli_env, "communities", "create", "YYH", "友谊河社区")
    result = run(cli_env, *args, stdin="long enough password\n")
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_secret_key_is_refused_outside_the_demo(cli_env):
    env = {k: v for k, v in cli_env.items() if k != "GRIDWORK_SECRET_KEY"}
    result = run(env, "db", "upgrade")
    assert result.returncode != 0
    assert "GRIDWORK_SECRET_KEY" in result.stderr and "Traceback" not in result.stderr


def test_seed_demo_is_idempotent_and_prints_logins(cli_env):
    run(cli_env, "db", "upgrade")
    first = run(cli_env, "seed-demo")
    second = run(cli_env, "seed-demo")
    assert first.returncode == 0, first.stderr
    assert "shuji" in first.stdout and "wangge1" in first.stdout
    assert second.returncode == 0
    assert first.stdout.splitlines()[0] == second.stdout.splitlines()[0]


def test_serve_runs_gunicorn_that_answers_the_api(cli_env):
    assert run(cli_env, "db", "upgrade").returncode == 0
    assert run(cli_env, "seed-demo").returncode == 0
    port = free_port()
    server = subprocess.Popen([GRIDWORK, "serve", "--port", str(port), "--workers", "1"],
                              env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        for _ in range(100):
            try:
                health = requests.get(f"{base}/health", timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):  # still starting
                time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not start")
        assert health.json()["status"] == "ok"
        assert "gunicorn" in health.headers.get("Server", "")
        from server.demo import DEMO_PASSWORD

        token = requests.post(f"{base}/auth/tokens", json={
            "username": "wangge1", "password": DEMO_PASSWORD}, timeout=10).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        for crs in ("wgs84", "gcj02", "bd09"):
            from server.geo import from_wgs84

            lat, lon = from_wgs84(28.806, 113.074, crs)
            located = requests.get(f"{base}/grids/locate", params={
                "lat": lat, "lon": lon, "crs": crs}, headers=auth, timeout=10)
            assert located.json()["grid"]["code"] == "YYH-01", crs
        missing = requests.get(f"{base}/no/such/path", timeout=10)
        assert missing.status_code == 404
        assert missing.headers["Content-Type"] == "application/problem+json"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        if server.stdout:
            server.stdout.close()


def test_backup_and_restore_commands(cli_env, tmp_path):
    assert run(cli_env, "db", "upgrade").returncode == 0
    run(cli_env, "communities", "create", "YYH", "友谊河社区")
    made = run(cli_env, "backup", str(tmp_path / "bk"))
    assert made.returncode == 0, made.stderr
    assert "Backed up" in made.stdout
    again = run(cli_env, "backup", str(tmp_path / "bk"))
    assert again.returncode != 0 and "not empty" in again.stderr
    restored = run(cli_env, "restore", str(tmp_path / "bk"), "--yes")
    assert restored.returncode == 0, restored.stderr
    assert run(cli_env, "communities", "create", "YYH", "x").returncode != 0  # still there


def _without_secret(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDWORK_")}
    return {**env, "GRIDWORK_INSTANCE_DIR": str(tmp_path / "nosecret")}


def test_help_lists_every_command_without_a_secret_and_without_a_traceback(tmp_path):
    answer = run(_without_secret(tmp_path), "--help")
    assert answer.returncode == 0
    assert "Traceback" not in answer.stdout + answer.stderr
    for name in ("db", "communities", "users", "households", "seed-demo", "serve", "backup",
                 "webhooks"):
        assert f"  {name} " in answer.stdout, name


def test_a_command_that_needs_the_secret_says_so_in_one_line(tmp_path):
    answer = run(_without_secret(tmp_path), "communities", "create", "X", "测试")
    assert answer.returncode == 1
    assert answer.stderr.strip().splitlines() == [answer.stderr.strip()]
    assert "GRIDWORK_SECRET_KEY is not set" in answer.stderr


def test_serve_on_a_busy_port_says_so_once_and_names_another(tmp_path):
    env = {**_without_secret(tmp_path), "GRIDWORK_DEMO": "1"}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        answer = run(env, "serve", "--port", str(port))
    assert answer.returncode == 1
    assert answer.stderr.strip() == (
        f"Error: Port {port} is in use (another Gridwork?). Try another: "
        f"make demo PORT={port + 1}, or gridwork serve --port {port + 1}.")
    assert "Starting" not in answer.stdout
