"""Signed JSON notifications to a department's webhook on each step of its cases.

A delivery row is written in the same transaction as the step it reports, so a move that
rolls back notifies nobody and a committed move is never forgotten. Sending happens after
the commit, on a background thread (or ``gridwork webhooks deliver``), so a slow or dead
receiver never holds up the move. Failed sends are retried with exponential backoff.

The body is signed with HMAC-SHA256 under the department's secret and the signature sent as
``X-Gridwork-Signature: sha256=<hex>``. A department without a stored secret gets one derived
from the server's SECRET_KEY (``gridwork webhooks secret CODE`` prints it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from flask import current_app, has_app_context
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from server.models import CaseStep, Department, Report, WebhookDelivery
from server.models.types import utcnow
from server.transactions import unit_of_work

__all__ = ["SIGNATURE_HEADER", "sign", "secret_for", "body_bytes", "enqueue", "deliver_due",
           "backoff_seconds", "notify", "next_due_in", "DeliveryRun"]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Gridwork-Signature"
_DEFAULTS = {"WEBHOOK_TIMEOUT_S": 5.0, "WEBHOOK_MAX_ATTEMPTS": 8, "WEBHOOK_BACKOFF_S": 30.0,
             "WEBHOOK_BACKOFF_MAX_S": 3600.0, "WEBHOOK_POLL_S": 60.0, "WEBHOOKS_ASYNC": True}


def _setting(name: str) -> Any:
    if has_app_context():
        return current_app.config.get(name, _DEFAULTS[name])
    return _DEFAULTS[name]


def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def secret_for(department: Department, secret_key: str | None = None) -> str:
    """The key a department's deliveries are signed with (stored, or derived from SECRET_KEY)."""
    if department.webhook_secret:
        return department.webhook_secret
    key = secret_key if secret_key is not None else str(current_app.config["SECRET_KEY"])
    return hmac.new(key.encode(), f"gridwork-webhook:{department.code}".encode(),
                    hashlib.sha256).hexdigest()


def body_bytes(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON, sorted keys, UTF-8."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _payload(report: Report, step: CaseStep, department: Department) -> dict[str, Any]:
    return {
        "event": "case.escalated" if step.action == "escalate" else "case.transition",
        "department": department.code,
        "report_id": report.id,
        "step": {"seq": step.seq, "action": step.action, "from_status": step.from_status,
                 "to_status": step.to_status, "at": _iso(step.at), "actor_role": step.actor_role,
                 "note": step.note, "photo_ids": list(step.photo_ids or []),
                 "deadline_at": _iso(step.deadline_at)},
        "case": {"status": report.status, "version": report.version,
                 "category": report.category_code, "description": report.description,
                 "lat": report.lat, "lon": report.lon,
                 "grid": report.grid.code if report.grid else None,
                 "deadline_at": _iso(report.deadline_at)},
    }


def enqueue(session: Session, report: Report, step: CaseStep) -> bool:
    """Add the delivery of ``step`` to the session if its department has a webhook."""
    dept_id = step.department_id or report.department_id
    department = session.get(Department, dept_id) if dept_id else None
    if department is None or not department.webhook_url:
        return False
    session.add(WebhookDelivery(department_id=department.id, report_id=report.id,
                                step_id=step.id, payload=_payload(report, step, department),
                                attempts=0, next_attempt_at=step.at))
    return True


def backoff_seconds(attempts: int) -> float:
    """Wait before the next try after ``attempts`` failed ones: 30 s, 60 s, 2 min... capped."""
    base, cap = float(_setting("WEBHOOK_BACKOFF_S")), float(_setting("WEBHOOK_BACKOFF_MAX_S"))
    return float(min(base * 2 ** max(attempts - 1, 0), cap))


@dataclass
class DeliveryRun:
    """What one pass over the due deliveries did."""

    sent: int = 0
    failed: int = 0
    gave_up: int = 0


def _claim(session: Session, delivery_id: int, seen: datetime, lease_until: datetime) -> bool:
    """Take a delivery for this process (compare-and-set), so two senders never both send it."""
    with unit_of_work(session):  # the lease stands before anything is sent
        result = session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.delivered_at.is_(None),
                   WebhookDelivery.next_attempt_at == seen)
            .values(next_attempt_at=lease_until, attempts=WebhookDelivery.attempts + 1)
            .execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _send(url: str, secret: str, delivery_id: int, payload: dict[str, Any]) -> str | None:
    """POST once; the error text, or ``None`` on a 2xx answer."""
    body = body_bytes(payload)
    headers = {"Content-Type": "application/json; charset=utf-8",
               SIGNATURE_HEADER: sign(secret, body), "X-Gridwork-Delivery": str(delivery_id),
               "X-Gridwork-Event": str(payload.get("event", ""))}
    try:
        answer = requests.post(url, data=body, headers=headers, allow_redirects=False,
                               timeout=float(_setting("WEBHOOK_TIMEOUT_S")))
    except requests.RequestException as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= answer.status_code < 300:
        return None
    return f"HTTP {answer.status_code}: {answer.text[:200]}"


