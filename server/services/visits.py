"""House visits: record one with its proof of presence, read them, turn needs into reports.

Recording checks, in order: a replay of a known ``client_uuid`` answers the first visit; the
household and photos must have arrived (409 dependency_missing, so the sync client pushes
them first); the household must be in the visitor's grids (403; building heads: their
buildings); ``visited_at`` must not be in the future beyond ``CLOCK_SKEW_MINUTES`` (422).
Then the server measures the geodesic distance from where the worker stood to the household:

- ``off_site``: farther than ``OFF_SITE_M`` plus the reported GPS accuracy (capped at
  ``OFF_SITE_ACCURACY_CAP_M``), so a poor fix does not accuse an honest worker, and a
  claimed 5 km accuracy does not excuse a visit from across town;
- ``late_entry``: received more than ``LATE_VISIT_HOURS`` after it happened.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Date,
    DateTime,
    Float,
    Select,
    String,
    Text,
    any_,
    bindparam,
    cast,
    func,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import flag_modified

from server.errors import (
    DependencyMissingError,
    NotFoundError,
    UnprocessableError,
)
from server.geo import distance_m, to_wgs84
from server.models import (
    Category,
    Community,
    Grid,
    Household,
    Visit,
    VisitNeed,
    YellowRibbonRequest,
    visit_photos,
)
from server.models.types import utcnow
from server.services.access import Access
from server.services.coverage import to_instant
from server.services.households import close_ribbons
from server.services.idempotency import body_digest, find_replay, insert_or_twin, replay_conflict
from server.services.reports import create_report
from server.services.scopes import require_household_reach, usable_photos, visit_scope
from server.services.visit_policy import apply_schedule, intervals_for

__all__ = ["create_visit", "VisitWriter", "make_need_reports", "wants_need_reports",
           "get_visit", "visit_query", "need_report", "visit_need_for_report",
           "presence_flags", "NEED_REPORT_NAMESPACE"]

# A need's report gets a client_uuid derived from the visit's, so asking twice (or a
# replayed visit) finds the same report instead of making a second one.
NEED_REPORT_NAMESPACE = uuid.UUID("6f1c7d2e-58a4-4b8e-9c61-2b7f0e4a9d13")


def _config(config: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return config if config is not None else current_app.config


def presence_flags(distance: float, accuracy_m: float | None, visited_at: datetime,
                   received_at: datetime, cfg: Mapping[str, Any]) -> list[str]:
    """The proof-of-presence flags of a visit (see the module docstring)."""
    flags = []
    allowance = float(cfg["OFF_SITE_M"]) + min(accuracy_m or 0.0,
                                               float(cfg["OFF_SITE_ACCURACY_CAP_M"]))
    if distance > allowance:
        flags.append("off_site")
    if received_at - visited_at > timedelta(hours=float(cfg["LATE_VISIT_HOURS"])):
        flags.append("late_entry")
    return flags


class VisitWriter:
    """Records visits: one for ``POST /visits``, or every visit of a sync batch.

    What the checks read (replays of the run's ``client_uuid``s, the households, with their
    open yellow-ribbon requests, locked in id order for the update of their schedules; the
    photos; the report categories of needs) is read once for the whole run, not once per
    visit. The visits that pass their checks are inserted together (:meth:`add_many`); a
    twin request that won the race is answered from its row. The households' new
    last-visit columns and schedules are kept on the loaded rows and written by
    :meth:`flush`, one UPDATE per household whatever the number of its visits: call it
    before anything else reads or writes households in the same session.
    """

    def __init__(self, session: Session, access: Access, bodies: Sequence[Mapping[str, Any]],
                 config: Mapping[str, Any] | None = None, *, savepoint: bool = True) -> None:
        self.session, self.access, self.cfg = session, access, _config(config)
        self.savepoint = savepoint  # False: a failed write fails the caller's transaction
        self.now = utcnow()
        self._replays: dict[str, tuple[int, str]] = {}
        self._by_id: dict[int, Household] = {}
        self._by_uuid: dict[str, Household] = {}
        self._ribbons: dict[int, list[YellowRibbonRequest]] = {}
        self._photos: set[str] = set()
        self._categories: set[str] = set()
        self._intervals: dict[int, dict[str, int]] = {}
        self._touched: dict[int, Household] = {}
        uuids = [b["client_uuid"] for b in bodies]
        postgres = session.get_bind().dialect.name == "postgresql"
        for chunk in _chunks(uuids):
            # On PostgreSQL one array parameter: a short statement psycopg parses once.
            known = (Visit.client_uuid == any_(bindparam("uuids", chunk, type_=_UUIDS))
                     if postgres else Visit.client_uuid.in_(chunk))
            self._replays.update((u, (i, sha)) for i, u, sha in session.execute(
                select(Visit.id, Visit.client_uuid, Visit.body_sha256).where(known)))
        ids = sorted({b["household_id"] for b in bodies if b.get("household_id") is not None})
        by_uuid = sorted({b["household_client_uuid"] for b in bodies
                          if b.get("household_id") is None})
        self._load_households(ids, by_uuid)
        # A photo the worker may not use answers as one not uploaded yet: nobody can probe
        # which photo ids exist, nor attach (and so read) another grid's photo.
        self._photos = set(usable_photos(session, access, [
            p for b in bodies for p in b.get("photo_ids") or ()]))
        wanted = sorted({n["category"] for b in bodies for n in b.get("needs") or ()
                         if n.get("create_report")})
        if wanted:
            self._categories.update(session.scalars(select(Category.code).where(
                Category.code.in_(wanted), Category.active.is_(True))))

    def _load_households(self, ids: Sequence[int], uuids: Sequence[str]) -> None:
        """Read (and lock) these households and their open yellow-ribbon requests."""
        found: list[Household] = []
        for column, keys in ((Household.id, ids), (Household.client_uuid, uuids)):
            for chunk in _chunks(list(keys)):
                found += self.session.scalars(select(Household).where(column.in_(chunk))
                                              .order_by(Household.id).with_for_update())
        fresh = [h.id for h in found if h.id not in self._by_id]
        for household in found:
            self._by_id[household.id] = household
            if household.client_uuid:
                self._by_uuid[household.client_uuid] = household
        for hid in fresh:
            self._ribbons[hid] = []
        for chunk in _chunks(fresh):
            for request in self.session.scalars(
                    select(YellowRibbonRequest).where(
                        YellowRibbonRequest.household_id.in_(chunk),
                        YellowRibbonRequest.closed_at.is_(None))
                    .order_by(YellowRibbonRequest.id)):
                self._ribbons[request.household_id].append(request)

    def _resolve(self, body: Mapping[str, Any]) -> tuple[Household | None,
                                                         list[dict[str, str]]]:
        """The household and the parents the server has not received yet."""
        missing: list[dict[str, str]] = []
        if body.get("household_id") is not None:
            household = self._by_id.get(body["household_id"])
            if household is None:
                raise UnprocessableError("No such household.",
                                         errors={"household_id": ["Unknown household."]})
        else:
            key = body["household_client_uuid"]
            if key not in self._by_uuid:  # made earlier in this batch, or not yet here
                self._load_households((), (key,))
            household = self._by_uuid.get(key)
            if household is None:
                missing.append({"kind": "household", "client_uuid": key})
        missing += [{"kind": "photo", "client_uuid": p} for p in body.get("photo_ids") or ()
                    if p not in self._photos]
        return household, missing

    def _check_needs(self, needs: Sequence[Mapping[str, Any]]) -> None:
        bad = sorted({n["category"] for n in needs if n.get("create_report")}
                     - self._categories)
        if bad:
            raise UnprocessableError(
                "Only a need with a report category can become a report.",
                errors={"needs": [f"{c} is not an active report category." for c in bad]})

    def add(self, body: Mapping[str, Any]) -> tuple[int, bool]:
        """Record one visit from a loaded ``VisitCreateSchema`` body: (visit id, created).

        A replay of a known ``client_uuid`` answers the first visit (before any check, so a
        rule that changed since never refuses it). Raises the API errors of the module
        docstring; nothing of a refused visit is written.
        """
        answer = self.add_many([body])[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def add_many(self, bodies: Sequence[Mapping[str, Any]],
                 ) -> list[tuple[int, bool] | Exception]:
        """Record a run of visits: per body, (visit id, created) or the error it met.

        Every body is checked first; the ones that pass are written together, one INSERT
        ... ON CONFLICT (client_uuid) DO NOTHING RETURNING for all of them (and one for
        their needs, one for their photos) in one savepoint: a batch pays its round trips
        once, not per visit. A visit that came back without a row lost a race to a twin
        request, and answers as a replay (or 409) from the twin's row. Should the joint
        write fail, it is rolled back whole and the visits are written one by one, each in
        a savepoint of its own, so that only the faulty one fails. The answers are those
        of :meth:`add` called on each body in turn; the households are changed in the
        bodies' order.
        """
        answers: list[tuple[int, bool] | Exception | None] = [None] * len(bodies)
        ready: list[_Prepared] = []
        again: list[int] = []  # a client_uuid sent twice in the run: settled after the first
        keys: set[str] = set()
        made_here = sorted({b["household_client_uuid"] for b in bodies
                            if b.get("household_id") is None
                            and b["household_client_uuid"] not in self._by_uuid})
        if made_here:  # households made earlier in this batch: read once for the run
            self._load_households((), made_here)
        for index, body in enumerate(bodies):
            if body["client_uuid"] in keys:
                again.append(index)
                continue
            try:
                answer = self._prepare(body)
            except Exception as exc:  # noqa: BLE001 - one visit's refusal is its own answer
                answers[index] = exc
                continue
            if isinstance(answer, _Prepared):
                answer.index = index
                keys.add(body["client_uuid"])
                ready.append(answer)
            else:
                answers[index] = answer
        written = self._write_together(ready)
        for item in ready:
            try:
                if written is None:  # the joint write failed: one by one, as ever
                    answers[item.index] = self._write_one(item)
                elif item.key in written:
                    answers[item.index] = self._settle_written(item, written[item.key])
                else:  # a twin request committed this client_uuid meanwhile
                    answers[item.index] = self._twin(item)
            except Exception as exc:  # noqa: BLE001 - one visit's refusal is its own answer
                answers[item.index] = exc
        for index in again:
            try:
                answers[index] = self.add(bodies[index])
            except Exception as exc:  # noqa: BLE001 - one visit's refusal is its own answer
                answers[index] = exc
        assert all(a is not None for a in answers)
        return answers  # type: ignore[return-value]

    def _prepare(self, body: Mapping[str, Any]) -> tuple[int, bool] | _Prepared:
        """A replay's answer, or the checked visit ready to write; raises a refusal."""
        key = body["client_uuid"]
        digest = body_digest(body)
        known = self._replays.get(key)
        if known is not None:
            if known[1] != digest:
                raise replay_conflict(key)
            return known[0], False
        household, missing = self._resolve(body)
        if missing:
            kinds = " and ".join(sorted({m["kind"] for m in missing}))
            raise DependencyMissingError(
                f"This visit names a {kinds} the server has not received yet; send it "
                "first, then the visit again.", missing=missing)
        assert household is not None
        require_household_reach(self.access, household)
        cfg, now = self.cfg, self.now
        if body["visited_at"] > now + timedelta(minutes=float(cfg["CLOCK_SKEW_MINUTES"])):
            raise UnprocessableError("visited_at is in the future; check the phone's clock.",
                                     errors={"visited_at": ["Must not be in the future."]})
        self._check_needs(body["needs"])
        follow_up_at = to_instant(body["follow_up_on"], cfg["TIMEZONE"])
        if follow_up_at is not None and follow_up_at + timedelta(days=1) <= body["visited_at"]:
            raise UnprocessableError("follow_up_on is before the day of the visit.",
                                     errors={"follow_up_on": ["Must not be before the visit."]})
        point = body["location"]
        lat, lon = to_wgs84(point["lat"], point["lon"], point.get("crs") or "wgs84")
        metres = distance_m((lat, lon), (household.lat, household.lon))
        flags = presence_flags(metres, point.get("accuracy_m"), body["visited_at"], now, cfg)
        row = {
            "client_uuid": key, "body_sha256": digest, "household_id": household.id,
            "worker_id": self.access.user.id, "grid_id": household.grid_id,
            "visited_at": body["visited_at"], "received_at": now, "lat": lat, "lon": lon,
            "accuracy_m": point.get("accuracy_m"), "input_crs": point.get("crs") or "wgs84",
            "distance_m": round(metres, 1), "outcome": body["outcome"], "notes": body["notes"],
            "flags": flags, "off_site": "off_site" in flags,
            "follow_up_on": body["follow_up_on"]}
        return _Prepared(body, key, digest, household, follow_up_at, row)

    def _write_together(self, ready: Sequence[_Prepared]) -> dict[str, int] | None:
        """Insert the ready visits, their needs and photos at once: {client_uuid: id} of
        the rows made, or None (all rolled back) if the joint write failed."""
        if not ready:
            return {}
        conn = self.session.connection()
        statement, params = _insert_visits(conn.dialect.name, [item.row for item in ready])
        try:
            with _savepoint(conn) if self.savepoint else nullcontext():
                made = {key: visit_id for visit_id, key in conn.execute(statement, params)}
                self._write_children([(made[i.key], i.body) for i in ready if i.key in made])
        except DBAPIError:
            if not self.savepoint:
                raise
            # Which visit broke it is not known: write them one by one, each alone.
            return None
        return made

    def _write_children(self, visits: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        """The needs and photo links of freshly inserted visits, one statement each."""
        conn = self.session.connection()
        needs = [{"visit_id": visit_id, "position": i, "category": n["category"],
                  "text": n["text"]} for visit_id, body in visits
                 for i, n in enumerate(body["needs"])]
        if needs:
            conn.execute(insert(VisitNeed), needs)
        photos = [{"visit_id": visit_id, "photo_id": pid, "position": i}
                  for visit_id, body in visits for i, pid in enumerate(body["photo_ids"])]
        if photos:
            conn.execute(insert(visit_photos), photos)

    def _settle_written(self, item: _Prepared, visit_id: int) -> tuple[int, bool]:
        """A visit the joint write made: its household's columns and schedule."""
        self._record_on_household(item.household, visit_id, item.body["outcome"],
                                  item.body["visited_at"], item.follow_up_at)
        self._replays[item.key] = (visit_id, item.digest)
        return visit_id, True

    def _twin(self, item: _Prepared) -> tuple[int, bool]:
        """The answer of a visit whose client_uuid a twin request wrote first."""
        found = find_replay(self.session, Visit, item.key, item.digest)
        if found is None:  # ON CONFLICT names client_uuid: a row is there
            raise RuntimeError(f"visit {item.key} was neither written nor found")
        self._replays[item.key] = (found.id, item.digest)
        return found.id, False

    def _write_one(self, item: _Prepared) -> tuple[int, bool]:
        """One visit in its own savepoint (a twin that won the race answers instead)."""
        conn = self.session.connection()

        def write() -> int:  # in this visit's savepoint: all of it, or none
            visit_id: int = conn.execute(_INSERT_VISIT, item.row).scalar_one()
            self._write_children([(visit_id, item.body)])
            self._record_on_household(item.household, visit_id, item.body["outcome"],
                                      item.body["visited_at"], item.follow_up_at)
            return visit_id

        def twin() -> int | None:  # a twin request committed this client_uuid meanwhile
            found = find_replay(self.session, Visit, item.key, item.digest)
            return None if found is None else found.id

        visit_id, created = insert_or_twin(lambda: _savepoint(conn), write, twin)
        self._replays[item.key] = (visit_id, item.digest)
        return visit_id, created

    def _record_on_household(self, household: Household, visit_id: int, outcome: str,
                             visited_at: datetime, follow_up_at: datetime | None) -> None:
        """Keep the household's last-visit columns and schedule current (late visits too)."""
        self._touched[household.id] = household
        if household.last_visit_at is None or visited_at > household.last_visit_at:
            household.last_visit_at = visited_at
        requests = self._ribbons[household.id]
        if outcome == "met":
            if household.last_met_at is None or visited_at > household.last_met_at:
                household.last_met_at = visited_at
            if household.follow_up_at is not None and visited_at >= household.follow_up_at:
                household.follow_up_at = None  # the promised visit was made
            if household.moved_out_at is not None and visited_at > household.moved_out_at:
                household.moved_out_at = None  # a family lives here after all
            requests = self._ribbons[household.id] = close_ribbons(
                requests, household, visit_id, visited_at, self.now)
        elif outcome == "moved_out" and (household.last_met_at is None
                                         or visited_at > household.last_met_at):
            household.moved_out_at = max(household.moved_out_at or visited_at, visited_at)
        if follow_up_at is not None:
            # A late entry's promise may have been kept already by a later visit.
            kept = household.last_met_at is not None and household.last_met_at >= follow_up_at
            if not kept:
                household.follow_up_at = min(household.follow_up_at or follow_up_at,
                                             follow_up_at)
        intervals = self._intervals.get(household.community_id)
        if intervals is None:
            with self.session.no_autoflush:  # the households are written once, by flush()
                community = self.session.get(Community, household.community_id)
            intervals = self._intervals[household.community_id] = intervals_for(community)
        apply_schedule(self.session, household, intervals,
                       ribbon_raised_at=min((r.raised_at for r in requests), default=None))

    def flush(self) -> None:
        """Write the households' and yellow-ribbon requests' changes (no commit).

        Every household touched is written with the same columns, whether or not each one
        changed: the ORM then sends them all as one executemany instead of a statement per
        household (3x faster for a batch on PostgreSQL).
        """
        if not self._touched:
            return
        for household in self._touched.values():
            for column in _VISIT_COLUMNS:
                flag_modified(household, column)
        self._touched.clear()
        self.session.flush()


_INSERT_VISIT = insert(Visit).returning(Visit.id)
# The columns of a visit row (VisitWriter._prepare) with their types, for PostgreSQL's
# unnest: one array parameter per column, so the statement is the same short text whatever
# the number of visits (psycopg parses a long statement in Python each time it is sent: a
# VALUES list of 200 rows cost more than everything else the INSERT did).
_VISIT_ARRAYS: tuple[tuple[str, Any], ...] = (
    ("client_uuid", String()), ("body_sha256", String()), ("household_id", BigInteger()),
    ("worker_id", BigInteger()), ("grid_id", BigInteger()),
    ("visited_at", DateTime(timezone=True)), ("received_at", DateTime(timezone=True)),
    ("lat", Float()), ("lon", Float()), ("accuracy_m", Float()), ("input_crs", String()),
    ("distance_m", Float()), ("outcome", String()), ("notes", Text()), ("flags", Text()),
    ("off_site", Boolean()), ("follow_up_on", Date()))
_UUIDS = postgresql.ARRAY(String())
_INSERT_VISITS_PG = postgresql.insert(Visit).from_select(
    [name for name, _ in _VISIT_ARRAYS],
    select(*[cast(func.unnest(bindparam(name, type_=postgresql.ARRAY(kind))), postgresql.JSONB)
             if name == "flags" else func.unnest(bindparam(name, type_=postgresql.ARRAY(kind)))
             for name, kind in _VISIT_ARRAYS]),
).on_conflict_do_nothing(index_elements=[Visit.client_uuid]).returning(
    Visit.id, Visit.client_uuid)
_INSERT_VISITS_SQLITE = sqlite.insert(Visit).on_conflict_do_nothing(
    index_elements=[Visit.client_uuid]).returning(Visit.id, Visit.client_uuid)


def _insert_visits(dialect: str, rows: Sequence[Mapping[str, Any]]) -> tuple[Any, Any]:
    """INSERT ... ON CONFLICT (client_uuid) DO NOTHING RETURNING id, client_uuid for
    ``rows``, and its parameters: on PostgreSQL from arrays (unnest), on SQLite as a
    VALUES list (SQLite parses the statement in C)."""
    if dialect != "postgresql":
        return _INSERT_VISITS_SQLITE, list(rows)
    columns: dict[str, list[Any]] = {name: [row[name] for row in rows]
                                     for name, _ in _VISIT_ARRAYS}
    columns["flags"] = [json.dumps(flags) for flags in columns["flags"]]
    return _INSERT_VISITS_PG, columns


@dataclass
class _Prepared:
    """A visit that passed every check: the row to insert and what its household needs."""

    body: Mapping[str, Any]
    key: str
    digest: str
    household: Household
    follow_up_at: datetime | None
    row: dict[str, Any]
    index: int = 0
# The household columns a visit may change.
_VISIT_COLUMNS = ("last_visit_at", "last_met_at", "follow_up_at", "moved_out_at", "tags",
                  "visit_interval_days", "priority", "due_from_at", "next_due_at")


@contextmanager
def _savepoint(conn: Connection) -> Iterator[None]:
    """A SAVEPOINT around the block: released after it, rolled back to if it raises.

    ``Connection.begin_nested()`` does the same but names each savepoint anew, so SQLAlchemy
    compiles every one afresh: 774 against 335 microseconds a visit on PostgreSQL, 150
    against 32 on SQLite (measured). The name is reused; these savepoints never nest.
    """
    conn.exec_driver_sql("SAVEPOINT gw_visit")
    try:
        yield
    except BaseException:
        conn.exec_driver_sql("ROLLBACK TO SAVEPOINT gw_visit")
        conn.exec_driver_sql("RELEASE SAVEPOINT gw_visit")
        raise
    conn.exec_driver_sql("RELEASE SAVEPOINT gw_visit")


def _chunks(keys: Sequence[Any], size: int = 500) -> list[Sequence[Any]]:
    """``keys`` in slices short enough for an IN list on every database."""
    return [keys[i:i + size] for i in range(0, len(keys), size)]


def create_visit(session: Session, access: Access, body: Mapping[str, Any],
                 config: Mapping[str, Any] | None = None, *,
                 savepoint: bool = True) -> tuple[Visit, bool]:
    """Record a visit from a loaded ``VisitCreateSchema`` body; returns (visit, created).

    Idempotent on ``client_uuid``. Needs marked ``create_report`` are left to
    :func:`make_need_reports`, which the caller runs once the visit itself is settled: a
    refused report must not take the visit with it. ``savepoint=False`` when a failed
    INSERT fails the caller's whole transaction anyway (``POST /visits``): two round trips
    fewer (a twin's race needs no savepoint: ON CONFLICT DO NOTHING never raises).
    """
    writer = VisitWriter(session, access, [body], config, savepoint=savepoint)
    visit_id, created = writer.add(body)
    writer.flush()
    # What the answer shows, in one query, so dumping it lazily loads nothing (the user
    # and household in the session may be expired: the token's last-use commit, the
    # households' UPDATE).
    visit = session.scalars(select(Visit).where(Visit.id == visit_id).options(
        joinedload(Visit.needs), joinedload(Visit.photos), joinedload(Visit.worker),
        joinedload(Visit.household))).unique().one()
    return visit, created


def wants_need_reports(body: Mapping[str, Any]) -> bool:
    """Whether a visit body asks for any of its needs to become a report."""
    return any(n.get("create_report") for n in body["needs"])


def make_need_reports(session: Session, access: Access, visit: Visit,
                      body: Mapping[str, Any], config: Mapping[str, Any] | None = None,
                      ) -> None:
    """The reports the body's needs ask for that are not made yet, each in its savepoint.

    Made also on a replay, if an earlier attempt stopped before making them. A refused one
    goes up as the error; the visit and the reports made before it stay in the session.
    """
    if not wants_need_reports(body):
        return
    for need in visit.needs:
        if body["needs"][need.position].get("create_report") and need.report_id is None:
            with session.begin_nested():
                need_report(session, access, visit, need.position, config=config)


def get_visit(session: Session, access: Access, visit_id: int) -> Visit:
    """The visit if this user may read it; 404 otherwise."""
    visit = session.scalar(select(Visit).where(Visit.id == visit_id, visit_scope(access)))
    if visit is None:
        raise NotFoundError(f"No visit {visit_id} in your scope.")
    return visit


def visit_query(access: Access, args: Mapping[str, Any], start: datetime | None,
                end: datetime | None) -> Select[Any]:
    """The visits in scope matching the list filters; ``[start, end)`` on ``visited_at``."""
    query = select(Visit).where(visit_scope(access))
    for key, column in (("household_id", Visit.household_id), ("worker_id", Visit.worker_id),
                        ("outcome", Visit.outcome), ("off_site", Visit.off_site)):
        if args.get(key) is not None:
            query = query.where(column == args[key])
    if args.get("grid"):
        query = query.where(Visit.grid_id == select(Grid.id).where(
            Grid.code == args["grid"]).scalar_subquery())
    if args.get("report_id") is not None:
        query = query.where(Visit.id.in_(select(VisitNeed.visit_id).where(
            VisitNeed.report_id == args["report_id"])))
    if start is not None:
        query = query.where(Visit.visited_at >= start)
    if end is not None:
        query = query.where(Visit.visited_at < end)
    return query


def need_report(session: Session, access: Access, visit: Visit, position: int, *,
                category: str | None = None, description: str | None = None,
                config: Mapping[str, Any] | None = None) -> tuple[VisitNeed, bool]:
    """Turn need ``position`` of ``visit`` into a report (once); returns (need, created)."""
    need = next((n for n in visit.needs if n.position == position), None)
    if need is None:
        raise NotFoundError(f"Visit {visit.id} has no need {position}.")
    if need.report_id is not None:
        return need, False
    household = visit.household
    text = description if description is not None else need.text
    body = {
        "client_uuid": str(uuid.uuid5(NEED_REPORT_NAMESPACE, f"{visit.client_uuid}/{position}")),
        "category": category or need.category,
        "description": f"{text}\n(入户走访 #{visit.id},户号 {household.code})".strip(),
        "location": {"lat": household.lat, "lon": household.lon, "accuracy_m": None,
                     "crs": "wgs84"},
        "captured_at": visit.visited_at,
        "photo_ids": visit.photo_ids[:9],
    }
    report, _ = create_report(session, access, body, config=_config(config))
    need.report_id = report.id
    session.flush()
    return need, True


def visit_need_for_report(session: Session, report_id: int) -> VisitNeed | None:
    """The visit need a report came from, if it came from one."""
    return session.scalar(select(VisitNeed).where(VisitNeed.report_id == report_id))
