"""The warnings at capture use the thresholds the server publishes, not copies of its defaults.

A server of its own here flags visits beyond 400 m (not the default 150 m): after a pull the
phone warns at the same distance the server flags; before one it uses the server's defaults.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from client_sync.testing import LiveServer
from server.models import Visit
from tests.client_sync.test_cli import latest, logged_in, run  # noqa: F401 - fixtures
from tests.client_sync.test_cli_households import add_households
from tests.client_sync.test_cli_warnings import at
from tests.factories import Actor, Factory
from tests.server.visit_support import point_at

G1 = Factory.G1_CENTER


@pytest.fixture(scope="module")
def live_server(_migrated_app: Flask, app_config: dict[str, Any],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose deployment flags visits beyond 400 m and photos beyond 1 km."""
    instance = tmp_path_factory.mktemp("policy-server")
    server = LiveServer(app_config["DATABASE_URL"], instance / "media", instance_dir=instance,
                        workers=1, threads=4,
                        env={"GRIDWORK_OFF_SITE_M": "400",
                             "GRIDWORK_LOCATION_MISMATCH_M": "1000"})
    server.start()
    yield server
    server.stop()


def test_the_server_publishes_its_own_thresholds(live_server: LiveServer,
                                                 worker: Actor) -> None:
    answer = requests.get(f"{live_server.url}/api/v1/capture-policy", timeout=10,
                          headers=worker.headers)
    assert answer.status_code == 200, answer.text
    policy = answer.json()
    assert policy["off_site_m"] == 400 and policy["location_mismatch_m"] == 1000
    assert requests.get(f"{live_server.url}/api/v1/capture-policy",
                        timeout=10).status_code == 401


def test_after_a_pull_the_phone_warns_where_the_server_flags(
        live_server: LiveServer, worker: Actor, factory: Factory, logged_in: Any) -> None:  # noqa: F811
    door = add_households(live_server, worker, factory, "601")["601"]
    assert logged_in("pull")[0] == 0
    code, _, err = logged_in("visit", "--household-id", str(door.id), "--outcome", "met",
                             *at(point_at(G1, 300)))
    assert code == 0 and err == ""  # 300 m: within this deployment's 400 m
    assert logged_in("push")[0] == 0
    assert latest(Visit).off_site is False
    code, _, err = logged_in("visit", "--household-id", str(door.id), "--outcome", "met",
                             *at(point_at(G1, 700)))
    assert "a visit more than 400 m away is flagged off_site" in err
    assert logged_in("push")[0] == 0
    assert latest(Visit).off_site is True


def test_before_any_pull_the_cache_holds_the_servers_defaults_and_ignores_junk(
        tmp_path: Path) -> None:
    from client_sync.cache import DEFAULT_CAPTURE_POLICY, LocalCache

    cache = LocalCache(tmp_path / "cache.sqlite3")
    try:
        assert cache.capture_policy() == DEFAULT_CAPTURE_POLICY
        cache.set_capture_policy({"off_site_m": 400, "unknown": 1, "location_mismatch_m": "x"})
        policy = cache.capture_policy()
        assert policy["off_site_m"] == 400.0 and "unknown" not in policy
        assert policy["location_mismatch_m"] == DEFAULT_CAPTURE_POLICY["location_mismatch_m"]
    finally:
        cache.close()
