"""The OpenAPI document's extras, and Swagger UI's files served from the swagger-ui-bundle wheel.

:class:`ContractPlugin` (an apispec plugin the Api is built with) makes the document say
what the server enforces, so a client generated from it, and schemathesis, send what the
server takes:

- every field of a house schema (``schemas.base.Schema``) that loads a request (the schemas
  ``Blueprint.arguments`` takes, and those they nest) carries the rules that schema applies
  to every request: text without control characters (:data:`TEXT_PATTERN`), a
  32-bit integer, a date or time whose year lies in the policy window (:data:`DATE_PATTERN`);
- a nested object that may be null is that object or null (apispec's rendering for OpenAPI
  3.0 let any object through);
- a schema's rules across fields (``openapi_rules``: "give building_id or location") join its
  component;
- the OpenAPI links of :data:`LINKS`: how an answer's ids, codes and cursors feed the next
  request (a household to its visits, a report to its photos and case moves). Swagger UI shows
  them; schemathesis' stateful phase follows them.
"""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path
from typing import Any

from apispec import APISpec, BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, send_from_directory
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields

from schemas.base import DATE_PATTERN, INT_MAX, INT_MIN, TEXT_PATTERN
from schemas.base import Schema as HouseSchema

__all__ = ["register", "ContractPlugin", "LINKS", "note_request_schema"]

_REQUEST_SCHEMAS: set[type] = set()


def note_request_schema(schema: Any) -> None:
    """Record that ``schema`` (a class or an instance) loads requests, with what it nests."""
    cls = schema if isinstance(schema, type) else type(schema)
    if not isinstance(cls, type) or not issubclass(cls, Schema) or cls in _REQUEST_SCHEMAS:
        return
    _REQUEST_SCHEMAS.add(cls)
    for field in cls._declared_fields.values():
        inner = getattr(field, "inner", None) or getattr(field, "value_field", None)
        for candidate in (field, inner):
            if isinstance(candidate, fields.Nested):
                nested = candidate.nested
                if callable(nested) and not isinstance(nested, type):
                    nested = nested()
                if not isinstance(nested, str):
                    note_request_schema(nested)

API = "/api/v1"


def _ref(method: str, path: str) -> str:
    """An operationRef: the JSON pointer to ``method path`` in this document."""
    return "#/paths/" + f"{API}{path}".replace("~", "~0").replace("/", "~1") + "/" + method


def _link(method: str, path: str, description: str, *, parameters: dict[str, Any] | None = None,
          body: dict[str, Any] | None = None) -> dict[str, Any]:
    link: dict[str, Any] = {"operationRef": _ref(method, path), "description": description}
    if parameters:
        link["parameters"] = parameters
    if body:
        link["requestBody"] = body
    return link


_ID = "$response.body#/id"
_FIRST = "$response.body#/items/0/id"


def _household(expr: str) -> dict[str, dict[str, Any]]:
    at = {"household_id": expr}
    return {
        "GetHousehold": _link("get", "/households/{household_id}", "The household",
                              parameters=at),
        "UpdateHousehold": _link("patch", "/households/{household_id}", "Correct it",
                                 parameters=at),
        "RaiseYellowRibbon": _link("post", "/households/{household_id}/yellow-ribbon",
                                   "Flag that it needs help", parameters=at),
        "RecordVisit": _link("post", "/visits", "Record a visit to it",
                             body={"household_id": expr}),
    }


def _report(expr: str) -> dict[str, dict[str, Any]]:
    at = {"report_id": expr}
    return {
        "GetReport": _link("get", "/reports/{report_id}", "The report", parameters=at),
        "GetTimeline": _link("get", "/reports/{report_id}/timeline",
                             "Its case history and the moves allowed now", parameters=at),
        "MoveCase": _link("post", "/reports/{report_id}/transitions", "Move its case",
                          parameters=at),
    }