def _attempt(session: Session, delivery_id: int, seen: datetime, when: datetime,
             run: DeliveryRun) -> None:
    timeout = float(_setting("WEBHOOK_TIMEOUT_S"))
    if not _claim(session, delivery_id, seen, when + timedelta(seconds=timeout + 60)):
        return
    with unit_of_work(session):  # one attempt, one unit: its outcome is recorded at once
        _record_attempt(session, delivery_id, run)


def _record_attempt(session: Session, delivery_id: int, run: DeliveryRun) -> None:
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        return
    department = session.get(Department, delivery.department_id)
    error = "the department has no webhook URL any more"
    if department is not None and department.webhook_url:
        error = _send(department.webhook_url, secret_for(department), delivery.id,
                      delivery.payload) or ""
    delivery.last_error = error or None
    if not error:
        delivery.delivered_at, delivery.next_attempt_at = utcnow(), None
        run.sent += 1
    elif delivery.attempts >= int(_setting("WEBHOOK_MAX_ATTEMPTS")):
        delivery.next_attempt_at = None
        run.gave_up += 1
    else:
        delivery.next_attempt_at = utcnow() + timedelta(seconds=backoff_seconds(delivery.attempts))
        run.failed += 1


def deliver_due(session: Session, *, now: datetime | None = None, limit: int = 200,
                everything: bool = False) -> DeliveryRun:
    """Send the deliveries that are due (or all pending ones with ``everything``)."""
    when = now or utcnow()
    query = select(WebhookDelivery.id, WebhookDelivery.next_attempt_at).where(
        WebhookDelivery.delivered_at.is_(None), WebhookDelivery.next_attempt_at.is_not(None))
    if not everything:
        query = query.where(WebhookDelivery.next_attempt_at <= when)
    with unit_of_work(session):  # no transaction stays open while we wait on the network
        due = session.execute(query.order_by(WebhookDelivery.id).limit(limit)).all()
    run = DeliveryRun()
    for delivery_id, seen in due:
        if seen is not None:
            _attempt(session, delivery_id, seen, when, run)
    return run


def _next_due_in(session: Session) -> float | None:
    with unit_of_work(session):
        first = session.scalar(select(func.min(WebhookDelivery.next_attempt_at)).where(
            WebhookDelivery.delivered_at.is_(None)))
    return None if first is None else max((first - utcnow()).total_seconds(), 0.0)


def notify() -> None:
    """Wake this app's sender (``server.webhook_sender``), after the commit that queued work.

    Only the process serving the app runs a sender; elsewhere the row waits for its next
    pass. Waking never starts one: the serving process does that.
    """
    if not has_app_context():
        return
    sender = current_app.extensions.get("gridwork.webhook_sender")  # webhook_sender.EXTENSION
    if sender is not None:
        sender.wake()


def next_due_in(session: Session) -> float | None:
    """Seconds until the next delivery is due (0 if one is overdue), ``None`` if none waits."""
    return _next_due_in(session)
