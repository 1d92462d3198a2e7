"""Exceptions raised by client_sync.

Every exception the library raises on purpose derives from one root, so a caller can write
``except SyncError`` and still tell the cases apart. Each carries the HTTP response it came
from (if any) and the parsed RFC 9457 problem document (if any).

Our exception hierarchy:

* SyncError                      .response, .problem
  + ValidationError              the record is bad; raised at capture time, .errors
  + TransientError               worth retrying later, with backoff
  | + ConnectionFailed           no route, refused, reset, timed out
  | + ServerUnavailable          408, 429, 5xx; .retry_after (seconds or None)
  + AuthRequired                 401: log in again; queued records wait, nothing is dropped
  + RecordRejected               422, or 409 conflict (same client_uuid, other body)
  + DependencyMissing            409 dependency_missing: send the parent first; .missing
  + LockedError                  another process holds the data_dir
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

__all__ = [
    "AuthRequired",
    "ConnectionFailed",
    "DependencyMissing",
    "LockedError",
    "RecordRejected",
    "ServerUnavailable",
    "SyncError",
    "TransientError",
    "ValidationError",
]


class SyncError(Exception):
    """Root of every error client_sync raises; carries the response and the parsed problem."""

    def __init__(
        self,
        message: str = "",
        *,
        response: requests.Response | None = None,
        problem: Mapping[str, Any] | None = None,
    ) -> None:
        self.response = response
        self.problem: dict[str, Any] | None = dict(problem) if problem is not None else None
        super().__init__(message or _problem_message(self.problem) or type(self).__name__)

    @property
    def status(self) -> int | None:
        """The HTTP status, from the response or else from the problem document."""
        if self.response is not None:
            return self.response.status_code
        if self.problem is not None and isinstance(self.problem.get("status"), int):
            return int(self.problem["status"])
        return None


class ValidationError(SyncError):
    """A record failed validation; ``errors`` maps each field to its messages."""

    def __init__(
        self,
        message: str = "",
        *,
        errors: Mapping[str, list[str]] | None = None,
        response: requests.Response | None = None,
        problem: Mapping[str, Any] | None = None,
    ) -> None:
        if errors is None and problem is not None:
            errors = problem.get("errors")
        self.errors: dict[str, list[str]] = dict(errors or {})
        super().__init__(
            message or _errors_message(self.errors), response=response, problem=problem
        )


class TransientError(SyncError):
    """A failure that may go away by itself: retry later with backoff."""


class ConnectionFailed(TransientError):
    """The server could not be reached, or the connection broke or timed out."""


class ServerUnavailable(TransientError):
    """The server answered 408, 429 or 5xx; ``retry_after`` is its hint in seconds, if any."""

    def __init__(
        self,
        message: str = "",
        *,
        retry_after: float | None = None,
        response: requests.Response | None = None,
        problem: Mapping[str, Any] | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, response=response, problem=problem)


class AuthRequired(SyncError):
    """The server answered 401: a login is needed before anything more is sent."""


class RecordRejected(SyncError):
    """The server refused the record for good (422, or 409 conflict); it moves to failed."""


class DependencyMissing(SyncError):
    """The server does not know a parent yet; ``missing`` lists ``{kind, client_uuid}``."""

    @property
    def missing(self) -> list[dict[str, str]]:
        """The parents the server reported missing, as ``{"kind", "client_uuid"}`` dicts."""
        found = (self.problem or {}).get("missing") or []
        return [dict(m) for m in found if isinstance(m, Mapping)]


class LockedError(SyncError):
    """Another process has this data_dir open; two senders could double-send."""


def _problem_message(problem: Mapping[str, Any] | None) -> str:
    if not problem:
        return ""
    title, detail = problem.get("title"), problem.get("detail")
    if title and detail:
        return f"{title}: {detail}"
    return str(title or detail or "")


def _errors_message(errors: Mapping[str, list[str]]) -> str:
    if not errors:
        return ""
    # Nested schemas give a dict of messages instead of a list; show those as they are.
    parts = [
        f"{field}: {'; '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}"
        for field, msgs in sorted(errors.items())
    ]
    return "invalid record (" + ", ".join(parts) + ")"
