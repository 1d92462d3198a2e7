"""Household privacy, role by role: masked numbers, hidden tags, audited reads."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from server.extensions import db
from server.models import AuditLog
from server.services.privacy import mask_id_number, mask_phone, visible_tags
from tests.server.visit_support import add_household, id_number

PHONE = "13812345678"
ID_NO = id_number(12)
TAGS = ("elderly_alone", "disabled", "low_income", "seriously_ill", "veteran")
PUBLIC_TAGS = ["elderly_alone", "veteran"]

# (role, grids) → GET /households/<id of a G1 household>: status and whether it is full
RULES = {
    ("admin", ()): (200, False),
    ("secretary", ()): (200, True),
    ("dispatcher", ()): (403, None),
    ("department", ()): (403, None),
    ("supervisor", ("G1",)): (200, False),
    ("grid_worker", ("G1",)): (200, True),
    ("grid_worker", ("G2",)): (404, None),  # outside my grids: not found, not "forbidden"
    ("building_head", ("G1",)): (200, False),
    ("building_head", ("G2",)): (404, None),
}


@pytest.fixture
def home(factory):
    return add_household(factory, "G1", tags=TAGS, phone=PHONE, id_no=ID_NO)


def test_phone_and_id_numbers_are_masked_like_this():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("0730-5212345") == "073*****2345"
    assert mask_phone("12345") == "***45"
    assert mask_phone(None) is None
    assert mask_id_number(ID_NO) == ID_NO[:6] + "********" + ID_NO[-4:]
    assert visible_tags(TAGS, False) == PUBLIC_TAGS


@pytest.mark.parametrize(("role", "grids"), list(RULES))
def test_full_record_by_role(client, factory, home, role, grids):
    actor = factory.actor(role, grids=grids or ("G1",))
    status, full = RULES[(role, grids)]
    resp = client.get(f"/api/v1/households/{home.id}", headers=actor.headers)
    assert resp.status_code == status
    reads = db.session.scalars(select(AuditLog).where(AuditLog.action == "household_read")).all()
    if status != 200:
        assert reads == []
        return
    record = resp.json
    assert record["masked"] is (not full)
    assert record["phone"] == (PHONE if full else "138****5678")
    assert record["id_number"] == (ID_NO if full else mask_id_number(ID_NO))
    assert record["tags"] == (list(TAGS) if full else PUBLIC_TAGS)
    # The schedule would betray a hidden tag (7 days: seriously ill?), so it goes with them.
    assert ("visit_interval_days" in record) is full
    assert [(r.user_id, r.object_type, r.object_id, r.detail) for r in reads] == [
        (actor.id, "household", str(home.id), {"masked": not full})]


@pytest.mark.parametrize(("role", "grids"), [k for k, v in RULES.items() if v[0] == 200])
def test_lists_mask_the_phone_for_everyone_and_are_not_audited(client, factory, home, role,
                                                               grids):
    actor = factory.actor(role, grids=grids or ("G1",))
    _status, full = RULES[(role, grids)]
    items = client.get("/api/v1/households", headers=actor.headers).json["items"]
    assert [i["id"] for i in items] == [home.id]
    item = items[0]
    assert item["phone"] == "138****5678"
    assert "id_number" not in item and "notes" not in item
    assert item["tags"] == (list(TAGS) if full else PUBLIC_TAGS)
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "household_read")) is None


@pytest.mark.parametrize(("role", "grids", "allowed"), [
    ("admin", (), False), ("supervisor", ("G1",), False), ("building_head", ("G1",), False),
    ("secretary", (), True), ("grid_worker", ("G1",), True),
])
def test_only_roles_that_see_sensitive_tags_may_filter_by_them(client, factory, home, role,
                                                               grids, allowed):
    actor = factory.actor(role, grids=grids or ("G1",))
    resp = client.get("/api/v1/households?tag=low_income", headers=actor.headers)
    assert resp.status_code == (200 if allowed else 403)
    public = client.get("/api/v1/households?tag=veteran", headers=actor.headers)
    assert [i["id"] for i in public.json["items"]] == [home.id]


@pytest.mark.parametrize(("role", "full"), [("admin", False), ("secretary", True)])
def test_export_masks_as_the_reader_must_see_and_is_audited(client, factory, home, role, full):
    actor = factory.actor(role)
    resp = client.get("/api/v1/households/export?community=C1", headers=actor.headers)
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert rows[0]["联系电话"] == (PHONE if full else "138****5678")
    assert rows[0]["身份证号"] == (ID_NO if full else mask_id_number(ID_NO))
    assert ("低保" in rows[0]["标签"]) is full
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "households_export"))
    assert (entry.user_id, entry.detail["rows"]) == (actor.id, 1)


@pytest.mark.parametrize("role", ["grid_worker", "supervisor", "building_head", "dispatcher"])
def test_only_admins_and_secretaries_export(client, factory, home, role):
    actor = factory.actor(role)
    resp = client.get("/api/v1/households/export?community=C1", headers=actor.headers)
    assert resp.status_code == 403


def test_a_reader_who_cannot_see_sensitive_tags_cannot_remove_them(client, factory, home):
    """An admin's masked export imported back changes nothing; edits keep hidden tags."""
    admin = factory.actor("admin")
    data = client.get("/api/v1/households/export?community=C1", headers=admin.headers).data
    resp = client.post("/api/v1/households/import?community=C1", headers=admin.headers,
                       data=data, content_type="text/csv")
    assert resp.status_code == 200, resp.json
    assert (resp.json["unchanged"], resp.json["updated"]) == (1, 0)
    db.session.refresh(home)
    assert (home.phone, home.id_number, home.tags) == (PHONE, ID_NO, list(TAGS))
    edited = client.patch(f"/api/v1/households/{home.id}", headers=admin.headers,
                          json={"tags": ["elderly"]})
    assert edited.json["tags"] == ["elderly"]
    db.session.refresh(home)
    assert home.tags == ["seriously_ill", "disabled", "low_income", "elderly"]
