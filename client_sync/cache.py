"""The pulled data, kept on the device: households of my grids, my cases, categories, grids.

``data_dir/cache.sqlite3`` holds what ``GET /api/v1/sync/changes`` sent and the cursor to ask
from next time; a page and its cursor are written in one transaction, so a pull cut short
resumes where it stopped. With it a worker looks up a household and plans the next doors
(``agenda``) with no signal at all. The boundaries of my grids (``GET /api/v1/grids``) are
kept too, replaced whole at each pull, so a capture outside them can be pointed out at once.

Visits and households captured on this device but not yet pulled back are noted here too,
so the agenda does not send the worker back to a door they knocked on this morning and a
household made offline can be found at once.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from geographiclib.geodesic import Geodesic

from client_sync.private_files import connect_private

__all__ = ["DEFAULT_CAPTURE_POLICY", "AgendaItem", "LocalCache", "distance_m",
           "geometry_contains"]

# The server's defaults (server/config.py), until a pull brings the deployment's own.
DEFAULT_CAPTURE_POLICY: dict[str, float] = {
    "off_site_m": 150.0, "off_site_accuracy_cap_m": 100.0, "location_mismatch_m": 100.0,
    "duplicate_radius_m": 50.0, "duplicate_window_hours": 24.0}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS households (
    id INTEGER PRIMARY KEY, client_uuid TEXT, code TEXT, building TEXT, unit TEXT, door TEXT,
    head_name TEXT, grid_id INTEGER, lat REAL, lon REAL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS households_place ON households (building, unit, door);
CREATE TABLE IF NOT EXISTS reports (id INTEGER PRIMARY KEY, status TEXT, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS categories (code TEXT PRIMARY KEY, active INTEGER, sort INTEGER,
    data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS local_visits (client_uuid TEXT PRIMARY KEY, household_key TEXT,
    visited_at TEXT, outcome TEXT);
CREATE TABLE IF NOT EXISTS local_households (client_uuid TEXT PRIMARY KEY, data TEXT);
CREATE TABLE IF NOT EXISTS grids (id INTEGER PRIMARY KEY, code TEXT, data TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class AgendaItem:
    """A household to visit next, and why (``reasons`` as the server's agenda names them)."""

    household: dict[str, Any]
    status: str
    days_overdue: int
    distance_m: float | None
    reasons: tuple[str, ...]


class LocalCache:
    """The device's copy of my scope, filled by ``SyncClient.pull()``; readable offline."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        # Pulled households carry full phone and ID numbers: the database is its owner's only.
        self._db = connect_private(self.path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    # -- writing (pull) --------------------------------------------------------------------

    @property
    def cursor(self) -> str | None:
        """The cursor to pull from next time (None before the first pull)."""
        return self._meta("cursor")

    @property
    def pulled_at(self) -> str | None:
        """When the last pull finished (ISO 8601, UTC)."""
        return self._meta("pulled_at")

    def apply_page(self, page: Mapping[str, Any]) -> int:
        """Apply one page of changes and its cursor atomically; return how many changes."""
        changes = list(page.get("changes") or [])
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if page.get("reset"):
                    for table in ("households", "reports", "categories"):
                        self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - our names
                for change in changes:
                    self._apply(change)
                self._set_meta("cursor", str(page["next_cursor"]))
                if not page.get("has_more"):
                    self._set_meta("pulled_at", datetime.now(UTC).isoformat())
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return len(changes)

    def _apply(self, change: Mapping[str, Any]) -> None:
        kind, key, data = change["kind"], change["id"], change.get("data") or {}
        table, column = {"household": ("households", "id"), "report": ("reports", "id"),
                         "category": ("categories", "code")}[kind]
        if change["op"] == "delete":
            self._db.execute(f"DELETE FROM {table} WHERE {column} = ?", (key,))  # noqa: S608
            return
        text = json.dumps(data, ensure_ascii=False)
        if kind == "household":
            place = data.get("location") or {}
            self._db.execute(
                "INSERT OR REPLACE INTO households VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, data.get("client_uuid"), data.get("code"), data.get("building"),
                 data.get("unit"), data.get("door"), data.get("head_name"),
                 data.get("grid_id"), place.get("lat"), place.get("lon"), text))
            if data.get("client_uuid"):
                self._db.execute("DELETE FROM local_households WHERE client_uuid = ?",
                                 (data["client_uuid"],))
        elif kind == "report":
            self._db.execute("INSERT OR REPLACE INTO reports VALUES (?, ?, ?)",
                             (key, data.get("status"), text))
        else:
            self._db.execute("INSERT OR REPLACE INTO categories VALUES (?, ?, ?, ?)",
                             (key, int(bool(data.get("active", True))), data.get("sort") or 0,
                              text))

    def replace_grids(self, grids: Iterable[Mapping[str, Any]]) -> int:
        """Keep these grids (``GridSchema`` dicts, boundary as GeoJSON) instead of the old."""
        rows = [(g["id"], g.get("code"), json.dumps(dict(g), ensure_ascii=False))
                for g in grids]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM grids")
                self._db.executemany("INSERT INTO grids VALUES (?, ?, ?)", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return len(rows)

    def note_local_visit(self, client_uuid: str, household_key: str, visited_at: str,
                         outcome: str) -> None:
        """Remember a visit captured here (``household_key``: ``id:7`` or ``uuid:...``)."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO local_visits VALUES (?, ?, ?, ?)",
                             (client_uuid, household_key, visited_at, outcome))

    def note_local_household(self, client_uuid: str, body: Mapping[str, Any]) -> None:
        """Remember a household captured here until a pull brings it back from the server."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO local_households VALUES (?, ?)",
                             (client_uuid, json.dumps(dict(body), ensure_ascii=False)))

    # -- reading (offline) -----------------------------------------------------------------

    def household(self, household_id: int) -> dict[str, Any] | None:
        """The cached household with this server id."""
        rows = self._rows("SELECT data FROM households WHERE id = ?", (household_id,))
        return json.loads(rows[0][0]) if rows else None

    def households(self) -> list[dict[str, Any]]:
        """Every cached household, by id."""
        return [json.loads(r[0]) for r in self._rows("SELECT data FROM households ORDER BY id")]

    def local_household(self, client_uuid: str) -> dict[str, Any] | None:
        """The body of a household captured here and not yet pulled back."""
        rows = self._rows("SELECT data FROM local_households WHERE client_uuid = ?",
                          (client_uuid,))
        return json.loads(rows[0][0]) if rows else None

    def find_households(self, *, building: str | None = None, unit: str | None = None,
                        door: str | None = None, code: str | None = None,
                        text: str | None = None) -> list[dict[str, Any]]:
        """Households by building code, unit and door, by exact code, or by text in code or
        head's name; households captured here and not yet pulled back come last (their
        ``id`` is None)."""
        sql, params = "SELECT data FROM households WHERE 1=1", []
        for column, value in (("building", building), ("unit", unit), ("door", door),
                              ("code", code)):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        if text:
            sql += " AND (code LIKE ? OR head_name LIKE ?)"
            params += [f"%{text}%"] * 2
        found = [json.loads(r[0]) for r in self._rows(sql + " ORDER BY id", params)]
        if building is not None:  # a local household has a building id, not its code
            return found
        for uid, body in self._rows("SELECT client_uuid, data FROM local_households"):
            local = json.loads(body)
            words = f"{local.get('code') or ''} {local.get('head_name') or ''}"
            if (unit is None or local.get("unit") == unit) and (
                    door is None or local.get("door") == door) and (
                    code is None or local.get("code") == code) and (not text or text in words):
                found.append({**local, "id": None, "client_uuid": uid, "local": True})
        return found

    def reports(self) -> list[dict[str, Any]]:
        """Cached reports (mine, or my department's), newest first."""
        return [json.loads(r[0]) for r in self._rows("SELECT data FROM reports ORDER BY id DESC")]

    def categories(self, *, include_retired: bool = False) -> list[dict[str, Any]]:
        """Cached categories in display order."""
        rows = self._rows("SELECT data FROM categories WHERE active >= ? ORDER BY sort, code",
                          (0 if include_retired else 1,))
        return [json.loads(r[0]) for r in rows]

    def set_capture_policy(self, policy: Mapping[str, Any]) -> None:
        """Keep the server's flag thresholds (``GET /api/v1/capture-policy``)."""
        with self._lock:
            self._set_meta("capture_policy", json.dumps(dict(policy)))

    def capture_policy(self) -> dict[str, float]:
        """The server's flag thresholds as last pulled, else the server's defaults."""
        stored = self._meta("capture_policy")
        policy = dict(DEFAULT_CAPTURE_POLICY)
        if stored:
            policy.update({k: float(v) for k, v in json.loads(stored).items()
                           if k in policy and isinstance(v, (int, float))})
        return policy

    def grids(self) -> list[dict[str, Any]]:
        """The grids of my scope as the last pull found them, by code."""
        return [json.loads(r[0]) for r in self._rows("SELECT data FROM grids ORDER BY code")]

    def grids_containing(self, lat: float, lon: float) -> list[dict[str, Any]] | None:
        """My cached grids whose boundary holds the WGS-84 point; None if none are cached."""
        grids = self.grids()
        if not grids:
            return None
        return [g for g in grids if geometry_contains(g.get("boundary"), lat, lon)]

    def agenda(self, lat: float | None = None, lon: float | None = None, *,
               now: datetime | None = None, limit: int | None = 50) -> list[AgendaItem]:
        """The households due or overdue, as the server's agenda orders them, offline.

        Overdue first, then open yellow ribbons, priority households, the most overdue, the
        nearest to (lat, lon). A household met by a visit captured here since the last
        pull is left out. ``limit=None``: all of them.
        """
        now = now or datetime.now(UTC)
        met_here = self._met_here()
        items = []
        for household in self.households():
            item = _agenda_item(household, lat, lon, now, met_here)
            if item is not None:
                items.append(item)
        items.sort(key=lambda i: (
            i.status != "overdue", "yellow_ribbon_open" not in i.reasons,
            not i.household.get("priority"), -i.days_overdue,
            i.distance_m if i.distance_m is not None else math.inf))
        return items if limit is None else items[:limit]

    # -- internals -------------------------------------------------------------------------

    def _met_here(self) -> dict[str, datetime]:
        met: dict[str, datetime] = {}
        for key, when in self._rows(
                "SELECT household_key, visited_at FROM local_visits WHERE outcome = 'met'"):
            at = _time(when)
            if at is not None and (key not in met or at > met[key]):
                met[key] = at
        return met

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    def _meta(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


def _time(text: Any) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _agenda_item(household: dict[str, Any], lat: float | None, lon: float | None,
                 now: datetime, met_here: Mapping[str, datetime]) -> AgendaItem | None:
    if household.get("moved_out_at"):
        return None  # the family has moved away: nobody is sent there
    last_met = _time(household.get("last_met_at"))
    for key in (f"id:{household.get('id')}", f"uuid:{household.get('client_uuid')}"):
        if key in met_here and (last_met is None or met_here[key] > last_met):
            return None
    overdue_at, due_at = _time(household.get("next_due_at")), _time(household.get("due_from_at"))
    if overdue_at is not None and due_at is not None:
        status = "overdue" if overdue_at <= now else "due" if due_at <= now else "ok"
        days = math.floor((now - overdue_at).total_seconds() / 86400)
    else:  # masked: the schedule is hidden with the sensitive tags; keep the pulled status
        status, days = str(household.get("status") or "ok"), 0
    if status == "ok":
        return None
    reasons = [status]
    follow_up = _time(household.get("follow_up_at"))
    if follow_up is not None and follow_up <= now:
        reasons.insert(0, "follow_up")
    if household.get("open_yellow_ribbon"):
        reasons.insert(0, "yellow_ribbon_open")
    if household.get("last_visit_at") is None:
        reasons.append("never_visited")
    reasons += [f"tag:{t}" for t in household.get("tags") or []]
    place = household.get("location") or {}
    distance = None
    if lat is not None and lon is not None and place.get("lat") is not None:
        distance = distance_m(lat, lon, place["lat"], place["lon"])
    return AgendaItem(household, status, days, distance, tuple(reasons))


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Metres between two WGS-84 points on the ellipsoid, as the server measures them."""
    return float(Geodesic.WGS84.Inverse(lat1, lon1, lat2, lon2, Geodesic.DISTANCE)["s12"])


def geometry_contains(geometry: Mapping[str, Any] | None, lat: float, lon: float) -> bool:
    """Whether a GeoJSON Polygon or MultiPolygon holds the point (holes left out)."""
    if not geometry:
        return False
    coordinates = geometry.get("coordinates") or []
    if geometry.get("type") == "Polygon":
        polygons = [coordinates]
    elif geometry.get("type") == "MultiPolygon":
        polygons = list(coordinates)
    else:
        return False
    return any(polygon and _in_ring(polygon[0], lat, lon)
               and not any(_in_ring(hole, lat, lon) for hole in polygon[1:])
               for polygon in polygons)


def _in_ring(ring: Sequence[Sequence[float]], lat: float, lon: float) -> bool:
    # Ray casting eastward from the point; GeoJSON positions are [lon, lat].
    inside = False
    for (x1, y1, *_), (x2, y2, *_) in zip(ring, [*ring[1:], ring[0]], strict=True):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside
