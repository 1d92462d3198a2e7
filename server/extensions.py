"""Extension singletons; ``create_app`` binds them with ``init_app``."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_compress import Compress
from flask_limiter import Limiter, RouteLimit
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

__all__ = ["db", "migrate", "compress", "limiter", "login_address_limit", "Base"]

# Named constraints so that Alembic migrations are identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with the shared naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _client_address() -> str:
    # Behind a reverse proxy, ProxyFix (enabled by GRIDWORK_PROXY_COUNT) sets remote_addr.
    return get_remote_address() or request.remote_addr or "unknown"


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
compress = Compress()
limiter = Limiter(key_func=_client_address, default_limits=[])


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _failed_login(response: Any) -> bool:
    return bool(response.status_code == 401)


def login_address_limit(**options: Any) -> RouteLimit:
    """Failed logins per client address: one bucket shared by every login path.

    The count per username is the database's (``server.services.auth.login``); this one
    slows a caller who tries many usernames. Kept in ``RATELIMIT_STORAGE_URI`` (Redis in
    the city tier, so every host counts together).
    """
    return limiter.shared_limit(_login_limit, scope="login", deduct_when=_failed_login,
                                **options)
