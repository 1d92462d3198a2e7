"""The JSON API under /api/v1: flask-smorest, one blueprint per resource."""

from __future__ import annotations

import http
from typing import Any

from flask import Flask
from flask_smorest import Api as SmorestApi
from flask_smorest.spec import prepare_response
from flask_smorest.spec.plugins import integerconverter2paramschema

from schemas.problem import ProblemSchema
from server.api.docs import ContractPlugin
from server.api.params import IdConverter

__all__ = ["Api", "api", "register_api"]


class Api(SmorestApi):  # type: ignore[misc]
    """flask-smorest's Api, speaking RFC 9457 problem+json for errors."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        # server.errors registers the handlers; smorest's own JSON error format is not used.
        pass

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            content_type = self.DEFAULT_RESPONSE_CONTENT_TYPE
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
                content_type = "application/problem+json"
            prepare_response(response, self.spec, content_type)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, "application/problem+json")
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


api = Api(spec_kwargs={
    "info": {"description": "Geotagged photo reports, household visits and the case workflow "
                            "for community grid workers. Errors are RFC 9457 problem+json."},
    # The house schema's rules on every field, rules across fields, and the OpenAPI links.
    "extra_plugins": [ContractPlugin()],
})


def register_api(app: Flask) -> None:
    """Bind the Api to ``app`` and register every blueprint, in one explicit list."""
    from server.api import (
        agenda,
        auth,
        buildings,
        case_stats,
        categories,
        communities,
        coverage,
        docs,
        exports,
        grids,
        health,
        households,
        map_data,
        photos,
        reports,
        sync,
        tracks,
        transitions,
        uploads,
        users,
        visits,
    )

    api.init_app(app)
    api.register_converter(IdConverter, integerconverter2paramschema)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "opaque"})
    for module in (health, auth, grids):
        api.register_blueprint(module.bp)
    docs.register(app)
    # One module per resource: a new resource is added here, to the OpenAPI document with
    # it (and the authorization table test then asks for its row).
    for module in (agenda, buildings, case_stats, categories, communities, coverage,
                   exports, households, map_data, photos, reports, sync, tracks, transitions,
                   uploads, users, visits):
        api.register_blueprint(module.bp)
