"""RFC 9457 problem+json for every error under ``/api/``.

Domain code raises an :class:`ApiError` subclass; handlers here turn it, any werkzeug
``HTTPException`` and marshmallow/webargs validation errors into a problem document.
A 500 never shows internals: the detail is generic and the traceback goes to the log.
A database that does not answer (a dropped or refused connection, a terminated backend, a
full pool, SQLite's lock held too long) is a 503 ``database_unavailable`` with
``Retry-After``, never a 500: the pool replaces the dropped connections (a disconnect
invalidates the whole pool, and ``pool_pre_ping`` tests each one it hands out), so the next
request works without a restart.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from flask import Flask, Response, json, request
from limits.errors import StorageError
from marshmallow import ValidationError
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

__all__ = [
    "ApiError", "NotFoundError", "ForbiddenError", "ConflictError", "DependencyMissingError",
    "UnprocessableError", "PayloadTooLargeError", "UnsupportedMediaTypeError", "AuthError",
    "ServiceUnavailableError", "DeadlineExceededError", "DatabaseUnavailableError",
    "database_unavailable", "problem_body", "problem_for", "problem_response",
    "register_error_handlers", "log_error", "PROBLEM_BASE",
]

log = logging.getLogger(__name__)

PROBLEM_BASE = "/problems/"
PROBLEM_MIMETYPE = "application/problem+json"

_STATUS_SLUGS = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 410: "gone",
    412: "precondition_failed", 413: "payload_too_large", 414: "uri_too_long",
    415: "unsupported_media_type", 422: "validation", 428: "precondition_required",
    429: "rate_limited", 431: "header_fields_too_large",
    500: "server_error", 503: "unavailable",
}


class ApiError(Exception):
    """Root of the domain errors the API reports; carries status, type slug and extra members."""

    status = 400
    slug = "bad_request"
    title = "Bad request"

    def __init__(self, detail: str, *, slug: str | None = None, status: int | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if slug:
            self.slug = slug
        if status:
            self.status = status
        self.headers = headers or {}
        self.extra = extra


class AuthError(ApiError):
    """Missing, wrong or expired credentials."""

    status, slug, title = 401, "unauthorized", "Authentication required"


class ForbiddenError(ApiError):
    """Authenticated, but this role or grid may not do it."""

    status, slug, title = 403, "forbidden", "Not allowed"


class NotFoundError(ApiError):
    """No such record in the caller's scope."""

    status, slug, title = 404, "not_found", "Not found"


class ConflictError(ApiError):
    """The request conflicts with the stored state (e.g. same client_uuid, another body)."""

    status, slug, title = 409, "conflict", "Conflict"


class DependencyMissingError(ConflictError):
    """A record names a parent (photo, household) that the server has not received yet."""

    slug, title = "dependency_missing", "A record this one depends on has not arrived yet"


class UnprocessableError(ApiError):
    """Well-formed but invalid input; ``errors`` maps fields to messages."""

    status, slug, title = 422, "validation", "Invalid input"


class PayloadTooLargeError(ApiError):
    """Body over the configured limit."""

    status, slug, title = 413, "payload_too_large", "Too large"


class UnsupportedMediaTypeError(ApiError):
    """Body of a kind the endpoint does not take."""

    status, slug, title = 415, "unsupported_media_type", "Unsupported media type"


class ServiceUnavailableError(ApiError):
    """A service the answer needs does not answer (e.g. the rate-limit store, Redis)."""

    status, slug, title = 503, "unavailable", "Service unavailable"


class DeadlineExceededError(ServiceUnavailableError):
    """The request ran past its deadline (``server.deadlines``) and was stopped."""

    slug, title = "deadline_exceeded", "Took too long"


class DatabaseUnavailableError(ServiceUnavailableError):
    """The database did not answer (see :func:`database_unavailable`)."""

    slug, title = "database_unavailable", "Database unavailable"


