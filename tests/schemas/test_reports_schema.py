"""The report wire schemas: what a phone may send, and the list filters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from marshmallow import ValidationError

from schemas.reports import (
    MAX_PHOTOS,
    ReportCreateSchema,
    ReportFeatureCollectionSchema,
    ReportListArgsSchema,
)


def body(**changes: object) -> dict[str, object]:
    """A valid report body with ``changes`` applied."""
    data: dict[str, object] = {
        "client_uuid": str(uuid.uuid4()),
        "category": "garbage",
        "description": "北岸垃圾",
        "location": {"lat": 28.8051, "lon": 113.0795, "accuracy_m": 12, "crs": "gcj02"},
        "captured_at": "2026-11-20T06:37:00+08:00",
        "photo_ids": [str(uuid.uuid4())],
    }
    data.update(changes)
    return data


def errors_of(data: dict[str, object], schema=None) -> dict[str, object]:
    """The validation errors of loading ``data`` (empty if it loads)."""
    try:
        (schema or ReportCreateSchema()).load(data)
    except ValidationError as exc:
        return dict(exc.messages)
    return {}


def test_valid_body_loads_with_an_aware_time_and_lowercase_uuids():
    photo = str(uuid.uuid4()).upper()
    loaded = ReportCreateSchema().load(body(photo_ids=[photo]))
    assert loaded["captured_at"] == datetime(2026, 11, 19, 22, 37, tzinfo=UTC)
    assert loaded["captured_at"].utcoffset() == timedelta(hours=8)
    assert loaded["photo_ids"] == [photo.lower()]
    assert loaded["location"]["crs"] == "gcj02"


def test_description_and_crs_have_defaults():
    data = body()
    del data["description"]
    data["location"] = {"lat": 28.8, "lon": 113.07}
    loaded = ReportCreateSchema().load(data)
    assert loaded["description"] == ""
    assert loaded["location"] == {"lat": 28.8, "lon": 113.07, "accuracy_m": None,
                                  "crs": "wgs84"}


@pytest.mark.parametrize("count,ok", [(0, False), (1, True), (MAX_PHOTOS, True),
                                      (MAX_PHOTOS + 1, False)])
def test_a_report_has_one_to_nine_photos(count, ok):
    photos = [str(uuid.uuid4()) for _ in range(count)]
    assert ("photo_ids" not in errors_of(body(photo_ids=photos))) is ok


def test_the_same_photo_twice_is_refused():
    photo = str(uuid.uuid4())
    assert "photo_ids" in errors_of(body(photo_ids=[photo, photo]))


@pytest.mark.parametrize("field,value", [
    ("captured_at", "2026-11-20T06:37:00"),  # no offset: the phone's clock zone is unknown
    ("client_uuid", "12345"),
    ("photo_ids", ["not-a-uuid"]),
    ("category", ""),
    ("location", {"lat": 28.8, "lon": 200}),
    ("location", {"lat": 28.8, "lon": 113, "crs": "utm"}),
    ("location", {"lat": float("nan"), "lon": 113}),
    ("description", "长" * 2001),
])
def test_invalid_field_is_named(field, value):
    assert field in errors_of(body(**{field: value}))


@pytest.mark.parametrize("field", ["client_uuid", "category", "location", "captured_at",
                                   "photo_ids"])
def test_required_fields(field):
    data = body()
    del data[field]
    assert field in errors_of(data)


def test_list_args_parse_lists_box_and_times():
    args = ReportListArgsSchema().load({
        "status": "reported,accepted", "category": "garbage", "limit": "20",
        "bbox": "28.80,113.07,28.81,113.09", "since": "2026-11-01T00:00:00+08:00"})
    assert args["status"] == ["reported", "accepted"] and args["category"] == ["garbage"]
    assert args["bbox"] == (28.80, 113.07, 28.81, 113.09)
    assert args["since"].utcoffset() == timedelta(hours=8)
    assert args["limit"] == 20 and args["cursor"] is None


@pytest.mark.parametrize("args,field", [
    ({"bbox": "28.8,113.07,28.81"}, "bbox"),
    ({"bbox": "north,west,south,east"}, "bbox"),
    ({"bbox": "28.9,113.07,28.8,113.09"}, "bbox"),
    ({"bbox": "28.8,113.07,95,113.09"}, "bbox"),
    ({"status": "reported,lost"}, "status"),
    ({"since": "2026-11-02T00:00:00+00:00", "until": "2026-11-01T00:00:00+00:00"}, "until"),
])
def test_bad_list_args_name_the_field(args, field):
    assert field in errors_of(args, ReportListArgsSchema())


def test_feature_collection_holds_points_in_lon_lat_order_and_no_personal_data():
    report = SimpleNamespace(id=7, lat=28.80, lon=113.07, category_code="garbage",
                             status="reported", flags=["stale_photo"], description="secret",
                             created_at=datetime(2026, 11, 20, 6, 37, tzinfo=UTC))
    data = ReportFeatureCollectionSchema().dump({"features": [report], "next_cursor": None})
    assert data["type"] == "FeatureCollection"
    [feature] = data["features"]
    assert feature["type"] == "Feature"
    assert feature["geometry"] == {"type": "Point", "coordinates": [113.07, 28.80]}
    assert feature["properties"] == {"id": 7, "category": "garbage", "status": "reported",
                                     "flags": ["stale_photo"],
                                     "created_at": "2026-11-20T06:37:00+00:00"}
