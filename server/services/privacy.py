"""What each role may see of a household (personal information protection, PIPL).

Phone and ID numbers are masked, and the sensitive tags (disabled, seriously ill,
low-income) hidden, for everyone except the grid's own workers and the community secretary
(``Access.sees_sensitive``). The visit schedule (interval and due dates) is hidden with the
tags, because an interval of 7 days would tell a reader what the hidden tag is.

The full record (unmasked numbers, ID number, notes) is served only by
``GET /households/<id>``; lists carry summaries with the phone always masked.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from server.models import Household
from server.models.households import SENSITIVE_TAGS
from server.services.access import Access
from server.services.visit_policy import status_of

__all__ = ["mask_phone", "mask_id_number", "visible_tags", "household_record",
           "household_summary", "SENSITIVE_TAGS"]


def mask_phone(phone: str | None) -> str | None:
    """``13812345678`` → ``138****5678``; short numbers keep only their last two digits."""
    if not phone:
        return phone
    if len(phone) >= 8:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    keep = 2 if len(phone) > 4 else 0
    return "*" * (len(phone) - keep) + phone[len(phone) - keep:]


def mask_id_number(id_number: str | None) -> str | None:
    """Keep the region code (first 6) and the last 4 characters of an ID number."""
    if not id_number:
        return id_number
    if len(id_number) <= 10:
        return "*" * len(id_number)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


def visible_tags(tags: Iterable[str], sensitive: bool) -> list[str]:
    """The tags a reader may see: all of them, or all but the sensitive ones."""
    return [t for t in tags if sensitive or t not in SENSITIVE_TAGS]


def _common(household: Household, sees: bool, now: datetime) -> dict[str, Any]:
    building = household.building
    grid = household.grid
    record: dict[str, Any] = {
        "id": household.id, "client_uuid": household.client_uuid, "code": household.code,
        "grid_id": household.grid_id, "grid": grid.code if grid else None,
        "building_id": household.building_id,
        "building": building.code if building else None,
        "unit": household.unit, "door": household.door, "head_name": household.head_name,
        "members": household.members,
        "location": {"lat": household.lat, "lon": household.lon},
        "tags": visible_tags(household.tags or [], sees),
        "last_visit_at": household.last_visit_at, "last_met_at": household.last_met_at,
        "status": status_of(household, now),
        "moved_out_at": household.moved_out_at,
        "open_yellow_ribbon": household.has_tag("yellow_ribbon"),
        "masked": not sees,
    }
    if sees:
        record.update(visit_interval_days=household.visit_interval_days,
                      priority=household.priority, due_from_at=household.due_from_at,
                      next_due_at=household.next_due_at,
                      follow_up_at=household.follow_up_at)
    return record


def household_record(household: Household, access: Access, now: datetime) -> dict[str, Any]:
    """The full record as ``access`` may see it (numbers masked unless it sees sensitive)."""
    sees = access.sees_sensitive(household.grid_id)
    record = _common(household, sees, now)
    record.update(
        phone=household.phone if sees else mask_phone(household.phone),
        id_number=household.id_number if sees else mask_id_number(household.id_number),
        notes=household.notes, created_at=household.created_at,
        updated_at=household.updated_at)
    return record


def household_summary(household: Household, access: Access, now: datetime) -> dict[str, Any]:
    """A list item: no ID number or notes, the phone always masked (lists are not audited)."""
    record = _common(household, access.sees_sensitive(household.grid_id), now)
    record["phone"] = mask_phone(household.phone)
    return record