def _photo(expr: str) -> dict[str, dict[str, Any]]:
    at = {"photo_id": expr}
    return {
        "GetPhoto": _link("get", "/photos/{photo_id}", "The photo's record", parameters=at),
        "GetDisplay": _link("get", "/photos/{photo_id}/display", "Its display size",
                            parameters=at),
        "GetThumb": _link("get", "/photos/{photo_id}/thumb", "Its thumbnail", parameters=at),
        "GetOriginal": _link("get", "/photos/{photo_id}/original", "The original file",
                             parameters=at),
    }


def _visit(expr: str) -> dict[str, dict[str, Any]]:
    return {
        "GetVisit": _link("get", "/visits/{visit_id}", "The visit",
                          parameters={"visit_id": expr}),
        "ReportNeed": _link("post", "/visits/{visit_id}/needs/{position}/report",
                            "Make its first need a report",
                            parameters={"visit_id": expr, "position": 0}),
    }


def _next_page(path: str, parameter: str = "cursor") -> dict[str, dict[str, Any]]:
    return {"NextPage": _link("get", path, "The next page",
                              parameters={parameter: "$response.body#/next_cursor"})}


#: Links by source operation (method, path under /api/v1); every 2xx answer with a body of
#: that operation carries them. tests/server/test_api_fuzz.py proves each one resolves.
LINKS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("get", "/me"): {
        "MyHouseholds": _link("get", "/households", "The households of my first grid",
                              parameters={"grid": "$response.body#/grids/0"}),
        "MyVisits": _link("get", "/visits", "The visits I made",
                          parameters={"worker_id": "$response.body#/id"})},
    ("post", "/households"): _household(_ID),
    ("get", "/households"): {**_household(_FIRST), **_next_page("/households")},
    ("get", "/households/{household_id}"): {
        "ListVisits": _link("get", "/visits", "Its visits",
                            parameters={"household_id": "$response.body#/id"})},
    ("post", "/households/lookup"): {
        "GetHousehold": _link("get", "/households/{household_id}", "The household found",
                              parameters={"household_id": _FIRST})},
    ("post", "/buildings"): {
        "AddHousehold": _link("post", "/households", "Add a household to the building",
                              body={"building_id": _ID})},
    ("post", "/visits"): _visit(_ID),
    ("get", "/visits"): {**_visit(_FIRST), **_next_page("/visits")},
    ("post", "/visits/{visit_id}/needs/{position}/report"): _report("$response.body#/report_id"),
    ("post", "/reports"): {**_report(_ID), **_photo("$response.body#/photo_ids/0")},
    ("get", "/reports"): {**_report(_FIRST), **_next_page("/reports")},
    ("get", "/reports/{report_id}"): _photo("$response.body#/photo_ids/0"),
    ("post", "/reports/{report_id}/transitions"): {
        "GetTimeline": _link("get", "/reports/{report_id}/timeline", "The case history",
                             parameters={"report_id": "$response.body#/report_id"}),
        "MoveAgain": _link("post", "/reports/{report_id}/transitions",
                           "The next move, at the version this one made",
                           parameters={"report_id": "$response.body#/report_id"},
                           body={"expected_version": "$response.body#/version"}),
    },
    ("get", "/reports/{report_id}/timeline"): {
        "MoveCase": _link("post", "/reports/{report_id}/transitions",
                          "Move the case at the version read",
                          parameters={"report_id": "$response.body#/report_id"},
                          body={"expected_version": "$response.body#/version"})},
    ("post", "/photos"): _photo(_ID),
    ("post", "/categories"): {
        "UpdateCategory": _link("patch", "/categories/{code}", "Rename or retire it",
                                parameters={"code": "$response.body#/code"})},
    ("get", "/communities/{code}/visit-policy"): {
        "SetVisitPolicy": _link("put", "/communities/{code}/visit-policy", "Change it",
                                parameters={"code": "$response.body#/community"})},
    ("get", "/users"): {
        "UnlockUser": _link("post", "/users/{user_id}/unlock", "Lift a login lock",
                            parameters={"user_id": _FIRST}),
        "EnableUser": _link("post", "/users/{user_id}/enable", "Let the user log in again",
                            parameters={"user_id": _FIRST}),
        **_next_page("/users")},
    ("get", "/sync/changes"): _next_page("/sync/changes", "since"),
    ("post", "/tracks"): {
        "GetTrack": _link("get", "/tracks/{track_id}", "The track",
                          parameters={"track_id": _ID})},
    ("get", "/tracks"): {
        "GetTrack": _link("get", "/tracks/{track_id}", "The track",
                          parameters={"track_id": _FIRST}),
        **_next_page("/tracks")},
}