def database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database could not be reached or did not answer, rather
    than that a statement was wrong (an IntegrityError, a ProgrammingError: a 500)."""
    if isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError,
                          sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        return True
    return isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated


_DATABASE_UNAVAILABLE = DatabaseUnavailableError(
    "The database did not answer, so the request was not completed. Try again in a few "
    "seconds; a record sent again with its client_uuid is never stored twice.",
    headers={"Retry-After": "5"})
_SERVER_ERROR_DETAIL = ("Something went wrong on the server. It has been logged; try again, and "
                       "tell the administrator if it keeps happening.")
_INVALID_FIELDS = "The request has invalid fields; see errors."


def problem_body(status: int, slug: str, title: str, detail: str | None = None, *,
                 instance: str | None = None, **extra: Any) -> dict[str, Any]:
    """The problem document as a dict: RFC 9457's members, then the extension members given
    (those that are None are left out)."""
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def problem_for(error: BaseException, instance: str | None, *, http_slug: str | None = None,
                server_error_detail: str = _SERVER_ERROR_DETAIL,
                ) -> tuple[dict[str, Any], dict[str, str]]:
    """The problem document for ``error``, and the headers to answer it with.

    Args:
        error: an :class:`ApiError`, a marshmallow ``ValidationError``, a werkzeug
            ``HTTPException``; anything else (or a 5xx) is a 500 that shows nothing of it.
        instance: the ``instance`` member: the path asked for, or a sync batch's record.
        http_slug: the type slug of every ``HTTPException`` (a sync batch says
            ``http_error``); by default the slug of its status.
        server_error_detail: what a 500 says.
    """
    original = getattr(error, "original_exception", None)  # a 500 Flask made of it
    if database_unavailable(error) or (original is not None and database_unavailable(original)):
        error = _DATABASE_UNAVAILABLE
    if isinstance(error, ApiError):
        return (problem_body(error.status, error.slug, error.title, error.detail,
                             instance=instance, **error.extra), dict(error.headers))
    if isinstance(error, ValidationError):
        return problem_body(422, "validation", "Invalid input", _INVALID_FIELDS,
                            instance=instance, errors=error.normalized_messages()), {}
    if isinstance(error, HTTPException) and error.code and error.code < 500:
        return _http_problem(error, error.code, instance, http_slug)
    return problem_body(500, "server_error", "Internal server error", server_error_detail,
                        instance=instance), {}


def _http_problem(error: HTTPException, status: int, instance: str | None,
                  slug: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    headers = dict(data.get("headers") or {})
    if error.response is not None:
        headers.update({k: v for k, v in error.response.headers.items()
                        if k.lower() in ("retry-after", "allow")})
    if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
        headers["Allow"] = ", ".join(sorted(error.valid_methods))  # type: ignore[attr-defined]
    if status == 429:
        headers.setdefault("Retry-After", "60")
    detail = data.get("message") or (_INVALID_FIELDS if status == 422 else error.description)
    body = problem_body(status, slug or _STATUS_SLUGS.get(status, "http_error"), error.name,
                        detail, instance=instance,
                        errors=_flatten_webargs(errors) if errors else None)
    return body, headers


def _respond(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    resp = Response(json.dumps(body, ensure_ascii=False), status=body["status"],
                    mimetype=PROBLEM_MIMETYPE)
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def _instance() -> str | None:
    return request.path if request else None


def problem_response(status: int, slug: str, title: str, detail: str | None = None,
                     headers: dict[str, str] | None = None, **extra: Any) -> Response:
    """A problem+json response to the request being answered."""
    return _respond(problem_body(status, slug, title, detail, instance=_instance(), **extra),
                    headers)


def _flatten_webargs(messages: Any) -> Any:
    """webargs nests errors by location ({"json": {...}}); the API speaks field names only."""
    if isinstance(messages, dict) and set(messages) <= {"json", "query", "form", "files",
                                                         "headers", "view_args", "cookies"}:
        flat: dict[str, Any] = {}
        for part in messages.values():
            if isinstance(part, dict):
                flat.update(part)
        return flat
    return messages


def handle_http_exception(error: HTTPException) -> Response:
    """Turn any werkzeug HTTP error into problem+json (used for /api/ paths)."""
    if (error.code or 500) >= 500:
        return _server_error(error)
    return _respond(*problem_for(error, _instance()))


def handle_api_error(error: ApiError) -> Response:
    """Turn a domain error into problem+json."""
    return _respond(*problem_for(error, _instance()))


def handle_validation_error(error: ValidationError) -> Response:
    """A marshmallow error raised in a service (outside webargs parsing)."""
    return _respond(*problem_for(error, _instance()))


def _database_error_text(error: sa_exc.DBAPIError) -> str:
    """What a database error says, without the values PostgreSQL repeats in its DETAIL (a
    failing row, a duplicate key) or a data error's message: names, phone numbers."""
    orig = error.orig
    sqlstate = getattr(orig, "sqlstate", None)
    diag = getattr(orig, "diag", None)
    if diag is None:  # sqlite3 names the constraint or column, never a value
        text = f"{type(orig).__name__}: {orig}"
    elif sqlstate is None:  # no answer from the server: the driver's own words
        text = f"{type(orig).__name__}: {str(orig).splitlines()[0] if str(orig) else ''}"
    else:
        parts = [f"{type(orig).__name__} (SQLSTATE {sqlstate})"]
        if not sqlstate.startswith("22"):  # class 22 (data exception) quotes the value
            parts.append(str(diag.message_primary or ""))
        parts += [f"{name} {getattr(diag, name + '_name')}" for name in
                  ("table", "column", "constraint") if getattr(diag, name + "_name", None)]
        text = "; ".join(part for part in parts if part)
    return f"{type(error).__name__}: {text}\n[SQL: {error.statement}]"


