"""Languages of the pages: Chinese (zh_CN) by default, English on the switch (Flask-Babel).

Every visible string goes through gettext: templates with ``_()``, and the strings the page
scripts show through ``js_messages()``, rendered as JSON into a ``data-`` attribute.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from flask_babel import Babel
from flask_babel import lazy_gettext as _l

from server.web.session import session_locale

__all__ = ["LOCALES", "init_babel", "select_locale", "html_lang", "js_messages", "babel"]

# The switch offers these; each shows its own name in its own language.
LOCALES: dict[str, str] = {"zh_CN": "中文", "en": "English"}
babel = Babel()

# Strings the scripts show. Keys are what the JS asks for; values go through the catalogue.
_JS: dict[str, Any] = {
    "status.ok": _l("Visited within policy"),
    "status.due": _l("Due"),
    "status.overdue": _l("Overdue"),
    "status.yellow_ribbon": _l("Yellow ribbon (asks for help)"),
    "status.never": _l("Never visited"),
    "status.moved_out": _l("Moved out"),
    "outcome.met": _l("Met"),
    "outcome.not_home": _l("Not at home"),
    "outcome.refused": _l("Refused"),
    "outcome.moved_out": _l("Moved out"),
    "case.reported": _l("Reported"),
    "case.accepted": _l("Accepted (opened)"),
    "case.rejected": _l("Rejected"),
    "case.dispatched": _l("Dispatched"),
    "case.handled": _l("Handled"),
    "case.verified": _l("Verified"),
    "case.closed": _l("Closed"),
    "case.overdue": _l("Overdue case"),
    "action.report": _l("Reported"),
    "action.accept": _l("Opened the case"),
    "action.reject": _l("Rejected"),
    "action.dispatch": _l("Dispatched"),
    "action.return": _l("Returned by the department"),
    "action.handle": _l("Handled (reply)"),
    "action.verify": _l("Verified on site"),
    "action.fail_verify": _l("Failed verification"),
    "action.close": _l("Closed"),
    "action.escalate": _l("Escalated (past deadline)"),
    "map.households": _l("Households"),
    "map.cluster": _l("%(n)s households, %(overdue)s overdue"),
    "map.coverage": _l("%(name)s: coverage %(pct)s (%(visited)s of %(total)s households)"),
    "map.visits_line": _l("%(n)s visits, %(off)s off site"),
    "map.cases_line": _l("%(n)s cases, %(overdue)s overdue"),
    "map.households_line": _l("%(n)s households in view"),
    "map.truncated": _l("Showing the latest %(n)s; zoom in to see all."),
    "map.track": _l("Patrol track: %(n)s visits"),
    "map.track_none": _l("No patrol track and no visits by this worker on this day."),
    "map.patrol": _l("Patrol: %(length)s in %(time)s; %(n)s visits"),
    "map.track_unrecorded": _l("No patrol track was recorded; the dashed line joins the "
                               "visits in order."),
    "map.track_tip": _l("Patrol %(from)s–%(to)s, %(length)s"),
    "map.zoom_for_visits": _l("Zoom in to see single visits."),
    "map.off_site": _l("Off site (%(m)s m from the door)"),
    "map.on_site": _l("At the door (%(m)s m)"),
    "map.all_workers": _l("All workers"),
    "map.loading": _l("Loading…"),
    "map.building": _l("Building"),
    "map.no_tiles": _l("No base map is set up, so the grids lie on a plain background. "
                       "To show streets, set %(setting)s (see the operations guide)."),
    "panel.household": _l("Household"),
    "panel.head": _l("Head of household"),
    "panel.phone": _l("Phone"),
    "panel.members": _l("Members"),
    "panel.tags": _l("Tags"),
    "panel.address": _l("Address"),
    "panel.last_visit": _l("Last visit"),
    "panel.visits": _l("Visit history"),
    "panel.no_visits": _l("No visits yet."),
    "panel.case": _l("Case"),
    "panel.category": _l("Category"),
    "panel.status": _l("Status"),
    "panel.department": _l("Department"),
    "panel.deadline": _l("Deadline"),
    "panel.timeline": _l("Timeline"),
    "panel.before": _l("Before"),
    "panel.after": _l("After"),
    "panel.by": _l("by %(who)s"),
    "panel.close": _l("Close"),
    "panel.worker": _l("Worker"),
    "panel.notes": _l("Notes"),
    "panel.needs": _l("Needs raised"),
    "panel.no_needs": _l("No needs recorded."),
    "panel.need_case": _l("became case #%(id)s"),
    "panel.flags": _l("Checks"),
    "flag.outside_grid": _l("Outside every grid"),
    "flag.location_mismatch": _l("Photo taken elsewhere"),
    "flag.location_mismatch_m": _l("Photo taken %(m)s m from the reported place"),
    "flag.stale_photo": _l("Old photo"),
    "flag.stale_photo_h": _l("Photo taken %(h)s h before the report"),
    "flag.possible_duplicate": _l("Possible duplicate"),
    "flag.possible_duplicate_of": _l("Possible duplicate of case #%(id)s (%(m)s m away)"),
    "need.welfare": _l("Social assistance"),
    "need.medical": _l("Medical care"),
    "need.elderly_care": _l("Elderly care"),
    "need.employment": _l("Employment"),
    "need.housing": _l("Housing"),
    "need.legal": _l("Legal aid"),
    "tag.elderly_alone": _l("Elderly living alone"),
    "tag.elderly": _l("Very old"),
    "tag.disabled": _l("Disabled"),
    "tag.seriously_ill": _l("Seriously ill"),
    "tag.low_income": _l("Low income"),
    "tag.left_behind_child": _l("Left-behind child"),
    "tag.veteran": _l("Veteran"),
    "tag.yellow_ribbon": _l("Yellow ribbon"),
    "dash.days_overdue": _l("%(n)s days overdue"),
    "dash.never_visited": _l("never visited"),
    "dash.follow_up": _l("follow-up promised"),
    "dash.reported": _l("Reported"),
    "dash.accepted": _l("Opened"),
    "dash.dispatched": _l("Dispatched"),
    "dash.closed": _l("Closed"),
    "dash.visits": _l("Visits"),
    "dash.coverage": _l("Coverage %"),
    "dash.none": _l("Nothing to show for this period."),
    "error.load": _l("Could not load the data. Try again."),
    "error.session": _l("Your session has ended. Log in again."),
    "unit.days": _l("%(n)s d"),
    "fmt.m": _l("%(n)s m"),
    "fmt.km": _l("%(n)s km"),
    "fmt.duration": _l("%(h)s h %(m)s min"),
    "dash.on_map": _l("On the map"),
}


def select_locale() -> str:
    """The session's chosen language, else the configured default (zh_CN)."""
    chosen = session_locale()
    if chosen in LOCALES:
        return chosen
    return str(current_app.config.get("BABEL_DEFAULT_LOCALE", "zh_CN"))


def html_lang() -> str:
    """The ``lang`` attribute for the current language (``zh-CN`` or ``en``)."""
    # Not str(get_locale()): Babel spells zh_CN with its script, zh_Hans_CN.
    return select_locale().replace("_", "-")


def js_messages() -> dict[str, str]:
    """The scripts' strings in the current language."""
    return {key: str(value) for key, value in _JS.items()}


def init_babel(app: Flask) -> None:
    """Bind Flask-Babel: catalogues in ``server/translations``, times in Asia/Shanghai."""
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", app.config.get("TIMEZONE", "Asia/Shanghai"))
    babel.init_app(app, locale_selector=select_locale)
