"""Report categories: the defaults of the seeds, and the admin's additions and retirements."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.errors import ConflictError, NotFoundError, UnprocessableError
from server.models import Category, User
from server.services.audit import audit

__all__ = ["DEFAULT_CATEGORIES", "ensure_default_categories", "list_categories",
           "get_category", "active_category", "add_category", "update_category"]

# (code, 中文, English, handling deadline in hours once dispatched). The street problems of
# seed 004 (街巷"十乱""十患"): quick hazards get hours, building work gets days.
DEFAULT_CATEGORIES: tuple[tuple[str, str, str, int], ...] = (
    ("garbage", "垃圾", "Garbage", 24),
    ("illegal_parking", "乱停乱靠", "Illegal parking", 4),
    ("street_vendor", "流动摊贩", "Street vendors", 8),
    ("illegal_construction", "乱搭乱建", "Illegal construction", 72),
    ("safety_hazard", "安全隐患", "Safety hazard", 4),
    ("road_damage", "道路破损", "Road damage", 72),
    ("street_light", "路灯", "Street light", 48),
    ("drain", "下水道", "Drains", 24),
    ("dispute", "矛盾纠纷", "Dispute", 72),
    ("other", "其他", "Other", 72),
)


def ensure_default_categories(session: Session) -> int:
    """Add every default category whose code is missing (never changes existing ones).

    Returns how many were added; the caller commits. Safe when two processes race.
    """
    known = set(session.scalars(select(Category.code)))
    added = 0
    for sort, (code, name_zh, name_en, sla) in enumerate(DEFAULT_CATEGORIES):
        if code in known:
            continue
        try:
            with session.begin_nested():
                session.add(Category(code=code, name_zh=name_zh, name_en=name_en,
                                     sla_hours=sla, active=True, sort=(sort + 1) * 10))
                session.flush()
        except IntegrityError:
            continue  # another request added it first
        added += 1
    return added


def _seed_if_empty(session: Session) -> None:
    # A fresh install has the defaults without a setup step; they are written on first use.
    if not session.scalar(select(exists().where(Category.code.is_not(None)))):
        ensure_default_categories(session)
        session.flush()


def list_categories(session: Session, *, include_retired: bool = False) -> list[Category]:
    """Categories in display order; retired ones only when asked."""
    _seed_if_empty(session)
    query = select(Category).order_by(Category.sort, Category.code)
    if not include_retired:
        query = query.where(Category.active.is_(True))
    return list(session.scalars(query))


def get_category(session: Session, code: str) -> Category:
    """The category ``code``, retired or not; 404 if unknown."""
    _seed_if_empty(session)
    category = session.get(Category, code)
    if category is None:
        raise NotFoundError(f"No category with code {code}.")
    return category


def active_category(session: Session, code: str) -> Category:
    """The category a new report may use; 422 naming the field if unknown or retired."""
    category = session.get(Category, code)
    if category is None:
        _seed_if_empty(session)
        category = session.get(Category, code)
    if category is None:
        raise UnprocessableError(f"Unknown category {code}.",
                                 errors={"category": [f"Unknown category {code}."]})
    if not category.active:
        raise UnprocessableError(
            f"The category {code} is retired; choose another.",
            errors={"category": [f"The category {code} is retired and takes no new reports."]})
    return category


def add_category(session: Session, actor: User, data: Mapping[str, Any]) -> Category:
    """Create a category (admin, audited); 409 if the code is taken."""
    _seed_if_empty(session)
    if session.get(Category, data["code"]) is not None:
        raise ConflictError(f"A category with code {data['code']} exists already.")
    sort = data.get("sort")
    if sort is None:
        sort = (session.scalar(select(func.max(Category.sort))) or 0) + 10
    category = Category(code=data["code"], name_zh=data["name_zh"], name_en=data["name_en"],
                        sla_hours=data["sla_hours"], active=True, sort=sort)
    try:
        with session.begin_nested():
            session.add(category)
            session.flush()
    except IntegrityError as exc:
        raise ConflictError(f"A category with code {data['code']} exists already.") from exc
    audit(session, actor, "category_add", "category", category.code, **dict(data))
    session.flush()
    return category


def update_category(session: Session, actor: User, code: str,
                    changes: Mapping[str, Any]) -> Category:
    """Rename, change the deadline, retire or bring back a category (admin, audited)."""
    category = get_category(session, code)
    for key in ("name_zh", "name_en", "sla_hours", "sort", "active"):
        if key in changes:
            setattr(category, key, changes[key])
    audit(session, actor, "category_update", "category", code, **dict(changes))
    session.flush()
    return category
