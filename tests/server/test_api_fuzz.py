"""Schemathesis fuzzes every operation of the OpenAPI document against the app.

As an administrator and as a grid worker, with every check schemathesis has but one (see
CHECKS): no answer may be a 5xx; every answer matches its documented status codes, content
type, headers and schema; invalid data is refused; a missing or wrong token is refused;
an undocumented method is a 405. Examples per operation are bounded so the run fits in CI.
The stateful phase is not run: the document has no OpenAPI links for it to follow.

(schemathesis' own pytest fixture loader reads a pytest attribute that pytest 9.2 removed, so
the operations are parametrized here from a spec built at collection time.)
"""

from __future__ import annotations

import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CHECKS as _REGISTRY
from schemathesis.checks import load_all_checks

load_all_checks()
# Every check schemathesis has but positive_data_acceptance, which would need every
# semantic rule of a string (a cursor this server made, a bbox of four numbers) spelled out
# as a pattern in the document.
CHECKS = [check for check in _REGISTRY.get_all()
          if check.__name__ != "positive_data_acceptance"]
MAX_EXAMPLES = 6


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

    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case):
        case.call_and_validate(headers=fuzz_headers, checks=CHECKS)

    check()
