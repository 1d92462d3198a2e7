"""What ``gridwork`` commands share: a domain error is one readable line, exit 1; a
spreadsheet import prints its problems and sums the same way."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from server.errors import ApiError, UnprocessableError

__all__ = ["friendly", "report_import"]

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


def report_import(load: Callable[[], Any], dry_run: bool) -> None:
    """Run a spreadsheet import (``load`` answers an ``ImportResult``) and print its problems
    and sums; exit 1 when a row has a problem."""
    try:
        result = load()
    except UnprocessableError as exc:
        for p in exc.extra.get("problems") or []:
            click.echo(f"row {p['row']}: {p['field'] or '-'}: {p['problem']}", err=True)
        raise click.ClickException(exc.detail) from exc
    for p in result.problems:
        click.echo(f"row {p.row}: {p.field or '-'}: {p.problem}", err=True)
    if result.ignored_columns:
        click.echo(f"Ignored columns: {', '.join(result.ignored_columns)}")
    verb = "Would create" if dry_run else "Created"
    click.echo(f"{result.rows} rows. {verb} {result.created}, updated {result.updated}, "
               f"unchanged {result.unchanged}; {len(result.problems)} problem(s).")
    if result.problems:
        raise SystemExit(1)
