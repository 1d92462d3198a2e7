"""Schemathesis fuzzes every operation of the OpenAPI document against the app.

As an administrator and as a grid worker, with every check schemathesis has: no answer may
be a 5xx; every answer matches its documented status codes, content type, headers and
schema; a request the document calls valid is taken (``positive_data_acceptance``), one it
calls invalid is refused; a missing or wrong token is refused; an undocumented method is a
405; a deleted resource stays gone. Two phases:

- every operation alone, a bounded number of valid and of invalid requests each;
- the stateful phase: schemathesis follows the document's OpenAPI links (server/api/docs.py)
  from answer to request (a household to its visit, a report to its case moves, a page to
  the next) through a world with a household, a visit, a report and a photo already in it;
  it sends invalid requests too (a wrong type, a missing or made-up token), which must be
  refused.

A valid request the server refuses (422) is accepted only where its reason cannot be
written in OpenAPI 3.0: :data:`SEMANTIC` names, per operation, the fields whose rule is
semantic and why; :data:`PARTLY_SEMANTIC` judges a field only some of whose refusals are
(a track's array point: OpenAPI 3.0 has no tuples). Any other refused field fails the run.
A sync batch refuses an invalid record in the record's result (:data:`REFUSED_WITHIN`).

(schemathesis' own pytest fixture loader reads a pytest attribute that pytest 9.2 removed, so
the operations are parametrized here from a spec built at collection time.)
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyFailure, FlakyStrategyDefinition, Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS as _REGISTRY
from schemathesis.checks import load_all_checks
from schemathesis.core.failures import FailureGroup
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.transport.serialization import serialize_binary

from schemas.base import DATE_WINDOW
from server.extensions import db
from server.models import User
from server.services.auth import issue_token

load_all_checks()
MAX_EXAMPLES = 6
# The stateful phase: scenarios of up to STEPS calls each.
STATEFUL_SCENARIOS = 50
STEPS = 10

# The document says a date's or a time's year lies in the policy window (a pattern): these
# draw only such values, where schemathesis would draw any year and throw most away.
_OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=8)),
                            timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))])
schemathesis.openapi.format("date", st.dates(*DATE_WINDOW).map(date.isoformat))
schemathesis.openapi.format("date-time", st.datetimes(
    datetime.combine(DATE_WINDOW[0], datetime.min.time()),
    datetime.combine(DATE_WINDOW[1], datetime.max.time()), timezones=_OFFSETS,
).map(datetime.isoformat))



@schemathesis.serializer("application/offset+octet-stream")
def _tus_chunk(ctx: Any, value: Any) -> bytes:
    """A tus PATCH body: the chunk's bytes as they are."""
    return serialize_binary(value)


_CURSOR = "an opaque cursor only this server makes (the stateful phase follows next_cursor)"
_ORDER = "an order between two parameters (from before to): OpenAPI 3.0 has no such rule"
_BOX_ORDER = "south <= north and west <= east: an order between the box's parts"
_CATEGORY = "a category code an administrator configured (GET /categories lists them)"
_COMMUNITY = ("required for a role without a community of its own (admin, dispatcher): "
              "the caller's role, not the request, decides it")
