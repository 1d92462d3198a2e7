"""The visit and household wire schemas catch bad records on the phone, before they queue."""

from __future__ import annotations

import datetime as dt

import pytest
from marshmallow import ValidationError

from schemas.coverage import CoverageArgsSchema
from schemas.households import HouseholdCreateSchema, HouseholdUpdateSchema, id_number_is_valid
from schemas.visits import AgendaArgsSchema, VisitCreateSchema

UUID = "9b2f7c1e-1111-4222-8333-444455556666"
PHOTO = "1d3c0b5e-2222-4333-8444-555566667777"


def visit(**extra):
    return {"client_uuid": UUID, "household_id": 7, "visited_at": "2026-03-05T10:00:00+08:00",
            "location": {"lat": 28.8, "lon": 113.07, "accuracy_m": 12}, "outcome": "met",
            **extra}


def errors(schema, data):
    with pytest.raises(ValidationError) as caught:
        schema.load(data)
    return caught.value.messages


def test_a_visit_loads_with_defaults_and_an_aware_time():
    loaded = VisitCreateSchema().load(visit(photo_ids=[PHOTO.upper()]))
    assert loaded["visited_at"] == dt.datetime(2026, 3, 5, 2, tzinfo=dt.UTC)
    assert loaded["location"]["crs"] == "wgs84"
    assert (loaded["needs"], loaded["notes"], loaded["follow_up_on"]) == ([], "", None)
    assert loaded["photo_ids"] == [PHOTO]  # UUIDs come out lowercase strings


@pytest.mark.parametrize(("change", "field"), [
    ({"household_id": None}, "household_id"),
    ({"household_client_uuid": UUID}, "household_id"),
    ({"outcome": "absent"}, "outcome"),
    ({"visited_at": "2026-03-05T10:00:00"}, "visited_at"),
    ({"location": {"lat": 95, "lon": 113}}, "location"),
    ({"location": {"lat": 28.8, "lon": 113.07, "crs": "osgb"}}, "location"),
    ({"photo_ids": [PHOTO, PHOTO]}, "photo_ids"),
    ({"photo_ids": ["not-a-uuid"]}, "photo_ids"),
    ({"needs": [{"text": "no category"}]}, "needs"),
    ({"needs": [{"category": "drain"}] * 21}, "needs"),
    ({"client_uuid": "x"}, "client_uuid"),
])
def test_a_bad_visit_is_caught_with_its_field(change, field):
    assert field in errors(VisitCreateSchema(), visit(**change))


def test_a_visit_without_a_location_is_refused():
    body = visit()
    del body["location"]
    assert "location" in errors(VisitCreateSchema(), body)


def test_a_household_made_offline_is_named_by_its_uuid():
    body = visit(household_client_uuid=UUID)
    del body["household_id"]
    assert VisitCreateSchema().load(body)["household_client_uuid"] == UUID


def test_id_numbers_need_a_correct_check_digit():
    assert id_number_is_valid("11010519491231002X")
    assert not id_number_is_valid("110105194912310021")
    assert not id_number_is_valid("1101051949123100")


def test_a_household_needs_a_building_or_a_point_and_tidies_its_fields():
    assert "location" in errors(HouseholdCreateSchema(), {"door": "1", "head_name": "张"})
    loaded = HouseholdCreateSchema().load({
        "building_id": 3, "door": " 301 ", "head_name": "张三", "id_number": "11010519491231002x",
        "tags": ["veteran", "elderly_alone", "veteran"]})
    assert (loaded["door"], loaded["id_number"]) == ("301", "11010519491231002X")
    assert loaded["tags"] == ["elderly_alone", "veteran"]  # most demanding first, once
    assert (loaded["members"], loaded["client_uuid"], loaded["code"]) == (1, None, None)


def test_a_household_update_carries_only_what_was_sent():
    assert HouseholdUpdateSchema().load({"members": 4}) == {"members": 4}


def test_agenda_and_coverage_arguments():
    assert "lat" in errors(AgendaArgsSchema(), {"lat": 28.8})
    window = CoverageArgsSchema().load({"from": "2026-03-01", "to": "2026-04-01T00:00:00Z"})
    assert window["from_"] == dt.date(2026, 3, 1)
    assert window["to"] == dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    assert "from" in errors(CoverageArgsSchema(), {"from": "2026-03-01T10:00"})
