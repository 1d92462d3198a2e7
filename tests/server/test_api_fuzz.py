"""Schemathesis fuzzes every operation of the OpenAPI document against the app.

No answer may be a 5xx, and every answer must match its documented status codes, content
type and schema. Examples per operation are bounded so the run fits in CI.

(schemathesis' own pytest fixture loader reads a pytest attribute that pytest 9.2 removed, so
the operations are parametrized here from a spec built at collection time.)
"""

from __future__ import annotations

import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
MAX_EXAMPLES = 6


def _operation_labels() -> list[str]:
    from server import create_app

    with tempfile.TemporaryDirectory() as instance:
        app = create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": "sqlite://",
                          "INSTANCE_DIR": instance})
        schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
        return sorted(result.ok().label for result in schema.get_all_operations())


@pytest.fixture
def fuzz_headers(factory):
    """An administrator's token (every operation is reachable) in a small populated world."""
    # The WSGI transport does not decompress: ask for plain bodies.
    return {**factory.actor("admin").headers, "Accept-Encoding": "identity"}


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
