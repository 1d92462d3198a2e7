"""The jobs themselves: plain functions run inside the app (an app context, its own session):
photo derivatives, webhook delivery, the escalation sweep, spreadsheet exports.

Each is safe to run twice (a retry after a worker died mid-way runs it again): derivatives
are content-addressed and skipped when present, a webhook delivery is claimed before it is
sent, an escalation checks the case's version. Each transaction is a ``unit_of_work``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import current_app

__all__ = ["PERIODIC", "TASKS", "derive_photo", "deliver_webhooks", "escalate_cases",
           "export_households"]

log = logging.getLogger(__name__)


def derive_photo(sha256: str) -> bool:
    """Make a stored photo's display image and thumb; False if they were there already."""
    from server.storage import derive_stored, open_store

    made = derive_stored(open_store(current_app.config), sha256,
                         max_pixels=int(current_app.config["MAX_PHOTO_PIXELS"]))
    log.info("photo %s: derivatives %s", sha256[:12], "made" if made else "already there")
    return made


def deliver_webhooks() -> None:
    """Send the department webhooks that are due (each claimed, so no two workers send one)."""
    from server.extensions import db
    from server.services.webhooks import deliver_due

    run = deliver_due(db.session())
    if run.sent or run.failed or run.gave_up:
        log.info("webhooks: sent %d, failed %d, given up %d", run.sent, run.failed, run.gave_up)


def escalate_cases() -> None:
    """Escalate the dispatched cases past their deadline (the sweep ``cron`` used to run)."""
    from server.extensions import db
    from server.services.escalation import escalate_overdue
    from server.transactions import unit_of_work

    session = db.session()
    with unit_of_work(session):
        escalated = escalate_overdue(session)
    if escalated:  # their webhook deliveries are queued by the commit (webhooks.notify)
        log.info("escalated %d overdue cases", len(escalated))


def export_households(user_id: int, community_id: int, fmt: str, blob: str) -> None:
    """Write the household sheet a user asked for (``server.services.exports``) into the
    store's ``blob``, as that user may see it; safe to run twice."""
    from server.extensions import db
    from server.models import Community, User
    from server.services import household_io
    from server.services.access import access_for
    from server.storage import open_store
    from server.transactions import unit_of_work

    session = db.session()
    with unit_of_work(session):  # the export's audit row commits with the file written
        user, community = session.get(User, user_id), session.get(Community, community_id)
        if user is None or community is None:
            return  # the account or community went meanwhile: nothing to export
        data = household_io.export_households(session, community, fmt, user=user,
                                              access=access_for(session, user))
        open_store(current_app.config).put_blob(blob, data)


TASKS: dict[str, Callable[..., Any]] = {
    "photos.derive": derive_photo,
    "webhooks.deliver": deliver_webhooks,
    "cases.escalate": escalate_cases,
    "exports.households": export_households,
}
# Run by the worker on the cron of GRIDWORK_JOBS_SWEEP_CRON (every minute): what no request
# triggers, and the backstop for a wake lost with the process that committed it.
PERIODIC: tuple[str, ...] = ("webhooks.deliver", "cases.escalate")
