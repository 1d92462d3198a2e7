"""Problem answers match the documented Problem schema, extension members included.

schemathesis' own response-schema check judges each answer against the OpenAPI document: the
fuzz run (test_api_fuzz.py) seldom reaches these answers, so each is provoked here on purpose.
"""

from __future__ import annotations

import ast
import inspect
import uuid
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from schemathesis.checks import content_type_conformance, response_schema_conformance
from werkzeug.test import TestResponse

import server
from schemas.problem import ProblemSchema
from server import errors
from tests.server.case_support import CaseWorld
from tests.server.test_household_import import csv_bytes, row
from tests.server.test_household_import import upload as upload_households
from tests.server.test_reports_api import report_body
from tests.server.test_reports_api import upload as upload_photo

RFC_MEMBERS = {"type", "title", "status", "detail", "instance"}


def assert_conforms(app: Flask, label: str, resp: TestResponse) -> dict:
    """Run schemathesis' response checks on ``resp`` as an answer of operation ``label``."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label
    operation.Case(method=operation.method.upper()).validate_response(
        resp, checks=[response_schema_conformance, content_type_conformance])
    return dict(resp.json)


def test_a_rejected_household_import_is_a_documented_problem(app, client, factory):
    resp = upload_households(client, factory.actor("secretary"),
                             csv_bytes([row(1, 楼栋="B99")]), filename="households.csv")
    assert resp.status_code == 422
    body = assert_conforms(app, "POST /api/v1/households/import", resp)
    assert body["type"] == "/problems/import_rejected"
    assert body["rows"] == 1 and body["problems"][0]["field"] == "building"


def test_a_report_under_a_used_client_uuid_is_a_documented_problem(app, client, factory):
    worker = factory.actor("grid_worker")
    body = report_body([upload_photo(client, worker)])
    assert client.post("/api/v1/reports", json=body, headers=worker.headers).status_code == 201
    body["description"] = "改了"
    resp = client.post("/api/v1/reports", json=body, headers=worker.headers)
    assert resp.status_code == 409
    problem = assert_conforms(app, "POST /api/v1/reports", resp)
    assert problem["client_uuid"] == body["client_uuid"]


def test_a_report_naming_a_photo_not_sent_is_a_documented_problem(app, client, factory):
    worker = factory.actor("grid_worker")
    absent = str(uuid.uuid4())
    resp = client.post("/api/v1/reports", json=report_body([absent]), headers=worker.headers)
    assert resp.status_code == 409
    problem = assert_conforms(app, "POST /api/v1/reports", resp)
    assert problem["missing"] == [{"kind": "photo", "client_uuid": absent}]


def test_a_taken_household_code_is_a_documented_problem(app, client, factory):
    secretary = factory.actor("secretary")
    body = {"building_id": factory.building("G1").id, "unit": "2", "door": "301",
            "head_name": "张三"}
    first = client.post("/api/v1/households", json=body, headers=secretary.headers)
    resp = client.post("/api/v1/households", json={**body, "head_name": "李四"},
                       headers=secretary.headers)
    assert resp.status_code == 409
    problem = assert_conforms(app, "POST /api/v1/households", resp)
    assert problem["existing_id"] == first.json["id"]


def test_a_case_move_out_of_turn_is_a_documented_problem(app, factory, monkeypatch):
    world = CaseWorld(factory, monkeypatch)
    report = world.report()
    resp = world.move(world.actor("dispatcher"), report.id, "close")
    assert resp.status_code == 409
    problem = assert_conforms(app, "POST /api/v1/reports/{report_id}/transitions", resp)
    assert (problem["case_status"], problem["allowed_actions"]) == (
        "reported", ["accept", "reject"])


def test_the_problem_schema_admits_members_it_does_not_name(app, client):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["components"]["schemas"]["Problem"]["additionalProperties"] is True


def _extension_members_sent() -> dict[str, list[str]]:
    """Every keyword an ApiError is raised with beyond its own parameters, and where."""
    api_errors = {name for name, obj in vars(errors).items()
                  if inspect.isclass(obj) and issubclass(obj, errors.ApiError)}
    own = set(inspect.signature(errors.ApiError.__init__).parameters) - {"self", "extra"}
    sent: dict[str, list[str]] = {}
    root = Path(server.__file__).parent
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name not in api_errors:
                continue
            for keyword in node.keywords:
                if keyword.arg is not None and keyword.arg not in own:
                    where = f"{path.relative_to(root.parent)}:{node.lineno}"
                    sent.setdefault(keyword.arg, []).append(where)
    return sent


def test_every_extension_member_the_server_sends_is_documented():
    sent = _extension_members_sent()
    assert {"problems", "missing", "client_uuid"} <= set(sent)  # the scan finds them
    declared = set(ProblemSchema().fields) - RFC_MEMBERS
    undeclared = {member: where for member, where in sent.items() if member not in declared}
    assert not undeclared, f"declare these in schemas/problem.py: {undeclared}"


@pytest.mark.parametrize("member", sorted(set(ProblemSchema().fields) - RFC_MEMBERS))
def test_every_declared_extension_member_is_in_the_problem_types_page(member):
    page = Path(__file__).parents[2] / "docs" / "problems.md"
    assert f"`{member}`" in page.read_text(encoding="utf-8")
