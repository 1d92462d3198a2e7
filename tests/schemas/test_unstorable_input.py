"""The base schema refuses what no database stores, so the client refuses it at capture."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from client_sync import capture
from client_sync.exceptions import ValidationError
from schemas.base import DATE_WINDOW, INT_MAX, check_text


def _visit(**changes):
    body = capture.visit_body(outcome="met", lat=28.802, lon=113.074, household_id=7,
                              photo_ids=[])
    return {**body, **changes}


@pytest.mark.parametrize("text,expected", [
    ("楼道下水道堵塞", None), ("line\nbreak\ttab", None),
    ("a\x00b", "U+0000"), ("bell\x07", "U+0007"), ("\ud800", "surrogate"),
])
def test_text_with_a_control_character_or_a_lone_surrogate_cannot_be_stored(text, expected):
    problem = check_text(text)
    assert (problem is None) if expected is None else (expected in problem)


def test_a_nul_in_a_visits_notes_is_refused_at_capture_naming_the_field():
    with pytest.raises(ValidationError) as caught:
        capture.validate("visit", _visit(notes="门口\x00"))
    assert "U+0000" in caught.value.errors["notes"][0]


def test_a_nul_inside_a_nested_need_is_refused_with_its_path():
    needs = [{"category": "welfare", "text": "ok"}, {"category": "welfare", "text": "x\x00"}]
    with pytest.raises(ValidationError) as caught:
        capture.validate("visit", _visit(needs=needs))
    assert "U+0000" in caught.value.errors["needs"][1]["text"][0]


def test_a_visit_of_year_0001_and_a_report_of_1900_are_refused_at_capture():
    with pytest.raises(ValidationError) as visit:
        capture.validate("visit", _visit(visited_at="0001-01-01T00:00:00+14:00"))
    assert str(DATE_WINDOW[0]) in visit.value.errors["visited_at"][0]
    report = capture.report_body(category="garbage", lat=28.8, lon=113.07,
                                 photo_ids=["6f1c2d9e-8a4b-4c3d-9e2f-1a2b3c4d5e6f"],
                                 captured_at=datetime(1900, 1, 1, tzinfo=UTC))
    with pytest.raises(ValidationError) as old:
        capture.validate("report", report)
    assert "captured_at" in old.value.errors


def test_an_id_past_an_integer_column_is_refused():
    with pytest.raises(ValidationError) as caught:
        capture.validate("visit", _visit(household_id=INT_MAX + 1))
    assert str(INT_MAX) in caught.value.errors["household_id"][0]


def test_a_visit_of_today_passes():
    assert capture.validate("visit", _visit())["household_id"] == 7