_NOT_FUTURE = "a time not in the future: relative to the server's clock"
_FILE = "a spreadsheet whose content parses and whose rows hold (problems name the rows)"
#: Per operation, the fields whose rule OpenAPI 3.0 cannot state, and why: a 422 whose
#: errors name only these fields is not a valid request refused; a key that is a status
#: (``"415"``) or a problem type (``"/problems/import_rejected"``) allows that answer. The
#: stateful phase feeds real values in through the links: cursors from next_cursor, ids and
#: codes from the answers.
SEMANTIC: dict[str, dict[str, str]] = {
    "GET /api/v1/households": {"cursor": _CURSOR},
    "GET /api/v1/visits": {"cursor": _CURSOR, "from": _ORDER, "to": _ORDER},
    "GET /api/v1/reports": {"cursor": _CURSOR, "until": _ORDER, "bbox": _BOX_ORDER},
    "GET /api/v1/reports.geojson": {"cursor": _CURSOR, "until": _ORDER, "bbox": _BOX_ORDER},
    "GET /api/v1/tracks": {"cursor": _CURSOR, "from": _ORDER, "to": _ORDER},
    "GET /api/v1/users": {"cursor": _CURSOR},
    "GET /api/v1/sync/changes": {"since": _CURSOR},
    "GET /api/v1/households/export": {"community": _COMMUNITY},
    "POST /api/v1/households/import": {"community": _COMMUNITY, "file": _FILE,
                                       "/problems/import_rejected": _FILE},
    "POST /api/v1/buildings/import": {"file": _FILE, "/problems/import_rejected": _FILE},
    "GET /api/v1/map/households": {"bbox": _BOX_ORDER, "from": _ORDER},
    "GET /api/v1/map/buildings": {"bbox": _BOX_ORDER},
    "GET /api/v1/map/cases": {"bbox": _BOX_ORDER},
    "GET /api/v1/map/grids": {"from": _ORDER},
    "GET /api/v1/map/visits": {"bbox": _BOX_ORDER, "from": _ORDER,
                               "worker": "required with day: one parameter requires another"},
    "GET /api/v1/map/tracks": {"worker": "required with day: one parameter requires another"},
    "GET /api/v1/stats/cases": {"from": _ORDER},
    "GET /api/v1/stats/coverage": {"from": _ORDER,
                                   "grid": "community or grid, not both: parameters excluding "
                                           "each other"},
    "GET /api/v1/stats/patrols": {"from": "at most 366 days before to: a span between two "
                                          "parameters"},
    "GET /api/v1/me/agenda": {"lat": "lat and lon both or neither: parameters requiring each "
                                     "other"},
    "POST /api/v1/households": {
        "building_id": "a building that exists", "location": "a point inside some grid",
        "id_number": "the ID number's check digit (ISO 7064 MOD 11-2); the shape is a pattern"},
    "PATCH /api/v1/households/{household_id}": {
        "building_id": "a building that exists", "location": "a point inside some grid",
        "id_number": "the ID number's check digit (ISO 7064 MOD 11-2); the shape is a pattern"},
    "POST /api/v1/buildings": {"grid": "a grid that exists, or a point inside one"},
    "POST /api/v1/visits": {"household_id": "a household that exists", "visited_at": _NOT_FUTURE,
                            "household_client_uuid": "a household that exists",
                            "needs": _CATEGORY},
    "POST /api/v1/reports": {"category": _CATEGORY, "captured_at": _NOT_FUTURE},
    "POST /api/v1/visits/{visit_id}/needs/{position}/report": {"category": _CATEGORY},
    "POST /api/v1/photos": {"415": "bytes that decode as a JPEG, PNG or WebP image",
                            "file": "bytes that decode as an image of at most the pixels "
                                    "allowed"},
    # A sync record is one of its kinds, its body that kind's create schema (a bad body
    # fails alone, in its result): nothing of POST /sync/batch is left to name here.
    "POST /api/v1/tracks": {"ended_at": "after started_at, at most 24 hours: an order and a "
                                        "span between two fields"},
}

_IN_ORDER = frozenset({"recorded_at must lie within started_at..ended_at.",
                       "Points must be in time order."})


def _point_rules_unstated(case: Any, refused: Any) -> bool:
    """POST /tracks: every refused point is an array (each position's own type and range:
    OpenAPI 3.0 has no tuples) or refused only for its time (in order, within
    started_at..ended_at: an order between values). A refused object point fails the run:
    the document states all of its rules."""
    points = case.body.get("points") if isinstance(case.body, dict) else None
    if not isinstance(refused, dict) or not isinstance(points, list):
        return False
    for index, messages in refused.items():
        try:
            point = points[int(index)]
        except (ValueError, IndexError):
            return False
        if not isinstance(point, list) and not set(messages) <= _IN_ORDER:
            return False
    return True


#: Per operation, fields of which only some refusals are semantic: a judge of the request
#: and the field's errors says whether these are.
PARTLY_SEMANTIC: dict[str, dict[str, Any]] = {"POST /api/v1/tracks": {
    "points": _point_rules_unstated}}

_positive_data_acceptance = _REGISTRY.get_by_names(["positive_data_acceptance"])[0]