def _house_rules(self: Any, field: fields.Field, ret: dict[str, Any], **_: Any) -> dict[str, Any]:
    """apispec attribute function: the rules ``schemas.base.Schema`` applies to every field."""
    nullable_object = {"type": "object", "nullable": True}
    for option in ret.get("anyOf", ()):  # a nullable Nested: the object or null, not any object
        if option == nullable_object:
            option["enum"] = [None]
    root = field.root
    if (not isinstance(root, HouseSchema) or type(root) not in _REQUEST_SCHEMAS
            or field.dump_only):
        return {}
    extra: dict[str, Any] = {}
    if isinstance(field, fields.Date | fields.DateTime):
        if "pattern" not in ret:
            extra["pattern"] = DATE_PATTERN
    elif isinstance(field, fields.Integer):
        extra["minimum"] = max(ret.get("minimum", INT_MIN), INT_MIN)
        extra["maximum"] = min(ret.get("maximum", INT_MAX), INT_MAX)
    elif (ret.get("type") == "string" and not {"pattern", "enum", "format"} & ret.keys()):
        extra["pattern"] = TEXT_PATTERN
    return extra


class ContractPlugin(BasePlugin):  # type: ignore[misc]
    """Renders the house schema's rules, schema-level rules and :data:`LINKS`."""

    def init_spec(self, spec: APISpec) -> None:
        """Add the field rules to the marshmallow plugin's converter (it runs before this)."""
        for plugin in spec.plugins:
            if isinstance(plugin, MarshmallowPlugin) and plugin.converter is not None:
                plugin.converter.add_attribute_function(_house_rules)

    def schema_helper(self, name: str, definition: dict[str, Any],
                      **kwargs: Any) -> dict[str, Any] | None:
        """A schema's ``openapi_rules`` (rules across its fields) join its component."""
        rules = getattr(kwargs.get("schema"), "openapi_rules", None)
        return deepcopy(rules) if rules else None

    def operation_helper(self, path: str | None = None, operations: dict[str, Any] | None = None,
                         **kwargs: Any) -> None:
        """Put :data:`LINKS` on each 2xx answer with a body of the operations they start from."""
        if not path or not path.startswith(API):
            return
        for method, operation in (operations or {}).items():
            links = LINKS.get((method, path[len(API):]))
            if not links or not isinstance(operation, dict):
                continue
            for status, response in operation.get("responses", {}).items():
                if (str(status).startswith("2") and isinstance(response, dict)
                        and "content" in response):
                    response.setdefault("links", {}).update(deepcopy(links))


def register(app: Flask) -> None:
    """Add the route serving Swagger UI's assets under the configured URL."""
    import swagger_ui_bundle

    assets = Blueprint("docs_assets", __name__)
    prefix = app.config["OPENAPI_SWAGGER_UI_URL"].rstrip("/")

    @assets.route(f"{prefix}/<path:filename>")
    def asset(filename: str) -> ResponseReturnValue:
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)

    @assets.route(f"{prefix}/gridwork-docs-init.js")
    def docs_init() -> ResponseReturnValue:
        return send_from_directory(Path(__file__).parent / "static", "docs-init.js",
                                   max_age=3600)

    app.register_blueprint(assets)
