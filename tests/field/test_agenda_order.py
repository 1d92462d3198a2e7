"""The phone's agenda is gridsync's: the same households in the same order, offline, from the
same pull (client_sync.cache.LocalCache.agenda is the reference)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from client_sync.client import SyncClient
from client_sync.testing import LiveServer
from server.models.types import utcnow
from tests.factories import PASSWORD
from tests.field.conftest import G1_HERE, FieldWatch, FieldWorld, login, open_app


def test_agenda_order_matches_gridsync_agenda(
        phone: Any, live_server: LiveServer, field_world: FieldWorld, watch: FieldWatch,
        client: Any, tmp_path: Path) -> None:
    worker, households = field_world.worker, field_world.households
    # Met recently: off the agenda. Not at home long ago: still due, and never met.
    for index, (outcome, days) in enumerate([("met", 1), ("met", 2), ("not_home", 40),
                                              ("met", 200), ("refused", 3)]):
        answer = client.post("/api/v1/visits", headers=worker.headers, json={
            "client_uuid": str(uuid.uuid4()), "household_id": households[5 + index],
            "visited_at": (utcnow() - timedelta(days=days)).isoformat(), "outcome": outcome,
            "location": {"lat": 28.8005, "lon": 113.0705 + 0.001 * index, "accuracy_m": 5}})
        assert answer.status_code == 201, answer.get_data(as_text=True)
    with SyncClient(live_server.url, tmp_path / "gridsync") as gridsync:
        gridsync.login("zhou", PASSWORD)
        gridsync.pull()
        expected = [item.household["id"] for item in gridsync.cache.agenda(*G1_HERE, limit=None)]
    page = open_app(phone, watch)
    login(page, "zhou")
    page.wait_for_selector("#agenda a.hh .far:not(:empty)")  # sorted with the phone's fix
    shown = [int(x) for x in page.eval_on_selector_all(
        "#agenda a.hh", "links => links.map(a => a.dataset.household)")]
    assert shown == expected
    assert shown[0] == households[0]  # the yellow ribbon first of all
    assert households[5] not in shown and households[7] in shown
