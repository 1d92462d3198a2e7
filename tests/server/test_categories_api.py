"""Report categories: the seeded defaults, and what admins may change."""

from __future__ import annotations

from sqlalchemy import select

from server.models import AuditLog, Category
from server.services.categories import DEFAULT_CATEGORIES, ensure_default_categories


def codes(resp) -> list[str]:
    """The category codes of a list answer."""
    assert resp.status_code == 200, resp.json
    return [c["code"] for c in resp.json]


def test_fresh_install_lists_the_street_problems_of_the_seeds(client, factory):
    worker = factory.actor("grid_worker")
    resp = client.get("/api/v1/categories", headers=worker.headers)
    assert codes(resp) == [code for code, *_ in DEFAULT_CATEGORIES]
    garbage = resp.json[0]
    assert garbage == {"code": "garbage", "name_zh": "垃圾", "name_en": "Garbage",
                       "sla_hours": 24, "active": True, "sort": 10}
    names = {c["name_zh"] for c in resp.json}
    assert {"乱停乱靠", "流动摊贩", "乱搭乱建", "安全隐患", "道路破损", "路灯", "下水道",
            "矛盾纠纷", "其他"} <= names


def test_ensure_defaults_is_idempotent_and_keeps_admin_changes(db):
    assert ensure_default_categories(db.session) == len(DEFAULT_CATEGORIES)
    db.session.commit()
    db.session.get(Category, "garbage").sla_hours = 6
    db.session.commit()
    assert ensure_default_categories(db.session) == 0
    assert db.session.get(Category, "garbage").sla_hours == 6


def test_admin_adds_a_category_and_it_is_listed(client, factory, db):
    admin = factory.actor("admin")
    resp = client.post("/api/v1/categories", headers=admin.headers, json={
        "code": "noise", "name_zh": "噪音扰民", "name_en": "Noise", "sla_hours": 12})
    assert resp.status_code == 201, resp.json
    assert resp.json["active"] is True and resp.json["sort"] > 100
    assert "noise" in codes(client.get("/api/v1/categories", headers=admin.headers))
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "category_add"))


def test_adding_an_existing_code_is_409_and_a_bad_code_422(client, factory):
    admin = factory.actor("admin")
    client.get("/api/v1/categories", headers=admin.headers)
    body = {"code": "garbage", "name_zh": "垃圾", "name_en": "Garbage", "sla_hours": 24}
    assert client.post("/api/v1/categories", json=body,
                       headers=admin.headers).status_code == 409
    resp = client.post("/api/v1/categories", json=body | {"code": "Bad Code!"},
                       headers=admin.headers)
    assert resp.status_code == 422 and "code" in resp.json["errors"]


def test_retired_category_is_hidden_unless_asked_and_can_come_back(client, factory):
    admin = factory.actor("admin")
    resp = client.patch("/api/v1/categories/street_vendor", json={"active": False},
                        headers=admin.headers)
    assert resp.status_code == 200 and resp.json["active"] is False
    assert "street_vendor" not in codes(client.get("/api/v1/categories", headers=admin.headers))
    every = client.get("/api/v1/categories", query_string={"include_retired": "1"},
                       headers=admin.headers)
    assert "street_vendor" in codes(every)
    client.patch("/api/v1/categories/street_vendor", json={"active": True},
                 headers=admin.headers)
    assert "street_vendor" in codes(client.get("/api/v1/categories", headers=admin.headers))


def test_admin_renames_and_changes_the_deadline(client, factory):
    admin = factory.actor("admin")
    client.get("/api/v1/categories", headers=admin.headers)
    resp = client.patch("/api/v1/categories/drain", headers=admin.headers,
                        json={"name_zh": "排水管网", "sla_hours": 12})
    assert resp.status_code == 200
    assert (resp.json["name_zh"], resp.json["name_en"], resp.json["sla_hours"]) == (
        "排水管网", "Drains", 12)
    missing = client.patch("/api/v1/categories/nope", json={"sla_hours": 2},
                           headers=admin.headers)
    assert missing.status_code == 404


def test_only_admins_manage_categories(client, factory):
    client.get("/api/v1/categories", headers=factory.actor("admin").headers)
    for role in ("secretary", "dispatcher", "grid_worker"):
        actor = factory.actor(role)
        assert client.post("/api/v1/categories", headers=actor.headers, json={
            "code": "noise", "name_zh": "噪音", "name_en": "Noise",
            "sla_hours": 12}).status_code == 403
        assert client.patch("/api/v1/categories/garbage", json={"active": False},
                            headers=actor.headers).status_code == 403


def test_categories_need_a_login(client):
    assert client.get("/api/v1/categories").status_code == 401