def positive_data_acceptance(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis' check, but a 422 whose every field is in :data:`SEMANTIC` passes."""
    try:
        return _positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        allowed = SEMANTIC.get(case.operation.label, {})
        try:
            problem = json.loads(response.content)
        except ValueError:
            problem = {}
        if not isinstance(problem, dict):
            problem = {}
        errors = problem.get("errors") or {}
        names = set(errors) or {problem.get("type")}
        judges = PARTLY_SEMANTIC.get(case.operation.label, {})
        if str(response.status_code) in allowed or (
                response.status_code == 422
                and all(name in allowed or (name in judges and judges[name](case, errors[name]))
                        for name in names)):
            return None
        raise


_TUS_VERSION = "tus 1.0.0 prescribes 412 Precondition Failed for a Tus-Resumable it lacks"
#: Per operation, a status that refuses an invalid request although schemathesis does not
#: count it as a refusal, and why.
REFUSALS: dict[str, dict[str, str]] = {
    f"{method} /api/v1/uploads/{path}": {"412": _TUS_VERSION}
    for method, path in (("POST", ""), ("HEAD", "{upload_id}"), ("PATCH", "{upload_id}"),
                         ("DELETE", "{upload_id}"))}

_negative_data_rejection = _REGISTRY.get_by_names(["negative_data_rejection"])[0]


def _refused_in_its_result(response: Any) -> bool:
    """POST /sync/batch: a record whose body breaks its kind's schema fails alone, so the
    batch answers 200 and the record's result carries the refusal (its 4xx and problem)."""
    try:
        results = json.loads(response.content).get("results")
    except (ValueError, AttributeError):
        return False
    return isinstance(results, list) and any(
        isinstance(result, dict) and 400 <= (result.get("status") or 0) < 500
        for result in results)


#: Per operation, a judge of an answer that refuses an invalid request in its own way.
REFUSED_WITHIN: dict[str, Any] = {"POST /api/v1/sync/batch": _refused_in_its_result}


def negative_data_rejection(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis' check, but a status :data:`REFUSALS` names for the operation refuses,
    and so does an answer :data:`REFUSED_WITHIN`'s judge calls a refusal."""
    if str(response.status_code) in REFUSALS.get(case.operation.label, {}):
        return None
    judge = REFUSED_WITHIN.get(case.operation.label)
    if judge is not None and response.status_code == 200 and judge(response):
        return None
    return _negative_data_rejection(ctx, response, case)


def _as_over_http(case: Any) -> None:
    """Send an object drawn for a query parameter as HTTP clients do (its keys, each as the
    parameter: requests sends ``?p=k1&p=k2``), not as werkzeug's test client does (the
    object's Python repr, a valid string, which the server rightly takes)."""
    if isinstance(case.query, dict):
        case.query = {name: list(value) if isinstance(value, dict) else value
                      for name, value in case.query.items()}


CHECKS = [check for check in _REGISTRY.get_all()
          if check not in (_positive_data_acceptance, _negative_data_rejection)
          ] + [positive_data_acceptance, negative_data_rejection]


def _operation_labels() -> list[str]:
    from server import create_app

    with tempfile.TemporaryDirectory() as instance:
        app = create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": "sqlite://",
                          "INSTANCE_DIR": instance})
        schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
        return sorted(result.ok().label for result in schema.get_all_operations())


@pytest.fixture(params=["admin", "grid_worker"])
def fuzz_headers(request, factory):
    """A token in a small populated world: an administrator's (every operation is
    reachable) and a grid worker's (most are refused: the refusals must be documented)."""
    # The WSGI transport does not decompress: ask for plain bodies.
    return {**factory.actor(request.param).headers, "Accept-Encoding": "identity"}


@pytest.mark.parametrize("label", _operation_labels())
def test_every_operation_answers_as_documented(app, fuzz_headers, label):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operation = schema.find_operation_by_label(label)
    assert operation is not None

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            _as_over_http(case)
            case.call_and_validate(headers=fuzz_headers, checks=CHECKS)

        try:
            check()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # nothing to get wrong: no parameter, no body


def test_every_link_resolves(app):
    """Each OpenAPI link names an operation of the document and parameters it has."""
    from server.api.docs import LINKS

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    document = schema.raw_schema
    found = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for response in operation["responses"].values():
                for name, link in response.get("links", {}).items():
                    found += 1
                    target = schema.find_operation_by_reference(link["operationRef"])
                    names = {parameter.name for parameter in target.iter_parameters()}
                    assert set(link.get("parameters", {})) <= names, (method, path, name)
    assert found >= len(LINKS)
    # schemathesis builds its state machine from them (an unresolvable link raises here),
    # each a transition the stateful phase may take.
    machine = schema.as_state_machine()
    transitions = {(link.source.label, link.name)
                   for entry in machine._transitions.operations.values()
                   for link in entry.outgoing if not link.is_inferred}
    assert {(f"{method.upper()} /api/v1{path}", name)
            for (method, path), named in LINKS.items() for name in named} <= transitions


@pytest.fixture(params=["admin", "worker"])
def stateful_actor(request, factory):
    """The stateful phase's caller, in the authorization proof's world (a G1 household with
    a visit, a report of a photo accepted and dispatched, a track, an unfinished upload)."""
    from tests.server.authz_world import World

    world = World(factory)
    return world.actors[request.param]


