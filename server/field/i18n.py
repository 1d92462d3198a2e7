"""The field app's strings: the secretary's catalogue (``server/translations``), as JSON.

The app is a static shell the service worker keeps; it fetches its strings from
``/field/i18n/<lang>.json`` (both languages are cached, so the switch works offline). Each
string goes through the same gettext catalogue as the pages: the pages' script strings
(``server.web.i18n``) and the app's own below.
"""

from __future__ import annotations

from typing import Any

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from server.web.i18n import js_messages

__all__ = ["FIELD_LOCALES", "field_messages", "FIELD_MESSAGES"]

# The app's language codes (BCP 47, as <html lang>) and the catalogue locale of each.
FIELD_LOCALES: dict[str, str] = {"zh-CN": "zh_CN", "en": "en"}

FIELD_MESSAGES: dict[str, Any] = {
    "app.name": _l("Gridwork field"),
    "app.short_name": _l("Grid work"),
    "app.description": _l("Household visits and patrol reports, with or without signal"),
    "nav.agenda": _l("Visits"),
    "nav.report": _l("Patrol report"),
    "nav.cases": _l("My cases"),
    "nav.outbox": _l("Outbox"),
    "nav.main": _l("Main"),
    "login.title": _l("Log in"),
    "login.username": _l("Username"),
    "login.password": _l("Password"),
    "login.submit": _l("Log in"),
    "login.wrong": _l("Wrong username or password."),
    "login.missing": _l("Enter your username and password."),
    "login.locked": _l("Too many failed logins. Try again later, or ask the administrator."),
    "login.offline": _l("No connection. Logging in needs the network once."),
    "login.revoked": _l("Your login has ended. Log in again; what is waiting is kept."),
    "login.kept": _l("%(n)s records wait on this phone and will be sent after you log in."),
    "login.logout": _l("Log out"),
    "login.other_user": _l("This phone still holds %(n)s records of %(name)s. They must log "
                           "in and send them first."),
    "login.logout_waiting": _l("%(n)s records have not been sent yet. Log out anyway? They "
                               "stay on the phone for your next login."),
    "agenda.title": _l("Today's visits"),
    "agenda.empty": _l("Nobody is due a visit. Well done."),
    "agenda.never_pulled": _l("No households on this phone yet. Connect once to fetch them."),
    "agenda.count": _l("%(n)s households due, %(overdue)s overdue"),
    "agenda.distance": _l("%(m)s m"),
    "agenda.distance_km": _l("%(km)s km"),
    "agenda.pulled_at": _l("Updated %(when)s"),
    "agenda.never_visited": _l("Never visited"),
    "agenda.follow_up": _l("Follow-up promised"),
    "agenda.days_overdue": _l("%(n)s days overdue"),
    "visit.title": _l("Visit"),
    "visit.outcome": _l("Outcome"),
    "visit.notes": _l("Notes"),
    "visit.needs": _l("Needs (诉求)"),
    "visit.add_need": _l("Add a need"),
    "visit.need_category": _l("Kind of need"),
    "visit.need_text": _l("What the family asks for"),
    "visit.need_report": _l("Make it a report"),
    "visit.remove_need": _l("Remove"),
    "visit.follow_up": _l("Come back on"),
    "visit.save": _l("Save visit"),
    "visit.saved": _l("Visit saved on the phone."),
    "visit.unknown": _l("This household is not on the phone."),
    "report.title": _l("Report a problem"),
    "report.category": _l("Category"),
    "report.description": _l("Description"),
    "report.photos": _l("Photos"),
    "report.add_photo": _l("Take or add a photo"),
    "report.need_photo": _l("Add at least one photo."),
    "report.save": _l("Save report"),
    "report.saved": _l("Report saved on the phone."),
    "photo.remove": _l("Remove photo %(n)s"),
    "photo.alt": _l("Photo %(n)s"),
    "photo.failed": _l("This photo could not be read."),
    "place.title": _l("Position"),
    "place.waiting": _l("Waiting for the position…"),
    "place.fix": _l("±%(m)s m"),
    "place.required": _l("A position is needed to save."),
    "outbox.title": _l("Waiting to be sent"),
    "outbox.empty": _l("Everything has been sent."),
    "outbox.badge": _l("%(n)s waiting"),
    "outbox.send_now": _l("Send now"),
    "outbox.offline": _l("Offline: records wait on the phone."),
    "outbox.retry": _l("Retry"),
    "outbox.discard": _l("Discard"),
    "outbox.discard_confirm": _l("Discard this record for good?"),
    "outbox.refused": _l("Refused by the server"),
    "outbox.held": _l("Waits for a record that was refused"),
    "outbox.waiting_parent": _l("Waits for its photo or household"),
    "outbox.next_try": _l("Next try in %(s)s s"),
    "outbox.uploaded": _l("%(pct)s%% uploaded"),
    "outbox.sent_today": _l("%(n)s sent"),
    "kind.photo": _l("Photo"),
    "kind.visit": _l("Visit"),
    "kind.report": _l("Report"),
    "kind.household": _l("Household"),
    "kind.move": _l("Case step"),
    "kind.track": _l("Patrol track"),
    "cases.title": _l("My cases"),
    "cases.empty": _l("No cases dispatched to you or reported by you."),
    "cases.timeline": _l("Timeline"),
    "cases.timeline_offline": _l("The full timeline shows when the phone is online."),
    "cases.moves": _l("What you can do"),
    "cases.note": _l("Note"),
    "cases.send_move": _l("Save step"),
    "cases.move_saved": _l("Step saved on the phone."),
    "cases.reported_by_me": _l("Reported by me"),
    "cases.assigned": _l("Dispatched to me"),
    "patrol.start": _l("Start patrol"),
    "patrol.stop": _l("End patrol"),
    "patrol.on": _l("On patrol: %(n)s points, %(km)s km"),
    "error.generic": _l("Something went wrong: %(why)s"),
}


def field_messages(lang: str) -> dict[str, str]:
    """Every string the app shows, in ``lang`` (``zh-CN`` or ``en``)."""
    with force_locale(FIELD_LOCALES[lang]):
        shared = js_messages()
        shared.update({key: str(value) for key, value in FIELD_MESSAGES.items()})
    return shared
