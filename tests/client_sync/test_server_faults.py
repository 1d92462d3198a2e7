"""A record the server itself fails on (5xx for that record alone) fails after a few tries.

The fault is put into a real server process from outside, as a test patches: a
``sitecustomize`` on the server's path wraps the household service so that one household
always raises. Nothing in the server knows about it.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client_sync.push import MAX_RECORD_SERVER_ERRORS
from client_sync.testing import REPO_ROOT, LiveServer
from tests.client_sync.conftest import make_client
from tests.factories import PASSWORD, Factory

DOOMED = "故障户"  # the head name the faulty server cannot take

FAULT = textwrap.dedent(f'''
    """Test fault: the household service raises for one head name (see the test's doc)."""
    import server.services.households as households

    _create = households.create_household

    def create_household(session, access, body, *args, **kwargs):
        if body.get("head_name") == {DOOMED!r}:
            raise RuntimeError("injected fault: this household breaks the server")
        return _create(session, access, body, *args, **kwargs)

    households.create_household = create_household
''')


@pytest.fixture
def faulty_server(app_config: dict[str, Any], _migrated_app: Any,
                  tmp_path: Path) -> Iterator[LiveServer]:
    """A live server whose household service fails on the DOOMED household."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(FAULT, encoding="utf-8")
    server = LiveServer(app_config["DATABASE_URL"], tmp_path / "media",
                        instance_dir=tmp_path / "server", workers=1, threads=2,
                        env={"PYTHONPATH": f"{hooks}:{REPO_ROOT}"})
    with server:
        yield server


def test_a_record_the_server_keeps_failing_on_fails_and_stops_holding_back_the_rest(
        factory: Factory, faulty_server: LiveServer, tmp_path: Path) -> None:
    worker = factory.actor("grid_worker", grids=("G1",))
    building = factory.building("G1").id
    with make_client(faulty_server.url, tmp_path / "phone") as client:
        client.login(worker.user.username, PASSWORD)
        doomed = client.queue_household(door="101", head_name=DOOMED, building_id=building,
                                        unit="1")
        fine = client.queue_household(door="102", head_name="张三", building_id=building,
                                      unit="1")
        passes = 0
        while not client.failed() and passes < 3 * MAX_RECORD_SERVER_ERRORS:
            client.push(timeout=5)
            passes += 1
            time.sleep(0.3)  # the record's backoff (fast in tests) comes due
        (failed,) = client.failed()
        assert failed.client_uuid == doomed
        assert failed.attempts == MAX_RECORD_SERVER_ERRORS
        assert failed.last_error["status"] == 500  # the server's answer, kept
        assert client.outbox.get(fine).state == "done"
        client.retry(doomed)  # the worker can send it again, or discard it
        assert not client.failed()