# schemathesis' WSGI transport reads a streamed answer (an original photo, send_file) without
# closing it, which a WSGI server does; the file is closed when it is collected.
@pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")
def test_stateful_phase_follows_the_links(app, stateful_actor):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    user_id = stateful_actor.id
    token = [""]

    @schema.auth(refresh_interval=None, retry_on=[])
    class Token:
        """The scenario's token, on every case but those schemathesis sends without one on
        purpose (missing_required_header, ignored_auth)."""

        def get(self, case: Any, context: Any) -> str:
            return token[0]

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            scenarios.append(1)
            # Each scenario starts logged in, whatever the last one did (DELETE
            # /auth/tokens/current, a password reset, a lock from wrong passwords).
            user = db.session.get(User, user_id)
            user.active, user.locked_until = True, None
            token[0], _ = issue_token(db.session, user, ttl_hours=1)
            db.session.commit()

        def step(self, input: Any) -> Any:
            # A link of the document (schemathesis infers more of its own; not counted).
            followed = (input.transition is not None and input.is_applied
                        and not input.transition.is_inferred)
            if followed:
                links[input.transition.id] += 1
            output = super().step(input)
            calls[(output.response.status_code, followed)] += 1
            return output

        def before_call(self, case: Any) -> None:
            _as_over_http(case)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": {"Accept-Encoding": "identity"}}  # WSGI: no decompression

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None,
                              **kwargs: Any) -> None:
            try:
                case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None,
                                       recorder=self.recorder)
            except FailureGroup as exc:  # kept: a replay on a changed database may not fail
                failures.append(f"{case.operation.label}: {exc}")
                raise

    links: Counter[str] = Counter()
    calls: Counter[tuple[int, bool]] = Counter()
    failures: list[str] = []
    scenarios: list[int] = []
    began = time.monotonic()
    for _ in range(5):
        try:
            Machine.run(settings=settings(
                max_examples=STATEFUL_SCENARIOS - len(scenarios), stateful_step_count=STEPS,
                deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck), phases=[Phase.generate]))
        except (FlakyStrategyDefinition, FlakyFailure):
            # The database moved on since Hypothesis drew a scenario, so its replay draws
            # otherwise (schemathesis' own runner starts a new suite then, as here); every
            # failure was kept as it happened.
            if failures or len(scenarios) >= STATEFUL_SCENARIOS:
                break
            continue
        break
    assert not failures, "\n\n".join(failures)
    through_links = sum(n for (_, followed), n in calls.items() if followed)
    print(f"\nstateful phase: {len(scenarios)} scenarios, {sum(calls.values())} calls in "
          f"{time.monotonic() - began:.1f} s, "
          f"{through_links} through {len(links)} distinct links, "
          f"{sum(n for (status, _), n in calls.items() if status < 300)} answered 2xx")
    # How many calls a link makes depends on what the random ones before it found (a list
    # with items), so a run's figures are printed, not asserted; that each link is one of
    # the machine's transitions is test_every_link_resolves.


# --- the document and the server agree (each found by the fuzzing above) -------------------

def _document(app: Any) -> dict[str, Any]:
    return app.test_client().get("/api/v1/openapi.json").get_json()


def test_the_document_states_the_house_rules_on_requests_only(app):
    from schemas.base import DATE_PATTERN, INT_MAX, TEXT_PATTERN

    components = _document(app)["components"]["schemas"]
    household = components["HouseholdCreate"]["properties"]
    assert household["door"]["pattern"] == TEXT_PATTERN
    assert household["building_id"]["maximum"] == INT_MAX
    assert household["members"]["maximum"] == 50  # a narrower range stays
    assert components["VisitCreate"]["properties"]["visited_at"]["pattern"] == DATE_PATTERN
    # A nullable point is a point or null, not any object ({"\t": 1} was "valid").
    assert {"type": "object", "nullable": True, "enum": [None]} in household["location"]["anyOf"]
    # Answers are not held to request rules: a problem echoes whatever path was asked for,
    # and a period may start before the window (stats from 2000-01-03 back 30 days).
    assert "pattern" not in components["Problem"]["properties"]["instance"]
    assert "pattern" not in components["CaseStats"]["properties"]["from"]


