"""The offline agenda reads the schedule the server pulled, promised follow-ups included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from client_sync.cache import LocalCache

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def household(hid: int, *, next_due: datetime, follow_up: datetime | None) -> dict[str, Any]:
    return {"id": hid, "client_uuid": f"00000000-0000-4000-8000-{hid:012d}",
            "code": f"B1-1-{hid}", "tags": [], "priority": False, "open_yellow_ribbon": False,
            "last_visit_at": (NOW - timedelta(days=30)).isoformat(),
            "last_met_at": (NOW - timedelta(days=30)).isoformat(),
            "due_from_at": (min(next_due, follow_up or next_due)).isoformat(),
            "next_due_at": next_due.isoformat(),
            "follow_up_at": follow_up.isoformat() if follow_up else None,
            "location": {"lat": 28.8, "lon": 113.07}}


def test_a_promised_follow_up_shows_on_the_offline_agenda_on_its_day(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "cache.db")
    try:
        cache.apply_page({"reset": True, "has_more": False, "next_cursor": "c1", "changes": [
            {"kind": "household", "id": 1, "op": "upsert",
             "data": household(1, next_due=NOW + timedelta(hours=3), follow_up=NOW)},
            {"kind": "household", "id": 2, "op": "upsert",
             "data": household(2, next_due=NOW + timedelta(days=2),
                               follow_up=NOW + timedelta(days=1))}]})
        today = {i.household["id"]: i.reasons for i in cache.agenda(now=NOW)}
        assert "follow_up" in today[1]
        assert 2 not in today  # its promised day has not come yet
        tomorrow = {i.household["id"]: i.reasons
                    for i in cache.agenda(now=NOW + timedelta(days=1, hours=1))}
        assert "follow_up" in tomorrow[2]
    finally:
        cache.close()


def test_a_household_that_moved_away_is_not_on_the_offline_agenda(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "cache.db")
    try:
        overdue = household(1, next_due=NOW - timedelta(days=3), follow_up=None)
        gone = {**household(2, next_due=NOW - timedelta(days=3), follow_up=None),
                "status": "moved_out", "moved_out_at": (NOW - timedelta(days=1)).isoformat()}
        cache.apply_page({"reset": True, "has_more": False, "next_cursor": "c1", "changes": [
            {"kind": "household", "id": h["id"], "op": "upsert", "data": h}
            for h in (overdue, gone)]})
        assert [i.household["id"] for i in cache.agenda(now=NOW)] == [1]
    finally:
        cache.close()
