"""Inputs that once answered 500: each is now a 4xx problem at the edge, before any query.

Found by schemathesis (issue 15, item 3): a NUL byte or a lone surrogate in any string (no
database stores them), integers past an INTEGER column (2^31 - 1) in paths, queries and
bodies, dates at the ends of the calendar, JSON nested 1,000 deep, and a login's ``next``
carrying CR/LF.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import g
from flask.testing import FlaskClient

from tests.factories import PASSWORD, Factory

BIG = 2**31  # one past the largest INTEGER (users', grids', buildings' ids)
UUID = "6f1c2d9e-8a4b-4c3d-9e2f-1a2b3c4d5e6f"


def _visit(**changes: Any) -> dict[str, Any]:
    return {"client_uuid": UUID, "household_id": 1, "visited_at": "2026-11-20T06:37:00+08:00",
            "outcome": "met", "location": {"lat": 28.802, "lon": 113.074}, **changes}


def _report(**changes: Any) -> dict[str, Any]:
    return {"client_uuid": UUID, "category": "garbage", "photo_ids": [UUID],
            "captured_at": "2026-11-20T06:37:00+08:00",
            "location": {"lat": 28.802, "lon": 113.074}, **changes}


def _household(**changes: Any) -> dict[str, Any]:
    return {"building_id": 1, "unit": "1", "door": "101", "head_name": "张三", **changes}


# (name, method, path, JSON body or None, raw body or None, the statuses allowed)
CASES: list[tuple[str, str, str, Any, str | None, tuple[int, ...]]] = [
    ("id past 2^31 in a path", "GET", f"/api/v1/reports/{BIG}", None, None, (404,)),
    ("a user id past 2^31 in a path", "POST", f"/api/v1/users/{2**40}/disable", None, None,
     (404,)),
    ("id of 23 digits in a path", "GET", "/api/v1/households/99999999999999999999999",
     None, None, (404,)),
    ("id past 2^31 in a query", "GET", f"/api/v1/visits?household_id={BIG}", None, None,
     (422,)),
    ("id past 2^31 in a body", "POST", "/api/v1/households", _household(building_id=BIG),
     None, (422,)),
    ("NUL in a query string", "GET", "/api/v1/reports?category=a%00b", None, None, (422,)),
    ("NUL in a body string", "POST", "/api/v1/households", _household(door="1\u0000"),
     None, (422,)),
    ("NUL in a login", "POST", "/api/v1/auth/tokens", {"username": "a\u0000b",
                                                      "password": "x" * 8}, None, (422,)),
    ("lone surrogate in a body string", "POST", "/api/v1/households",
     None, '{"building_id": 1, "unit": "1", "door": "\\ud800", "head_name": "x"}', (422,)),
    ("a visit in year 0001", "POST", "/api/v1/visits",
     _visit(visited_at="0001-01-01T00:00:00+14:00"), None, (422,)),
    ("a report of 1900", "POST", "/api/v1/reports",
     _report(captured_at="1900-01-01T00:00:00+08:00"), None, (422,)),
    ("a follow-up in 9999", "POST", "/api/v1/visits", _visit(follow_up_on="9999-12-31"),
     None, (422,)),
    ("a window from the first day of the calendar", "GET", "/api/v1/visits?from=0001-01-01",
     None, None, (422,)),
    ("JSON nested 1,000 deep", "POST", "/api/v1/reports", None, "[" * 1000 + "]" * 1000,
     (400,)),
]


@pytest.mark.parametrize("name,method,path,body,raw,allowed", CASES,
                         ids=[case[0] for case in CASES])
def test_hostile_input_is_a_problem_not_a_server_error(client: FlaskClient, factory: Factory,
                                                       name: str, method: str, path: str,
                                                       body: Any, raw: str | None,
                                                       allowed: tuple[int, ...]) -> None:
    role = "grid_worker" if (method, path) == ("POST", "/api/v1/visits") else "admin"
    headers = factory.actor(role).headers  # one who may make the call: the input is at fault
    kwargs: dict[str, Any] = {"json": body} if body is not None else {}
    if raw is not None:
        kwargs = {"data": raw.encode("utf-8", "surrogatepass"),
                  "content_type": "application/json"}
    answer = client.open(path, method=method, headers=headers, **kwargs)
    assert answer.status_code in allowed, (name, answer.status_code, answer.get_json())
    assert answer.mimetype == "application/problem+json"


_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _form_token(client: FlaskClient) -> str:
    g.pop("csrf_token", None)  # the test's app context outlives the request (see test_login)
    match = _TOKEN.search(client.get("/app/login").get_data(as_text=True))
    assert match
    return match.group(1)


def test_a_next_with_cr_lf_after_login_goes_to_the_map(client: FlaskClient,
                                                       factory: Factory) -> None:
    factory.actor("secretary", username="shuji")
    answer = client.post("/app/login", data={
        "username": "shuji", "password": PASSWORD, "csrf_token": _form_token(client),
        "next": "/app/map\r\nSet-Cookie: evil=1"})
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith("/app/map")
    assert "evil" not in answer.headers.get("Set-Cookie", "")


def test_a_nul_byte_in_the_web_login_is_a_refused_login(client: FlaskClient,
                                                        factory: Factory) -> None:
    answer = client.post("/app/login", data={
        "username": "shu\x00ji", "password": PASSWORD, "csrf_token": _form_token(client)})
    assert answer.status_code == 401


def test_a_nul_in_one_batched_record_fails_that_record_alone(client: FlaskClient,
                                                            factory: Factory) -> None:
    secretary = factory.actor("secretary")
    building = factory.building("G1").id
    bodies = [{"building_id": building, "unit": "1", "door": door, "head_name": "张三"}
              for door in ("101", "1\u000002", "103")]
    records = [{"kind": "household", "client_uuid": f"6f1c2d9e-8a4b-4c3d-9e2f-1a2b3c4d5e{n}0",
                "body": body} for n, body in enumerate(bodies)]
    answer = client.post("/api/v1/sync/batch", json={"records": records},
                         headers=secretary.headers)
    assert answer.status_code == 200
    results = answer.get_json()["results"]
    assert [r["status"] for r in results] == [201, 422, 201]
    assert "U+0000" in results[1]["problem"]["errors"]["door"][0]