def log_error(logger: logging.Logger, message: str, *args: Any, error: BaseException) -> None:
    """Log ``message`` at ERROR with ``error`` and its traceback; a database error without
    the values its message may quote (the statement's parameters are never kept:
    ``hide_parameters``)."""
    if isinstance(error, sa_exc.DBAPIError):
        frames = "".join(traceback.format_tb(error.__traceback__)).rstrip()
        logger.error(message + ": %s\nTraceback (most recent call last):\n%s", *args,
                     _database_error_text(error), frames)
    else:
        logger.error(message, *args, exc_info=(type(error), error, error.__traceback__))


def _server_error(error: BaseException) -> Response:
    original = getattr(error, "original_exception", None) or error
    what = "database unavailable" if database_unavailable(original) else "unhandled error"
    log_error(log, "%s on %s %s", what, request.method, request.path, error=original)
    return _respond(*problem_for(error, _instance()))


def register_error_handlers(app: Flask) -> None:
    """Make every error under /api/ a problem document; leave pages to the web blueprint."""

    def on_http(error: HTTPException) -> Any:
        if request.path.startswith("/api/"):
            return handle_http_exception(error)
        return error

    def on_unexpected(error: Exception) -> Any:
        if isinstance(error, HTTPException):
            return on_http(error)
        if request.path.startswith("/api/"):
            return _server_error(error)
        return InternalServerError(original_exception=error)

    def on_limiter_down(error: StorageError) -> Any:
        log.error("rate-limit storage unreachable on %s %s: %s", request.method, request.path,
                  error.storage_error)
        if request.path.startswith("/api/"):
            return handle_api_error(ServiceUnavailableError(
                "The store that counts login attempts (Redis) does not answer, so logins are "
                "refused until it does. Try again in a minute.", slug="rate_limit_unavailable",
                headers={"Retry-After": "60"}))
        return app.handle_http_exception(ServiceUnavailable())

    def on_database_error(error: Exception) -> Any:
        if not database_unavailable(error):
            return on_unexpected(error)  # a wrong statement: a 500 like any other
        log_error(log, "database unavailable on %s %s", request.method, request.path,
                  error=error)
        if request.path.startswith("/api/"):
            return _respond(*problem_for(error, _instance()))
        return app.handle_http_exception(ServiceUnavailable())

    app.register_error_handler(HTTPException, on_http)
    app.register_error_handler(StorageError, on_limiter_down)
    for database_error in (sa_exc.DBAPIError, sa_exc.DisconnectionError, sa_exc.TimeoutError):
        app.register_error_handler(database_error, on_database_error)
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(ValidationError, handle_validation_error)
    app.register_error_handler(Exception, on_unexpected)
