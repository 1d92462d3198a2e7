"""Who is calling: HTTP Basic and Digest, as ODK Collect speaks them, for the same users.

Collect answers a ``401`` by picking the first challenge of ``WWW-Authenticate`` it knows:
Digest always, Basic only over HTTPS. So the server offers Basic first where Basic is
allowed (HTTPS, or a loopback address for tests and a laptop demo; ``OPENROSA_BASIC_OVER_HTTP``
allows it anywhere) and Digest always.

- **Basic** takes the account password (checked by ``services.auth.login``, with its lock
  and its count of failures per username, shared with the API and the web pages) or a
  *Collect password*.
- **Digest** needs the password in the clear on the server side (its answer is an MD5 of
  it), which an argon2 hash never gives back. So Digest takes only a *Collect password*:
  one minted for a user by ``gridwork odk qr USER``, derived from the server's secret key
  (HKDF, then HMAC of the user id and a salt), and kept as a revocable ``api_token`` row
  (its SHA-256 and the salt, device ``odk:<salt>``). The digest arithmetic is
  Flask-HTTPAuth's; its nonces are stateless here (a time and an HMAC of it), so every
  worker process and host accepts them, and an old one answers ``stale=true``, which makes
  Collect retry without asking the worker again.

Every failed check counts: per username in the database, and per client address in the
API's ``login`` rate-limit bucket (``address_limit``). A request without credentials (the
first step of every Digest exchange) is no failure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import time
from datetime import timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app, request
from flask_httpauth import HTTPDigestAuth
from flask_limiter import RouteLimit
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import Authorization

from server.errors import ApiError, AuthError
from server.extensions import limiter
from server.models import ApiToken, LoginFailure, User
from server.models.types import utcnow
from server.services import auth as auth_service
from server.services.audit import audit
from server.transactions import keep_on_error

__all__ = ["REALM", "COLLECT_DEVICE_PREFIX", "authenticate", "challenges", "address_limit",
           "issue_collect_password", "collect_password", "OpenRosaAuthError"]

REALM = "Gridwork"
COLLECT_DEVICE_PREFIX = "odk:"
NONCE_TTL_S = 3600
_COLLECT_PASSWORD_DAYS = 3650  # revoked by an administrator, not by a calendar
_MAX_CREDENTIALS = 20  # live Collect passwords tried per Digest answer
_FAILED = "gridwork.openrosa_login_failed"

_digest = HTTPDigestAuth(realm=REALM, use_ha1_pw=True, qop="auth")


class OpenRosaAuthError(AuthError):
    """No credentials, or wrong ones: 401 with the challenges Collect understands."""


@lru_cache(maxsize=4)
def _derived(secret: str, label: bytes) -> bytes:
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"gridwork-openrosa", info=label)
    return kdf.derive(secret.encode())


def _key(label: bytes) -> bytes:
    return _derived(str(current_app.config["SECRET_KEY"]), label)


def _mac(label: bytes, text: str) -> str:
    return hmac.new(_key(label), text.encode(), hashlib.sha256).hexdigest()


@_digest.generate_nonce
def _new_nonce() -> str:
    stamp = str(int(time.time()))
    return f"{stamp}-{_mac(b'nonce', stamp)[:32]}"


def _nonce_time(nonce: str) -> int | None:
    """When a nonce this server made was made; None for any other string."""
    stamp, _, mac = nonce.partition("-")
    if not stamp.isdigit() or not hmac.compare_digest(mac, _mac(b"nonce", stamp)[:32]):
        return None
    return int(stamp)


@_digest.verify_nonce
def _nonce_ok(nonce: str) -> bool:
    return _nonce_time(nonce) is not None  # its age is judged after the answer is checked


@_digest.generate_opaque
def _opaque() -> str:
    return _mac(b"opaque", REALM)[:32]


@_digest.verify_opaque
def _opaque_ok(opaque: str | None) -> bool:
    return opaque is not None and hmac.compare_digest(opaque, _opaque())


def collect_password(user_id: int, salt: str) -> str:
    """The Collect password of ``user_id`` with ``salt`` (the server's secret key makes it)."""
    mac = hmac.new(_key(b"collect-password"), f"{user_id}:{salt}".encode(),
                   hashlib.sha256).digest()
    return base64.b32encode(mac[:15]).decode().lower()


def issue_collect_password(session: Session, user: User, *, salt: str | None = None) -> str:
    """Mint a Collect password for ``user`` (Basic and Digest) and return it.

    Args:
        salt: a fixed salt makes the same password every time (the demo's); the row is
            made once. By default each call mints a new one (a new phone).
    """
    salt = salt or secrets.token_hex(8)
    password = collect_password(user.id, salt)
    digest = hashlib.sha256(password.encode()).hexdigest()
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if row is None:
        session.add(ApiToken(user_id=user.id, token_hash=digest,
                             device_id=f"{COLLECT_DEVICE_PREFIX}{salt}",
                             expires_at=utcnow() + timedelta(days=_COLLECT_PASSWORD_DAYS)))
        session.flush()
    return password


def _basic_allowed() -> bool:
    if request.is_secure or current_app.config.get("OPENROSA_BASIC_OVER_HTTP"):
        return True
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def challenges(*, stale: bool = False) -> list[str]:
    """The ``WWW-Authenticate`` values of a 401: Basic first where it is allowed, then Digest."""
    digest = _digest.authenticate_header() + (",stale=true" if stale else "")
    return ([f'Basic realm="{REALM}", charset="UTF-8"'] if _basic_allowed() else []) + [digest]


def _refuse(detail: str, *, stale: bool = False) -> OpenRosaAuthError:
    error = OpenRosaAuthError(detail)
    error.extra["challenges"] = challenges(stale=stale)
    return error


def _failed(session: Session, username: str, reason: str) -> OpenRosaAuthError:
    """Record a wrong secret (the audit row and the counts stay though the answer is 401)."""
    # On the request, not on g: an app context (and its g) can outlive one request.
    request.environ[_FAILED] = True
    audit(session, None, "login_failed", "user", None, username=username[:64],
          reason=reason, via="openrosa")
    keep_on_error()
    return _refuse("用户名或密码错误 (wrong username or password).")


def _locked(session: Session, username: str) -> None:
    until = auth_service.locked_until(session, [username]).get(username)
    if until is not None:
        wait = max(1, int((until - utcnow()).total_seconds()))
        raise auth_service.LoginLockedError(
            f"登录失败次数过多,请 {wait // 60 + 1} 分钟后再试 (too many failed logins).",
            headers={"Retry-After": str(wait)})


def _succeeded(session: Session, user: User) -> User:
    """A right Collect password forgets the username's failures, as ``login`` does."""
    if session.get(LoginFailure, user.username) is not None:
        auth_service.clear_failures(session, user.username)
    return user


def _live_credentials(session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(
        ApiToken.user_id == user.id, ApiToken.device_id.startswith(COLLECT_DEVICE_PREFIX),
        ApiToken.revoked_at.is_(None), ApiToken.expires_at > utcnow(),
    ).order_by(ApiToken.id.desc()).limit(_MAX_CREDENTIALS)))


