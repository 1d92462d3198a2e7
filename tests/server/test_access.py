"""The authorization helper: each role's permissions and geography, written out by hand."""

from __future__ import annotations

import pytest

from server.errors import ForbiddenError
from server.services.access import access_for

# role (and grids) → which of G1, G2 the user's geography covers
GEOGRAPHY = {
    ("admin", ()): {"G1", "G2"},
    ("dispatcher", ()): {"G1", "G2"},
    ("secretary", ()): {"G1", "G2"},
    ("department", ()): set(),
    ("supervisor", ("G1",)): {"G1"},
    ("grid_worker", ("G1",)): {"G1"},
    ("grid_worker", ("G2",)): {"G2"},
    ("grid_worker", ("G1", "G2")): {"G1", "G2"},
    ("building_head", ("G2",)): {"G2"},
}

# permission → roles that hold it (the spec of the role table)
EXPECTED = {
    "grids.import": {"admin"},
    "users.manage": {"admin"},
    "reports.create": {"admin", "secretary", "grid_worker", "supervisor", "building_head"},
    "households.read": {"admin", "secretary", "grid_worker", "supervisor", "building_head"},
    "households.sensitive": {"secretary", "grid_worker"},
    "households.import": {"admin", "secretary"},
    "visits.create": {"secretary", "grid_worker", "building_head"},
    "stats.cases": {"admin", "secretary", "dispatcher"},
    "photos.original": {"admin", "secretary", "dispatcher", "supervisor"},
}
ROLES = ["admin", "secretary", "dispatcher", "department", "supervisor", "grid_worker",
         "building_head"]


@pytest.mark.parametrize(("role", "grids"), list(GEOGRAPHY))
def test_geography_of_each_role(factory, db, role, grids):
    actor = factory.actor(role, grids=grids or ("G1",))
    access = access_for(db.session, actor.user)
    seen = {code for code in ("G1", "G2") if access.sees_grid(factory.grid(code).id)}
    assert seen == GEOGRAPHY[(role, grids)]
    assert access.sees_grid(None) is access.everywhere


@pytest.mark.parametrize("permission", sorted(EXPECTED))
def test_role_table(factory, db, permission):
    holders = set()
    for role in ROLES:
        access = access_for(db.session, factory.actor(role).user)
        if access.has(permission):
            holders.add(role)
        else:
            with pytest.raises(ForbiddenError):
                access.require(permission)
    assert holders == EXPECTED[permission]


def test_sql_clause_limits_rows_to_my_grids(factory, db):
    from sqlalchemy import select

    from server.models import Grid

    worker = access_for(db.session, factory.actor("grid_worker", grids=("G2",)).user)
    department = access_for(db.session, factory.actor("department").user)
    admin = access_for(db.session, factory.actor("admin").user)
    codes = lambda a: sorted(db.session.scalars(  # noqa: E731
        select(Grid.code).where(a.grid_clause(Grid.id))))
    assert codes(worker) == ["G2"]
    assert codes(department) == []
    assert codes(admin) == ["G1", "G2"]


def test_sensitive_fields_only_for_my_own_grid(factory, db):
    worker = access_for(db.session, factory.actor("grid_worker", grids=("G1",)).user)
    g1, g2 = factory.grid("G1").id, factory.grid("G2").id
    secretary = access_for(db.session, factory.actor("secretary").user)
    admin = access_for(db.session, factory.actor("admin").user)
    assert worker.sees_sensitive(g1) and not worker.sees_sensitive(g2)
    assert secretary.sees_sensitive(g1) and secretary.sees_sensitive(g2)
    assert not admin.sees_sensitive(g1)  # the system administrator sees masked data


def test_building_head_is_limited_to_their_buildings(factory, db):
    head = access_for(db.session, factory.actor("building_head", grids=("G1",)).user)
    assert head.sees_building(factory.building("G1").id)
    assert not head.sees_building(factory.building("G2").id)
    worker = access_for(db.session, factory.actor("grid_worker").user)
    assert worker.sees_building(factory.building("G2").id)  # not limited by building
