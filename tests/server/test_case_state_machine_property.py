"""The case workflow as a Hypothesis state machine: any move, by any role, with any body.

Each example opens a report in G1 or G2 and makes up to 20 moves through the API, each by one
of seven actors (dispatcher, department WATER, department URBAN, supervisor of G1, supervisor
of G2, grid worker, secretary), with or without what the move needs, on the current version,
a stale one or none; the system's escalation runs in between as the clock jumps ahead. A
model of the workflow predicts every answer (201, 403, 409, 422). After every step:

- the status is a known one and the model's;
- the timeline (CaseStep rows) is append-only and consistent: seq runs 1, 2, 3..., each
  step's from_status is the previous step's to_status (the first's is ``reported``), the
  report's status is the last step's to_status, and the version is 1 + the number of steps
  (exactly one per accepted step; refused moves add none);
- times run forward: accepted_at <= dispatched_at <= handled_at <= verified_at <= closed_at
  where set, and step times never go back;
- a closed or rejected case accepts nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from schemas.cases import CASE_ACTIONS
from server.extensions import db
from server.models import REPORT_STATUSES, CaseStep, Report
from server.services import cases, escalation
from tests.server.case_support import CaseWorld

# Who may act at all (cases.transition), and each actor's role, department and grids.
ACTORS: dict[str, tuple[str, str | None, tuple[str, ...]]] = {
    "dispatcher": ("dispatcher", None, ()),
    "dept_WATER": ("department", "WATER", ()),
    "dept_URBAN": ("department", "URBAN", ()),
    "supervisor_G1": ("supervisor", None, ("G1",)),
    "supervisor_G2": ("supervisor", None, ("G2",)),
    "grid_worker": ("grid_worker", None, ("G1",)),
    "secretary": ("secretary", None, ()),
}
MAY_MOVE = {"dispatcher", "department", "supervisor"}
TERMINAL = {"closed", "rejected"}
HAPPY_PATH = {"accept", "dispatch", "handle", "verify", "close"}
TIME_CHAIN = ("accepted_at", "dispatched_at", "handled_at", "verified_at", "closed_at")
UNKNOWN_PHOTO = "6f1c2d9e-8a4b-4c3d-9e2f-1a2b3c4d5e6f"
KNOWN_PHOTO = "the mover's own photo"  # replaced by the actor's photo when the move is sent
SLA = timedelta(hours=24)  # the "garbage" category of CaseWorld


def _actor(world: CaseWorld, key: str) -> Any:
    role, department, grids = ACTORS[key]
    kwargs: dict[str, Any] = {"department": department} if department else {}
    if grids:
        kwargs["grids"] = grids
    return world.actor(key, role, **kwargs)


class CaseMachine(RuleBasedStateMachine):
    """One report and a model of where its case should be."""

    world: CaseWorld  # set on the class by the test: the app's world of this test function
    photos: dict[str, str]  # each actor's own photo: a move may use only photos one may see

    def __init__(self) -> None:
        super().__init__()
        self.report_id = 0
        self.grid = "G1"
        self.status, self.version, self.department = "reported", 1, None
        self.held: set[str] = set()  # the departments the case was ever dispatched to
        self.deadline: datetime | None = None
        self.escalated = False
        self.steps: list[tuple[Any, ...]] = []

    @initialize(grid=st.sampled_from(["G1", "G2"]))
    def open_report(self, grid: str) -> None:
        """A new report, made by a worker."""
        self.grid, self.report_id = grid, self.world.report(grid=grid).id

    def _body(self, action: str, note: str, department: str | None, photos: str,
              location: str | None, version: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"action": action, "note": note}
        if department is not None:
            body["department"] = department
        if photos != "none":
            body["photo_ids"] = [KNOWN_PHOTO if photos == "known" else UNKNOWN_PHOTO]
        if location is not None:
            lat, lon = self.world.site(self.grid)["lat"], self.world.site(self.grid)["lon"]
            body["location"] = {"lat": lat + (0.01 if location == "far" else 0.0), "lon": lon,
                                "accuracy_m": 10}
        if version is not None:
            body["expected_version"] = self.version + (7 if version == "stale" else 0)
        return body

    def _needs(self, action: str, body: dict[str, Any]) -> int | None:
        """422 or 409 for what the move lacks, or None when it has everything."""
        note = body["note"].strip()
        photos = body.get("photo_ids")
        location = body.get("location")
        needs_note = action in ("reject", "return", "fail_verify")
        if needs_note and not note:
            return 422
        if action == "dispatch" and body.get("department") not in ("WATER", "URBAN"):
            return 422
        if action == "verify" and (location is None or location["lat"] != self.world.site(
                self.grid)["lat"]):
            return 422
        if action in ("handle", "fail_verify") and not photos:
            return 422
        if action in ("handle", "fail_verify", "verify") and photos == [UNKNOWN_PHOTO]:
            return 409  # dependency_missing: the photo is not uploaded yet
        return None

    def predict(self, key: str, body: dict[str, Any]) -> int:
        """The status the API owes this move, in the order the server checks."""
        role, department, grids = ACTORS[key]
        action = body["action"]
        if role not in MAY_MOVE:
            return 403
        if (role == "department" and department not in self.held) or (
                role == "supervisor" and self.grid not in grids):
            return 404  # a case the mover may not read: nothing about it is told
        if body.get("expected_version") not in (None, self.version):
            return 409
        if action not in cases.actions_for_role(cases.Role(role)):
            return 403
        if (self.status, action) not in cases.TRANSITIONS:
            return 409
        if role == "department" and department != self.department:
            return 403
        if role == "supervisor" and self.grid not in grids:
            return 403
        return self._needs(action, body) or 201

    @rule(key=st.sampled_from(list(ACTORS)), action=st.sampled_from(CASE_ACTIONS),
          note=st.sampled_from(["", "  ", "理由"]),
          department=st.sampled_from([None, "WATER", "URBAN", "NOPE"]),
          photos=st.sampled_from(["none", "known", "unknown"]),
          location=st.sampled_from([None, "site", "far"]),
          version=st.sampled_from([None, "current", "stale"]),
          minutes=st.sampled_from([0, 1, 45, 26 * 60]))
    def move(self, key: str, action: str, note: str, department: str | None, photos: str,
             location: str | None, version: str | None, minutes: int) -> None:
        """Any actor tries any move with any body, some time after the last one."""
        self._attempt(key, self._body(action, note, department, photos, location, version),
                      minutes)

    @rule(data=st.data(), minutes=st.sampled_from([0, 30, 26 * 60]))
    def likely_move(self, data: st.DataObject, minutes: int) -> None:
        """A move the case allows now, mostly by the actor who makes it, with what it needs;
        without this, random moves seldom get past the first step."""
        allowed = cases.allowed_actions(self.status) or list(CASE_ACTIONS)
        action = data.draw(st.sampled_from([a for a in allowed for _ in range(
            3 if a in HAPPY_PATH else 1)]))
        maker = ("dispatcher" if action in ("accept", "reject", "dispatch", "close")
                 else f"dept_{self.department or 'WATER'}" if action in ("return", "handle")
                 else f"supervisor_{self.grid}")
        key = data.draw(st.sampled_from([maker] * 10 + list(ACTORS)))

        def mostly(good: Any, *bad: Any) -> Any:
            return data.draw(st.sampled_from([good] * 6 + list(bad)))

        body = self._body(action, mostly("理由", "", " "), mostly("WATER", "URBAN", None, "NOPE"),
                          mostly("known", "none", "unknown"), mostly("site", None, "far"),
                          mostly(None, "current", "stale"))
        self._attempt(key, body, minutes)

    def _attempt(self, key: str, body: dict[str, Any], minutes: int) -> None:
        when = self.world.advance(minutes=minutes)
        action = body["action"]
        if body.get("photo_ids") == [KNOWN_PHOTO]:
            body = {**body, "photo_ids": [self.photos[key]]}
        expected = self.predict(key, body)
        answer = self.world.move(_actor(self.world, key), self.report_id, **body)
        assert answer.status_code == expected, (self.status, key, body, answer.get_json())
        assert self.status not in TERMINAL or answer.status_code != 201
        if answer.status_code == 201:
            self._accepted(key, action, body, when)

    def _accepted(self, key: str, action: str, body: dict[str, Any], when: datetime) -> None:
        to_status = cases.TRANSITIONS[(self.status, action)][0]
        self.steps.append((len(self.steps) + 1, action, self.status, to_status))
        self.status, self.version = to_status, self.version + 1
        if action == "dispatch":
            self.department, self.deadline, self.escalated = body["department"], when + SLA, False
            self.held.add(body["department"])
        elif action == "fail_verify":
            self.deadline, self.escalated = when + SLA, False
        elif action == "return":
            self.department, self.deadline, self.escalated = None, None, False

    @precondition(lambda self: self.status == "dispatched")
    @rule(hours=st.sampled_from([0, 25]))
    def escalate(self, hours: int) -> None:
        """The system's deadline sweep (cron, or a queue being read), maybe a day later."""
        now = self.world.advance(hours=hours)
        due = (self.status == "dispatched" and not self.escalated
               and self.deadline is not None and self.deadline < now)
        escalated = escalation.escalate_overdue(db.session, now=now)
        db.session.commit()  # the sweep's boundary (a CLI command or a request) commits
        assert (self.report_id in escalated) == due
        if due:
            self.steps.append((len(self.steps) + 1, cases.ESCALATE, self.status, self.status))
            self.version, self.escalated = self.version + 1, True

    @invariant()
    def timeline_is_consistent(self) -> None:
        """Status, timeline, version and times agree with each other and with the model."""
        db.session.expire_all()
        report = db.session.get(Report, self.report_id)
        assert report is not None
        steps = list(db.session.scalars(select(CaseStep).where(
            CaseStep.report_id == self.report_id).order_by(CaseStep.seq)))
        assert report.status in REPORT_STATUSES and report.status == self.status
        assert [(s.seq, s.action, s.from_status, s.to_status) for s in steps] == self.steps
        assert report.version == 1 + len(steps) == self.version
        previous = "reported"
        for step in steps:
            assert step.from_status == previous
            previous = step.to_status
        assert report.status == previous
        times = [s.at for s in steps]
        assert times == sorted(times)
        chain = [t for t in (getattr(report, name) for name in TIME_CHAIN) if t is not None]
        assert chain == sorted(chain)


def test_any_sequence_of_moves_by_any_role_keeps_the_case_and_its_timeline_valid(
        factory, monkeypatch):
    world = CaseWorld(factory, monkeypatch)
    for key in ACTORS:
        _actor(world, key)
    CaseMachine.world = world
    CaseMachine.photos = {key: world.photo(_actor(world, key)) for key in ACTORS}
    run_state_machine_as_test(CaseMachine, settings=settings(
        max_examples=50, stateful_step_count=20, deadline=None,
        suppress_health_check=[HealthCheck.too_slow]))