def test_rules_across_fields_are_in_the_document(app):
    components = _document(app)["components"]["schemas"]
    assert [rule["required"] for rule in components["HouseholdCreate"]["anyOf"]] == [
        ["building_id"], ["location"]]
    assert [rule["required"] for rule in components["VisitCreate"]["anyOf"]] == [
        ["household_id"], ["household_client_uuid"]]
    # A sync record is one of its kinds, its body that kind's create schema.
    assert {(rule["properties"]["kind"]["enum"][0], rule["properties"]["body"]["$ref"])
            for rule in components["SyncRecord"]["oneOf"]} == {
        ("household", "#/components/schemas/HouseholdCreate"),
        ("visit", "#/components/schemas/VisitCreate"),
        ("report", "#/components/schemas/ReportCreate"),
        ("track", "#/components/schemas/TrackCreate")}


def test_a_time_is_in_the_window_by_its_date_as_written():
    from marshmallow import ValidationError

    from schemas.visits import VisitCreateSchema

    body = {"client_uuid": "5d0c8d4e-2f0b-4a5e-9a53-0f8d1c2b3a4d", "household_id": 1,
            "location": {"lat": 28.8, "lon": 113.07}, "outcome": "met"}
    # Year 2000 as written (1999 in UTC): the document's pattern says in, so the server does.
    VisitCreateSchema().load({**body, "visited_at": "2000-01-01T00:00:00+14:00"})
    with pytest.raises(ValidationError) as refused:  # 2000 in UTC, but 1999 as written
        VisitCreateSchema().load({**body, "visited_at": "1999-12-31T23:00:00-10:00"})
    assert "visited_at" in refused.value.messages


def test_household_id_zero_is_a_household_id_given():
    from marshmallow import ValidationError

    from schemas.visits import VisitCreateSchema

    body = {"client_uuid": "5d0c8d4e-2f0b-4a5e-9a53-0f8d1c2b3a4d", "household_id": 0,
            "location": {"lat": 28.8, "lon": 113.07}, "outcome": "met",
            "visited_at": "2026-03-01T10:00:00+08:00"}
    assert VisitCreateSchema().load(body)["household_id"] == 0  # was "give exactly one"
    with pytest.raises(ValidationError):
        VisitCreateSchema().load({**body, "household_client_uuid": body["client_uuid"]})


@pytest.mark.parametrize("bbox", ["2.8e1,113.06,28.81,113.09", " 28.79,113.06,28.81,113.09",
                                  "28.79,113.06,28.81,+113.09", "28.79,113.06,28.81,inf"])
@pytest.mark.parametrize("path", ["/api/v1/map/buildings", "/api/v1/reports"])
def test_a_bbox_is_decimal_degrees_as_the_document_says(client, factory, path, bbox):
    headers = factory.actor("admin").headers
    answer = client.get(path, headers=headers, query_string={"bbox": bbox})
    assert answer.status_code == 422 and "bbox" in answer.get_json()["errors"], bbox
    fine = client.get(path, headers=headers, query_string={"bbox": "28.79,113.06,28.81,113.09"})
    assert fine.status_code == 200


def test_the_roles_and_the_policy_tags_the_document_lists_are_the_servers():
    from schemas.communities import VisitPolicyUpdateSchema
    from schemas.users import ROLES
    from server.models import Role
    from server.services.visit_policy import DEFAULT_INTERVALS

    assert tuple(role.value for role in Role) == ROLES
    listed = VisitPolicyUpdateSchema().fields["overrides"].metadata["properties"]
    assert set(listed) == set(DEFAULT_INTERVALS)


def test_tus_headers_are_in_the_document(app):
    paths = _document(app)["paths"]
    create = {p["name"]: p for p in paths["/api/v1/uploads/"]["post"]["parameters"]}
    assert create["Upload-Length"]["required"] and create["Upload-Length"]["schema"]["minimum"] == 1
    patch = paths["/api/v1/uploads/{upload_id}"]["patch"]
    assert {p["name"] for p in patch["parameters"]} >= {"Tus-Resumable", "Upload-Offset"}
    assert list(patch["requestBody"]["content"]) == ["application/offset+octet-stream"]


def test_a_parameter_of_one_value_given_twice_is_refused(client, factory):
    """Found by the invalid requests: ?community=a&community=b%06 read "a" and passed the
    control character in the second value by (a proxy or a log may read the other one)."""
    headers = factory.actor("admin").headers
    answer = client.get("/api/v1/grids?community=a&community=b%06", headers=headers)
    assert answer.status_code == 422
    assert answer.get_json()["errors"]["community"] == ["Give this parameter once."]
    # A parameter that takes several values still does.
    listed = client.get("/api/v1/reports?status=reported&status=closed", headers=headers)
    assert listed.status_code == 200
