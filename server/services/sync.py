"""Sync for the offline client: a batch of queued records, and the changes feed.

**Batch.** Each record is loaded with the schema of its own endpoint and handed to the same
service code, so it gets exactly the answer that endpoint would give (201, 200 replay,
409, 409 dependency_missing, 422, 403). The batch's visits share one ``VisitWriter`` (the
code behind ``POST /visits``): what they check against is read once for the batch; each run
of consecutive visits is checked first and written with one INSERT ... ON CONFLICT
(client_uuid) DO NOTHING RETURNING, replays and lost races settled from what came back, one
savepoint per visit only if that joint write fails (``VisitWriter.add_many``); the
households they change are written once, before any other kind of record runs. The batch
runs on one connection in one database transaction, which is the batch's boundary (see
``server.transactions``): the records run in a session joined to it, each other record in
its own SAVEPOINT (services flush, never commit), and a failing record rolls back to it.
One bad record never fails the others, and a batch costs one commit. On SQLite the batch
takes the write lock when it starts (``BEGIN IMMEDIATE``), since SQLite cannot upgrade a
reading transaction to a writing one once another writer has committed.

**Changes.** Three streams, each ordered by ``(updated_at, key)``: households of my grids
(and buildings, for a building head), masked as my role requires by the registry's own
privacy rules; reports I made or that are (or were) my department's; categories (the
scopes are ``feed_household_scope`` and ``feed_report_scope`` in ``server.services.scopes``).
Nothing is ever hard-deleted, and a report never leaves its reader's feed, so the only
deletion is a household that moved out of my grids or buildings: a household of one of my
communities, changed since my first pull and no longer mine, comes as ``op: delete``.
The cursor holds a position per stream. A row whose transaction commits late can carry an
``updated_at`` older than rows already read; so the last page's cursor is wound back to
``now - SYNC_CHANGES_LAG_S`` and the next pull sends those seconds again (upserts are
idempotent), catching any transaction shorter than the lag.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from marshmallow import Schema
from marshmallow import ValidationError as SchemaError
from sqlalchemy import ColumnElement, Engine, and_, or_, select, true
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from server.errors import ApiError, UnprocessableError, log_error, problem_for
from server.models import Category, Household, Report, User, Visit
from server.models.types import utcnow
from server.services.access import Access, access_for
from server.services.reports import for_reader
from server.services.scopes import (
    feed_household_scope,
    feed_report_scope,
    scope_fingerprint,
    sees_household,
)

__all__ = ["apply_batch", "changes_since", "record_kinds", "RecordKind"]

log = logging.getLogger(__name__)

DEFAULT_LAG_S = 30.0


# -- batch ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordKind:
    """How one kind of record is created: permission, load schema, service, endpoint path."""

    permission: str
    schema: Callable[[], Schema]
    create: Callable[[Session, Access, dict[str, Any]], tuple[Any, bool]]
    path: str


def record_kinds() -> dict[str, RecordKind]:
    """The kinds a batch takes (imported late: each comes from its own resource's modules)."""
    from schemas.households import HouseholdCreateSchema
    from schemas.reports import ReportCreateSchema
    from schemas.tracks import TrackCreateSchema
    from schemas.visits import VisitCreateSchema
    from server.services.households import create_household
    from server.services.reports import create_report
    from server.services.tracks import create_track
    from server.services.visits import create_visit

    return {
        "household": RecordKind("households.create", HouseholdCreateSchema, create_household,
                                "/api/v1/households"),
        "visit": RecordKind("visits.create", VisitCreateSchema, create_visit, "/api/v1/visits"),
        "report": RecordKind("reports.create", ReportCreateSchema, create_report,
                             "/api/v1/reports"),
        "track": RecordKind("tracks.create", TrackCreateSchema, create_track, "/api/v1/tracks"),
    }


# A record's 500 is answered inside a batch that goes on; the client sends the record again.
_RECORD_SERVER_ERROR = ("Something went wrong on the server with this record. It has been "
                        "logged; it will be tried again.")


def _load(schema: Schema, record: Mapping[str, Any]) -> dict[str, Any]:
    body = dict(record["body"])
    given = body.get("client_uuid")
    if given is not None and str(given).lower() != record["client_uuid"]:
        raise UnprocessableError("The body names another client_uuid than the record.",
                                 errors={"client_uuid": ["Differs from the record's."]})
    body["client_uuid"] = record["client_uuid"]
    loaded: dict[str, Any] = schema.load(body)
    return loaded


def _failure(result: dict[str, Any], exc: Exception, kind: RecordKind, index: int,
             record: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(exc, ApiError | SchemaError | HTTPException):
        log_error(log, "sync batch record %d (%s %s) failed", index, record["kind"],
                  record["client_uuid"], error=exc)
    # A record meets an HTTP error as its own endpoint would: its status, type http_error.
    problem, _headers = problem_for(exc, f"{kind.path}#sync-batch-record-{index}",
                                    http_slug="http_error",
                                    server_error_detail=_RECORD_SERVER_ERROR)
    result.update(status=problem["status"], id=None, problem=problem)
    return result


def _apply_one(session: Session, access: Access, kinds: Mapping[str, RecordKind],
               schemas: Mapping[str, Schema], index: int, record: Mapping[str, Any],
               ) -> dict[str, Any]:
    kind = kinds[record["kind"]]
    result: dict[str, Any] = {"client_uuid": record["client_uuid"], "kind": record["kind"]}
    try:
        access.require(kind.permission)
        with session.begin_nested():  # this record's savepoint; the batch commits at the end
            row, created = kind.create(session, access, _load(schemas[record["kind"]], record))
    except Exception as exc:  # noqa: BLE001 - one record's failure is its own result
        return _failure(result, exc, kind, index, record)
    result.update(status=201 if created else 200, id=row.id, problem=None)
    return result


class _VisitRun:
    """The batch's visits, recorded by one :class:`VisitWriter`: what they check against is
    read once for the batch, and each run of consecutive visits is written together (one
    INSERT for all of them, see :meth:`VisitWriter.add_many`), not one savepoint each."""

    def __init__(self, session: Session, access: Access, kind: RecordKind, schema: Schema,
                 records: list[Mapping[str, Any]]) -> None:
        from server.services.visits import VisitWriter

        self.session, self.access, self.kind = session, access, kind
        self.loaded: dict[int, dict[str, Any] | Exception] = {}
        if not access.has(kind.permission):
            self.writer = None
            return
        for index, record in enumerate(records):
            if record["kind"] == "visit":
                try:
                    self.loaded[index] = _load(schema, record)
                except (SchemaError, ApiError) as exc:
                    self.loaded[index] = exc
        self.writer = VisitWriter(session, access, [b for b in self.loaded.values()
                                                    if not isinstance(b, Exception)])

    def settle(self) -> None:
        """Write what the visits so far changed on households, outside any record's
        savepoint, so that no later record's failure can take it back."""
        if self.writer is not None:
            self.writer.flush()

    def apply(self, first: int, records: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The results of the run of visits ``records`` (``first`` is the first's index)."""
        from server.services.visits import make_need_reports, wants_need_reports

        indices = range(first, first + len(records))
        answers: dict[int, tuple[int, bool] | Exception] = {}
        if self.writer is not None:
            good = [i for i in indices if not isinstance(self.loaded[i], Exception)]
            written = self.writer.add_many([self.loaded[i] for i in good])  # type: ignore[misc]
            answers = dict(zip(good, written, strict=True))
        results = []
        for index, record in zip(indices, records, strict=True):
            result: dict[str, Any] = {"client_uuid": record["client_uuid"], "kind": "visit"}
            # No rollback on failure: a refused visit wrote nothing, and the others stay.
            try:
                self.access.require(self.kind.permission)
                body, answer = self.loaded[index], answers.get(index)
                for refusal in (body, answer):
                    if isinstance(refusal, Exception):
                        raise refusal
                assert isinstance(body, dict) and isinstance(answer, tuple)
                visit_id, created = answer
            except Exception as exc:  # noqa: BLE001 - one record's failure is its own result
                results.append(_failure(result, exc, self.kind, index, record))
                continue
            if wants_need_reports(body):
                self.settle()
                try:
                    visit = self.session.get(Visit, visit_id)
                    assert visit is not None
                    make_need_reports(self.session, self.access, visit, body)
                except Exception as exc:  # noqa: BLE001 - as POST /visits: the visit stays
                    results.append(_failure(result, exc, self.kind, index, record))
                    continue
            result.update(status=201 if created else 200, id=visit_id, problem=None)
            results.append(result)
        return results


def _runs(records: list[Mapping[str, Any]]) -> Iterable[tuple[int, list[Mapping[str, Any]]]]:
    """(index of the first, records) of each run of consecutive records of one kind."""
    start = 0
    for index in range(1, len(records) + 1):
        if index == len(records) or records[index]["kind"] != records[start]["kind"]:
            yield start, records[start:index]
            start = index


def apply_batch(session: Session, user: User, records: list[Mapping[str, Any]],
                ) -> list[dict[str, Any]]:
    """Apply ``records`` in order, each on its own; one result per record.

    A run of consecutive visits is written together (see :class:`_VisitRun`); any other
    record runs in a savepoint of its own.

    ``session`` only lends its engine: the batch runs on a connection of its own and
    commits once at the end.
    """
    kinds = record_kinds()
    # One schema instance per kind and batch: building a marshmallow schema is not free.
    schemas = {name: kind.schema() for name, kind in kinds.items()}
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    with engine.connect() as conn, conn.begin():
        if engine.dialect.name == "sqlite":
            # Take the write lock now: a deferred transaction that reads first and writes
            # later fails at once ("database is locked") if another writer got in between.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        # The session joins the batch's transaction and never ends it: each record is a
        # savepoint of its own (begin_nested), and the transaction commits once, below.
        work = Session(bind=conn, expire_on_commit=False, autoflush=True)
        try:
            me = work.get(User, user.id)
            assert me is not None
            access = access_for(work, me)
            visits = _VisitRun(work, access, kinds["visit"], schemas["visit"], records)
            results: list[dict[str, Any]] = []
            for first, run in _runs(records):
                if run[0]["kind"] == "visit":
                    results += visits.apply(first, run)
                    continue
                visits.settle()  # households and reports go through the ORM as ever
                results += [_apply_one(work, access, kinds, schemas, first + n, rec)
                            for n, rec in enumerate(run)]
            visits.settle()
            work.flush()
        finally:
            work.close()
    return results


# -- changes -------------------------------------------------------------------------------

_KIND_ORDER = {"category": 0, "household": 1, "report": 2}
_STREAM_KEYS = {"household": "h", "report": "r", "category": "c"}


@dataclass
class _Cursor:
    """Per stream: the (updated_at, key) of the last row sent; ``base``: the first pull."""

    positions: dict[str, tuple[datetime, Any] | None]
    base: datetime | None
    scope: str = ""
    reset: bool = False

    def encode(self) -> str:
        raw: dict[str, Any] = {"v": 1, "b": self.base.isoformat() if self.base else None,
                               "s": self.scope}
        for kind, key in _STREAM_KEYS.items():
            pos = self.positions.get(kind)
            raw[key] = [pos[0].isoformat(), pos[1]] if pos else None
        text = json.dumps(raw, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(text).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str | None, now: datetime, scope: str) -> _Cursor:
        fresh = cls({kind: None for kind in _STREAM_KEYS}, base=now, scope=scope, reset=True)
        if not text:
            return fresh
        try:
            raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            positions: dict[str, tuple[datetime, Any] | None] = {}
            for kind, key in _STREAM_KEYS.items():
                pos = raw[key]
                positions[kind] = (_aware(pos[0]), pos[1]) if pos else None
            base = _aware(raw["b"]) if raw.get("b") else None
            old_scope = str(raw.get("s") or "")
        except (binascii.Error, ValueError, KeyError, TypeError, IndexError) as exc:
            raise UnprocessableError("The cursor is not valid; pull again without since.",
                                     errors={"since": ["Not a cursor this server made."]}
                                     ) from exc
        # New grids, buildings or role: households of old standing are now mine (and some
        # are no longer), so the client starts again from an empty cache.
        return fresh if old_scope != scope else cls(positions, base, scope)


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError("naive time in cursor")
    return value


@dataclass
class _Change:
    kind: str
    updated_at: datetime
    key: Any
    op: str
    data: dict[str, Any] | None

    def sort_key(self) -> tuple[datetime, int, str]:
        return (self.updated_at, _KIND_ORDER[self.kind], f"{self.key:>20}")

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.key, "op": self.op, "data": self.data}


def _after(updated: Any, key: Any, pos: tuple[datetime, Any] | None) -> ColumnElement[bool]:
    if pos is None:
        return true()
    return or_(updated > pos[0], and_(updated == pos[0], key > pos[1]))


def _household_changes(session: Session, access: Access, cursor: _Cursor, limit: int,
                       now: datetime) -> list[_Change]:
    from schemas.households import HouseholdSummarySchema
    from server.services.privacy import household_summary

    if not access.has("households.read"):
        return []
    # With the households that left my scope since my first pull: sent as deletions.
    scope = feed_household_scope(session, access, cursor.base)
    rows = session.scalars(
        select(Household).where(scope, _after(Household.updated_at, Household.id,
                                              cursor.positions["household"]))
        .order_by(Household.updated_at, Household.id).limit(limit + 1))
    dump = HouseholdSummarySchema().dump
    changes = []
    for row in rows:
        if sees_household(access, row):
            changes.append(_Change("household", row.updated_at, row.id, "upsert",
                                   dump(household_summary(row, access, now))))
        else:
            changes.append(_Change("household", row.updated_at, row.id, "delete", None))
    return changes


def _report_changes(session: Session, access: Access, cursor: _Cursor, limit: int,
                    now: datetime) -> list[_Change]:
    from schemas.reports import ReportSchema

    if not access.has("reports.read"):
        return []
    rows = session.scalars(
        select(Report).where(feed_report_scope(access),
                             _after(Report.updated_at, Report.id, cursor.positions["report"]))
        .order_by(Report.updated_at, Report.id).limit(limit + 1))
    dump = ReportSchema().dump
    return [_Change("report", r.updated_at, r.id, "upsert", dump(r))
            for r in for_reader(session, access, list(rows))]


def _category_changes(session: Session, access: Access, cursor: _Cursor, limit: int,
                      now: datetime) -> list[_Change]:
    from schemas.categories import CategorySchema

    rows = session.scalars(
        select(Category).where(_after(Category.updated_at, Category.code,
                                      cursor.positions["category"]))
        .order_by(Category.updated_at, Category.code).limit(limit + 1))
    dump = CategorySchema().dump
    return [_Change("category", c.updated_at, c.code, "upsert", dump(c)) for c in rows]


_STREAMS = {"household": _household_changes, "report": _report_changes,
            "category": _category_changes}


def changes_since(session: Session, access: Access, since: str | None, limit: int, *,
                  lag_s: float = DEFAULT_LAG_S, kinds: Iterable[str] = tuple(_STREAMS),
                  ) -> dict[str, Any]:
    """One page of what changed in ``access``'s scope after cursor ``since``, oldest first.

    Returns ``{"changes": [...], "next_cursor": str, "has_more": bool, "reset": bool}``;
    ``reset`` tells the client to empty its cache first (a first pull, or a new scope).
    """
    from server.services.categories import list_categories

    if not since:
        list_categories(session)  # a fresh install seeds the default categories here
    now = utcnow()
    cursor = _Cursor.decode(since, now, scope_fingerprint(access))
    fetched = {kind: _STREAMS[kind](session, access, cursor, limit, now) for kind in kinds}
    merged = sorted((c for rows in fetched.values() for c in rows), key=_Change.sort_key)
    page = merged[:limit]
    for change in page:
        cursor.positions[change.kind] = (change.updated_at, change.key)
    has_more = len(merged) > limit
    if not has_more:
        _wind_back(cursor, now - timedelta(seconds=lag_s))
    return {"changes": [c.as_dict() for c in page], "next_cursor": cursor.encode(),
            "has_more": has_more, "reset": cursor.reset}


def _wind_back(cursor: _Cursor, floor: datetime) -> None:
    """Resend the last ``lag`` seconds next time, for transactions that commit late."""
    for kind, pos in cursor.positions.items():
        # A stream that sent nothing has nothing older than the floor left to send.
        if pos is None or pos[0] >= floor:
            cursor.positions[kind] = (floor, "" if kind == "category" else 0)

