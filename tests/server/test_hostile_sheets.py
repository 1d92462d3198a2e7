"""The hostile spreadsheets (tests/hostile/sheets.py) against the household import.

Each answers the problem the corpus names, as problem+json, at once: nothing is stored, and
the server goes on answering. A request that runs past its deadline stops with a problem.
"""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from server.extensions import db
from server.models import Building, Household
from tests.hostile.sheets import HEADER, SheetEntry, sheets, xlsx_with


@pytest.fixture
def secretary(factory):
    factory.world()
    return factory.actor("secretary")


def upload(client, actor, data: bytes, filename: str = "households.xlsx", query: str = ""):
    return client.post(f"/api/v1/households/import{query}", headers=actor.headers,
                       data={"file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def households() -> int:
    return db.session.scalar(select(func.count(Household.id)))


def _csv(rows: list[list[str]]) -> bytes:
    return "\n".join(",".join(r) for r in [HEADER, *rows]).encode()


ONE_ROW = [["H1", "BG1", "1", "101", "王大爷", "", "", "1", "", "", "", ""]]


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.name) for e in sheets()])
def test_a_hostile_sheet_gets_its_problem_and_stores_nothing(client, secretary,
                                                             entry: SheetEntry):
    answer = upload(client, secretary, entry.data, entry.filename)
    assert (answer.status_code, answer.mimetype) == (entry.expect.status,
                                                     "application/problem+json"), answer.text
    assert answer.json["type"] == f"/problems/{entry.expect.slug}"
    if entry.problem_rows:
        assert [p["row"] for p in answer.json["problems"]] == list(entry.problem_rows)
    assert "root:" not in answer.text  # no external entity was read
    assert households() == 0
    assert client.get("/api/v1/health").status_code == 200


def test_openpyxl_parses_with_defusedxml():
    """openpyxl refuses entities only when defusedxml is installed (setup.cfg requires it)."""
    import openpyxl

    assert openpyxl.DEFUSEDXML is True


def test_a_workbook_that_unpacks_past_the_limit_is_too_large(client, secretary, monkeypatch):
    import server.services.household_sheets as sheets_module

    monkeypatch.setattr(sheets_module, "MAX_XLSX_BYTES", 4096)
    big = xlsx_with({"xl/worksheets/sheet1.xml": b" " * 8192})  # ratio under the bomb's
    answer = upload(client, secretary, big)
    assert (answer.status_code, answer.json["type"]) == (422, "/problems/import_too_large")


def test_an_import_past_the_request_deadline_stops_with_a_problem(client, secretary, app,
                                                                  monkeypatch):
    monkeypatch.setitem(app.config, "REQUEST_DEADLINE_S", 0.0)
    answer = upload(client, secretary, _csv(ONE_ROW), "households.csv")
    assert (answer.status_code, answer.mimetype) == (503, "application/problem+json")
    assert answer.json["type"] == "/problems/deadline_exceeded"
    assert "Split it" in answer.json["detail"]
    assert households() == 0


def test_the_building_import_stops_at_the_deadline_too(client, factory, app, monkeypatch):
    factory.world()
    admin = factory.actor("admin")
    monkeypatch.setitem(app.config, "REQUEST_DEADLINE_S", 0.0)
    answer = client.post("/api/v1/buildings/import", headers=admin.headers,
                         data={"file": (io.BytesIO("code,name,lat,lon\nB9,9栋,28.801,"
                                                   "113.071\n".encode()), "b.csv")},
                         content_type="multipart/form-data")
    assert answer.json["type"] == "/problems/deadline_exceeded"
    assert db.session.scalar(select(func.count(Building.id))) == 2  # the world's own


def test_the_cli_has_no_deadline_and_names_a_hostile_file_in_one_line(app, secretary, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setitem(app.config, "REQUEST_DEADLINE_S", 0.0)  # a request's, not a command's
    runner = app.test_cli_runner()
    good = tmp_path / "households.csv"
    good.write_bytes(_csv(ONE_ROW))
    done = runner.invoke(args=["households", "import", str(good), "--community", "C1"])
    assert done.exit_code == 0, done.output
    bomb = tmp_path / "bomb.xlsx"
    bomb.write_bytes(next(e for e in sheets() if e.name == "billion_laughs").data)
    refused = runner.invoke(args=["households", "import", str(bomb), "--community", "C1"])
    assert refused.exit_code == 1
    assert "cannot be read" in refused.output and "Traceback" not in refused.output