def _collect_login(session: Session, username: str, password: str) -> User | None:
    """The user whose live Collect password this is, or None."""
    try:
        row = auth_service.authenticate_token(session, password)
    except AuthError:
        return None
    if row.user.username != username or not (row.device_id or "").startswith(
            COLLECT_DEVICE_PREFIX):
        return None
    return row.user


def _basic(session: Session, auth: Authorization) -> User:
    username, password = auth.username or "", auth.password or ""
    if not _basic_allowed():
        raise _refuse("Basic 认证只能经 HTTPS 使用 (Basic authentication needs HTTPS).")
    _locked(session, username)
    user = _collect_login(session, username, password)
    if user is not None:
        return _succeeded(session, user)
    try:
        return auth_service.login(session, username, password)
    except ApiError as exc:
        if exc.status == 401:
            raise _failed(session, username, exc.slug) from None
        raise


def _digest_user(session: Session, auth: Authorization) -> User:
    username = auth.username or ""
    _locked(session, username)
    # The answer covers the URI the client asked for (behind a proxy: with its prefix).
    if not auth.uri or not urlsplit(auth.uri).path.endswith(request.path):
        raise _failed(session, username, "digest_uri_mismatch")
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        auth_service.count_failed_login(session, username)
        raise _failed(session, username, "invalid_credentials")
    for row in _live_credentials(session, user):
        password = collect_password(user.id, (row.device_id or "")[len(COLLECT_DEVICE_PREFIX):])
        ha1 = hashlib.md5(f"{username}:{REALM}:{password}".encode()).hexdigest()  # noqa: S324 - Digest's own hash
        if _digest.authenticate(auth, ha1):
            made = _nonce_time(auth.nonce or "") or 0
            if time.time() - made > NONCE_TTL_S:
                raise _refuse("The nonce is old; answer the new one.", stale=True)
            auth_service.authenticate_token(session, password)  # its last use, at most 1/min
            return _succeeded(session, user)
    auth_service.count_failed_login(session, username)
    raise _failed(session, username, "invalid_credentials")


def authenticate(session: Session) -> User:
    """The user of this request (Basic or Digest); 401 with challenges, 429 while locked."""
    auth = request.authorization
    if auth is None or auth.type not in ("basic", "digest"):
        raise _refuse("请先登录 (log in: Basic over HTTPS, or Digest).")
    user = _basic(session, auth) if auth.type == "basic" else _digest_user(session, auth)
    return user


def _failed_login(response: Any) -> bool:
    return bool(request.environ.get(_FAILED))


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def address_limit() -> RouteLimit:
    """Failed logins per client address, in the same bucket as the API's and the pages'."""
    return limiter.shared_limit(_login_limit, scope="login", deduct_when=_failed_login)
