"""What every ``gridwork`` command shares: a domain error is one readable line, exit 1."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from server.errors import ApiError

__all__ = ["friendly"]

F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn domain errors into one readable line and exit status 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ApiError as exc:
            errors = exc.extra.get("errors")
            lines = [exc.detail]
            if isinstance(errors, dict):
                lines += [f"  {field}: {' '.join(map(str, msgs))}" for field, msgs in
                          errors.items()]
            raise click.ClickException("\n".join(lines)) from exc

    return wrapper  # type: ignore[return-value]
