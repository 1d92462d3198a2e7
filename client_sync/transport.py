"""HTTP to the Gridwork server: one ``requests.Session`` with base URL, bearer auth, timeouts.

Transport retries never resend anything that may have reached the server. urllib3 retries
only a failed *connect* (the request never left the device) and only for GET and HEAD; a
POST or PATCH that fails is reported at once and the outbox decides, because a replay of a
write is safe only through its ``client_uuid``, not because a socket failed.

Every answer that is not a success becomes one of the ``client_sync.exceptions`` with the
parsed problem+json, so callers catch ``SyncError`` and never look at raw statuses.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from client_sync.backoff import retry_after_seconds
from client_sync.exceptions import (
    AuthRequired,
    ConnectionFailed,
    DependencyMissing,
    RecordRejected,
    ServerUnavailable,
    SyncError,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "IDEMPOTENT_METHODS",
    "ConnectOnlyRetry",
    "Transport",
    "error_for_problem",
    "error_for_response",
    "parse_problem",
]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TRANSIENT_STATUSES = frozenset({408, 429})


class ConnectOnlyRetry(Retry):
    """urllib3 Retry that retries connect errors of idempotent methods and nothing else."""

    def increment(self, method: str | None = None,  # type: ignore[override]
                  url: str | None = None, *args: Any, **kwargs: Any) -> Retry:
        """Give up at once for a non-idempotent method, whatever the error."""
        if method is not None and method.upper() not in IDEMPOTENT_METHODS:
            spent = self.new(total=0, connect=0)
            return Retry.increment(spent, method, url, *args, **kwargs)
        return super().increment(method, url, *args, **kwargs)


def _retry_policy(connect_retries: int) -> Retry:
    return ConnectOnlyRetry(
        total=connect_retries, connect=connect_retries, read=0, status=0, other=0,
        redirect=0, allowed_methods=IDEMPOTENT_METHODS, backoff_factor=0.2,
        raise_on_status=False, respect_retry_after_header=False,
    )


def parse_problem(response: requests.Response) -> dict[str, Any] | None:
    """The problem+json (or any JSON object) of an error response, or None."""
    ctype = response.headers.get("Content-Type", "")
    if "json" not in ctype:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _slug(problem: Mapping[str, Any] | None) -> str:
    return str((problem or {}).get("type") or "").rstrip("/").rsplit("/", 1)[-1]


def error_for_problem(status: int, problem: Mapping[str, Any] | None, *,
                      response: requests.Response | None = None,
                      retry_after: float | None = None) -> SyncError:
    """The exception a status and problem document stand for (also used per batch result)."""
    if status == 401:
        return AuthRequired(response=response, problem=problem)
    if status in TRANSIENT_STATUSES or status >= 500:
        return ServerUnavailable(f"server answered {status}", retry_after=retry_after,
                                 response=response, problem=problem)
    if status == 409 and _slug(problem) == "dependency_missing":
        return DependencyMissing(response=response, problem=problem)
    if status in (400, 403, 404, 409, 410, 413, 415, 422):
        return RecordRejected(response=response, problem=problem or {"status": status})
    return SyncError(f"unexpected answer {status}", response=response, problem=problem)


def error_for_response(response: requests.Response) -> SyncError:
    """The exception for a non-success response."""
    return error_for_problem(
        response.status_code, parse_problem(response), response=response,
        retry_after=retry_after_seconds(response.headers.get("Retry-After")))


class Transport:
    """One HTTP session to one server: ``request()`` answers a success or raises SyncError."""

    def __init__(self, base_url: str, token: str | None = None, *,
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT, connect_retries: int = 2,
                 pool_size: int = 8, user_agent: str = "gridsync") -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=_retry_policy(connect_retries),
                              pool_connections=2, pool_maxsize=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = user_agent
        self.session.headers["Accept"] = "application/json, application/problem+json"
        self.token = token

    @property
    def token(self) -> str | None:
        """The bearer token sent with every request (None: anonymous)."""
        return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        self._token = value
        if value:
            self.session.headers["Authorization"] = f"Bearer {value}"
        else:
            self.session.headers.pop("Authorization", None)

    def url(self, path: str) -> str:
        """An absolute URL for ``path`` (absolute URLs, e.g. a tus Location, pass through)."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(self, method: str, path: str, *, ok: tuple[int, ...] = (), **kwargs: Any,
                ) -> requests.Response:
        """Send a request; return the response if 2xx (or in ``ok``), else raise SyncError.

        Connection errors and timeouts raise ConnectionFailed. ``kwargs`` go to requests.
        """
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("allow_redirects", False)
        try:
            response = self.session.request(method, self.url(path), **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ConnectionFailed(f"{method} {path}: {_reason(exc)}") from exc
        except requests.RequestException as exc:
            # ChunkedEncodingError and friends: the answer broke off on the way back.
            raise ConnectionFailed(f"{method} {path}: {_reason(exc)}") from exc
        if 200 <= response.status_code < 300 or response.status_code in ok:
            return response
        raise error_for_response(response)

    def get_json(self, path: str, **kwargs: Any) -> Any:
        """GET a JSON document."""
        response = self.request("GET", path, **kwargs)
        return _json(response, path)

    def post_json(self, path: str, body: Any, **kwargs: Any) -> Any:
        """POST a JSON body and answer the JSON document."""
        response = self.request("POST", path, json=body, **kwargs)
        return _json(response, path)

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()


def _json(response: requests.Response, path: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        # A 2xx with a broken body: a proxy cut it, or something other than Gridwork answered.
        raise ConnectionFailed(f"{path}: the answer was not JSON", response=response) from exc


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests error, short enough for a status line."""
    inner: BaseException = exc
    while True:
        nxt = getattr(inner, "reason", None) or inner.__cause__ or inner.__context__
        if not isinstance(nxt, BaseException) or nxt is inner:
            break
        inner = nxt
    text = str(inner) or type(inner).__name__
    return text if len(text) < 200 else text[:197] + "..."
