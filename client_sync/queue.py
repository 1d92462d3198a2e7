"""The durable outbox: every record a worker captures, kept on disk until the server has it.

One SQLite table in ``data_dir/outbox.sqlite3`` (WAL, ``synchronous=FULL``, an explicit
``BEGIN IMMEDIATE`` per change) and a content-addressed photo folder ``data_dir/photos/``.
A photo's bytes are on disk and fsynced before the row naming them commits, so the worker
may delete the original at once; a crash between the two leaves an orphan file, which the
next open deletes.

A record moves ``ready -> in_flight -> done | failed``. ``next_batch`` hands out only ready
records that are due and whose dependencies (``depends_on``) are all done: a photo still
uploading or a record the server refused holds back its own dependants and nothing else.
An ``in_flight`` record found on open was interrupted by a crash and goes back to ``ready``;
replaying it is safe because the server is idempotent on ``client_uuid``.

A queued payload is frozen: it is stored as canonical JSON with its sha256, a trigger refuses
any UPDATE of it, and an edit must be queued as a new record. ``seq`` is the table's integer
primary key (SQLite's AUTOINCREMENT needs one) and gives FIFO order; ``client_uuid`` is unique.

Only one process may open a data_dir at a time (an ``fcntl.flock`` on ``data_dir/.lock``), so
two processes can never send the same record at once. Within a process the Outbox is
thread-safe.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client_sync.exceptions import LockedError
from client_sync.photos import PhotoStore, file_sha256
from client_sync.private_files import connect_private, private_dir
from schemas.sync import BATCH_KINDS

__all__ = ["KINDS", "STATES", "Item", "Outbox", "canonical_json"]

log = logging.getLogger(__name__)

KINDS = ("photo", *BATCH_KINDS)
STATES = ("ready", "in_flight", "done", "failed")

# A wall clock set back (or a silly Retry-After) must not park a record for weeks.
_MAX_WAIT_S = 86_400.0
PHOTO_MISSING = "urn:gridwork:client:photo-missing"

# The kinds the table takes, from KINDS: an outbox made by a version that knew fewer
# kinds is rebuilt when it opens (``_upgrade_kinds``).
_KIND_CHECK = "CHECK (kind IN ({}))".format(", ".join(f"'{k}'" for k in KINDS))
_TABLE = """
CREATE TABLE IF NOT EXISTS records (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    client_uuid     TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL """ + _KIND_CHECK + """,
    payload         TEXT NOT NULL,
    payload_sha256  TEXT NOT NULL,
    depends_on      TEXT NOT NULL DEFAULT '[]',
    state           TEXT NOT NULL DEFAULT 'ready'
                    CHECK (state IN ('ready', 'in_flight', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error      TEXT,
    server_id       TEXT,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    file_sha256     TEXT,
    file_size       INTEGER,
    upload_url      TEXT,
    upload_offset   INTEGER NOT NULL DEFAULT 0,
    CHECK ((kind = 'photo') = (file_sha256 IS NOT NULL))
)"""
_SCHEMA = _TABLE + """;
CREATE INDEX IF NOT EXISTS records_state_seq ON records (state, seq);
CREATE INDEX IF NOT EXISTS records_file ON records (file_sha256) WHERE file_sha256 IS NOT NULL;
CREATE TRIGGER IF NOT EXISTS records_frozen
BEFORE UPDATE OF client_uuid, kind, payload, payload_sha256, depends_on, file_sha256, file_size,
    created_at ON records
BEGIN
    SELECT RAISE(ABORT, 'a queued record is frozen: queue the edit as a new record');
END;
"""

# Ready, due, and every dependency done. A dependency missing from the table (discarded)
# yields p.state NULL, which also holds the record.
_DUE = """
    r.state = 'ready' AND r.next_attempt_at <= :now AND NOT EXISTS (
        SELECT 1 FROM json_each(r.depends_on) d
        LEFT JOIN records p ON p.client_uuid = d.value
        WHERE p.state IS NOT 'done')
"""

_BLOCKED = """
WITH RECURSIVE held(uuid) AS (
    SELECT r.client_uuid FROM records r, json_each(r.depends_on) d
    LEFT JOIN records p ON p.client_uuid = d.value
    WHERE r.state != 'done' AND (p.client_uuid IS NULL OR p.state = 'failed')
    UNION
    SELECT r.client_uuid FROM records r, json_each(r.depends_on) d
    JOIN held h ON h.uuid = d.value
    WHERE r.state != 'done'
)
SELECT * FROM records WHERE client_uuid IN (SELECT uuid FROM held) ORDER BY seq
"""


def canonical_json(payload: Mapping[str, Any]) -> str:
    """Serialise a payload the one way the outbox stores it (sorted keys, no spaces, UTF-8)."""
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


@dataclass(frozen=True, slots=True)
class Item:
    """A snapshot of one outbox record.

    ``attempts`` counts failed tries (mark_retry, mark_failed). ``photo_path`` is set for
    photos; the file is deleted once the photo is done.
    """

    client_uuid: str
    kind: str
    payload_json: str
    payload_sha256: str
    depends_on: tuple[str, ...]
    state: str
    attempts: int
    next_attempt_at: float
    last_error: dict[str, Any] | None
    server_id: str | None
    created_at: float
    seq: int
    file_sha256: str | None = None
    file_size: int | None = None
    upload_url: str | None = None
    upload_offset: int = 0
    photo_path: Path | None = None

    @property
    def payload(self) -> dict[str, Any]:
        """The payload as a fresh dict (editing it changes nothing in the outbox)."""
        return json.loads(self.payload_json)


class Outbox:
    """The durable, ordered, crash-safe queue of records waiting to reach the server."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)
        self._mutex = threading.RLock()
        self._depth = 0
        self._unlink_after_commit: list[str] = []
        self._lock_fd: int | None = _acquire_lock(self.data_dir / ".lock")
        self._db: sqlite3.Connection | None = None
        try:
            self.photos = PhotoStore(self.data_dir / "photos")
            self._db = _connect(self.data_dir / "outbox.sqlite3")
            self._recover()
        except BaseException:
            self.close()
            raise

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the database and release the data_dir lock (safe to call twice)."""
        with self._mutex:
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                os.close(self._lock_fd)
                self._lock_fd = None

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Group several changes into one transaction (one fsync); nests with savepoints."""
        with self._mutex:
            db = self._conn()
            depth, pending = self._depth, len(self._unlink_after_commit)
            db.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT sp{depth}")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth = depth
                del self._unlink_after_commit[pending:]
                db.execute("ROLLBACK" if depth == 0 else f"ROLLBACK TO sp{depth}")
                if depth:
                    db.execute(f"RELEASE sp{depth}")
                raise
            self._depth = depth
            db.execute("COMMIT" if depth == 0 else f"RELEASE sp{depth}")
            if depth == 0:
                self._unlink_files()

    # -- capture -------------------------------------------------------------------------

    def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        client_uuid: str | None = None,
        depends_on: Iterable[str] = (),
        photo_path: Path | str | None = None,
    ) -> str:
        """Queue a record durably and return its client_uuid.

        For ``kind="photo"`` the file at ``photo_path`` is copied into the outbox (fsynced)
        before the row commits. Queuing the same client_uuid with the same payload again is a
        no-op; with another payload it raises ValueError (an edit is a new record).
        Every ``depends_on`` uuid must already be in the outbox.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if (kind == "photo") != (photo_path is not None):
            raise ValueError("photo_path is required for photos and only for photos")
        uid = str(uuid.UUID(client_uuid)) if client_uuid else str(uuid.uuid4())
        text = canonical_json(payload)
        sha = _sha256(text.encode())
        deps = list(dict.fromkeys(str(uuid.UUID(str(d))) for d in depends_on))
        if uid in deps:
            raise ValueError("a record cannot depend on itself")
        with self._mutex:
            if self._already_queued(uid, kind, sha, photo_path):
                return uid
            self._check_known(deps)
            file_sha, size = self.photos.put(photo_path) if photo_path else (None, None)
            now = time.time()
            try:
                with self.atomic():
                    self._conn().execute(
                        "INSERT INTO records (client_uuid, kind, payload, payload_sha256,"
                        " depends_on, created_at, updated_at, file_sha256, file_size)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (uid, kind, text, sha, json.dumps(deps), now, now, file_sha, size),
                    )
            except BaseException:
                # Inside a caller's transaction the file may yet be wanted; the next open
                # reconciles it then.
                if file_sha and self._depth == 0 and self._file_unused(file_sha):
                    self.photos.remove(file_sha)
                raise
        return uid

    # -- sending -------------------------------------------------------------------------

    def next_batch(
        self, kinds: Iterable[str] = KINDS, limit: int = 200, now: float | None = None
    ) -> list[Item]:
        """Claim up to ``limit`` due records of ``kinds`` whose dependencies are all done.

        The records come back in FIFO order, already marked ``in_flight``; settle each with
        mark_done, mark_retry, mark_failed or release.
        """
        kinds = tuple(kinds)
        if not kinds or not set(kinds) <= set(KINDS):
            raise ValueError(f"kinds must be a non-empty subset of {KINDS}")
        params: dict[str, Any] = {f"k{i}": k for i, k in enumerate(kinds)}
        params.update(now=time.time() if now is None else now, limit=limit)
        marks = ", ".join(f":{name}" for name in params if name.startswith("k"))
        with self.atomic():
            db = self._conn()
            rows = db.execute(
                # Only named placeholders are formatted in, never values.
                f"SELECT * FROM records r WHERE r.kind IN ({marks}) AND {_DUE}"  # noqa: S608
                " ORDER BY r.seq LIMIT :limit",
                params,
            ).fetchall()
            db.executemany(
                "UPDATE records SET state = 'in_flight', updated_at = ? WHERE client_uuid = ?",
                [(time.time(), row["client_uuid"]) for row in rows],
            )
        return [self._item(row, state="in_flight") for row in rows]

    def mark_done(self, client_uuid: str, server_id: str | int | None = None) -> None:
        """The server has the record; keep its server id. A sent photo's local file is freed."""
        with self.atomic():
            self._move(client_uuid, ("in_flight",), state="done", server_id=_str(server_id))
            file_sha = self.get(client_uuid).file_sha256
            if file_sha and self._file_unused(file_sha):
                self._unlink_after_commit.append(file_sha)

    def mark_retry(
        self,
        client_uuid: str,
        error: Mapping[str, Any] | str | None,
        delay_s: float,
        *,
        now: float | None = None,
    ) -> None:
        """A transient failure: back to ready, due again after ``delay_s`` seconds."""
        due = (time.time() if now is None else now) + min(max(0.0, delay_s), _MAX_WAIT_S)
        self._move(
            client_uuid,
            ("in_flight",),
            state="ready",
            next_attempt_at=due,
            last_error=_problem_json(error),
            bump_attempts=True,
        )

    def mark_failed(self, client_uuid: str, problem: Mapping[str, Any] | str | None) -> None:
        """The server refused the record for good; it waits for retry() or discard()."""
        self._move(
            client_uuid,
            ("in_flight",),
            state="failed",
            last_error=_problem_json(problem),
            bump_attempts=True,
        )

    def release(self, client_uuid: str) -> None:
        """Hand an unsent in_flight record back as ready, with no penalty (e.g. on 401 or stop)."""
        self._move(client_uuid, ("in_flight",), state="ready")

    def set_upload(self, client_uuid: str, url: str | None, offset: int) -> None:
        """Remember a photo's tus upload URL and the offset the server has confirmed."""
        with self._mutex:
            item = self.get(client_uuid)
            if item.kind != "photo":
                raise ValueError(f"{client_uuid} is a {item.kind}, not a photo")
            if not 0 <= offset <= (item.file_size or 0):
                raise ValueError(f"offset {offset} is outside 0..{item.file_size}")
            self._move(client_uuid, ("ready", "in_flight"), upload_url=url, upload_offset=offset)

    # -- after a refusal -----------------------------------------------------------------

    def retry(self, client_uuid: str) -> None:
        """Put a failed record back to ready, due at once, its attempt count reset."""
        with self._mutex:
            item = self.get(client_uuid)
            if item.photo_path and not item.photo_path.is_file():
                raise ValueError(f"the photo file of {client_uuid} is gone; discard it")
            self._move(client_uuid, ("failed",), state="ready", next_attempt_at=0.0, attempts=0)

    def discard(self, client_uuid: str) -> None:
        """Delete a ready or failed record for good; its dependants stay held (see blocked())."""
        with self.atomic():
            item = self.get(client_uuid)
            if item.state not in ("ready", "failed"):
                raise ValueError(f"{client_uuid} is {item.state}; only ready or failed can go")
            self._conn().execute("DELETE FROM records WHERE client_uuid = ?", (client_uuid,))
            if item.file_sha256 and self._file_unused(item.file_sha256):
                self._unlink_after_commit.append(item.file_sha256)

    # -- looking -------------------------------------------------------------------------

    def get(self, client_uuid: str) -> Item:
        """The record with this client_uuid (KeyError if the outbox has none)."""
        row = self._query("SELECT * FROM records WHERE client_uuid = ?", (client_uuid,))
        if not row:
            raise KeyError(client_uuid)
        return self._item(row[0])

    def failed(self) -> list[Item]:
        """Records the server refused, oldest first, each with its problem in last_error."""
        return [
            self._item(r)
            for r in self._query("SELECT * FROM records WHERE state = 'failed' ORDER BY seq")
        ]

    def blocked(self) -> list[Item]:
        """Unsent records held (directly or through a chain) by a failed or discarded parent."""
        return [self._item(r) for r in self._query(_BLOCKED)]

    def counts(self) -> dict[str, int]:
        """How many records are in each state."""
        rows = self._query("SELECT state, count(*) FROM records GROUP BY state")
        found: dict[str, int] = {state: n for state, n in rows}
        return {state: int(found.get(state, 0)) for state in STATES}

    def pending_bytes(self) -> int:
        """Bytes still to send for ready and in_flight records: photo bytes past the
        confirmed upload offset, plus the JSON payload of every other record."""
        (total,) = self._query(
            "SELECT coalesce(sum(CASE WHEN kind = 'photo' THEN file_size - upload_offset"
            " ELSE length(CAST(payload AS BLOB)) END), 0)"
            " FROM records WHERE state IN ('ready', 'in_flight')"
        )[0]
        return int(total)

    def next_due(self) -> float | None:
        """The earliest next_attempt_at of a ready record whose dependencies are done."""
        sql = f"SELECT min(r.next_attempt_at) FROM records r WHERE {_DUE}"  # noqa: S608
        (due,) = self._query(sql, {"now": float("inf")})[0]
        return due

    def verify(self, *, files: bool = True) -> list[str]:
        """client_uuids whose stored payload (or unsent photo file) no longer matches its sha256."""
        bad = []
        for row in self._query("SELECT * FROM records ORDER BY seq"):
            if _sha256(row["payload"].encode()) != row["payload_sha256"]:
                bad.append(row["client_uuid"])
            elif files and row["file_sha256"] and row["state"] != "done":
                path = self.photos.path(row["file_sha256"])
                if not path.is_file() or file_sha256(path) != row["file_sha256"]:
                    bad.append(row["client_uuid"])
        return bad

    # -- internals -----------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the outbox is closed")
        return self._db

    def _query(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        with self._mutex:
            return self._conn().execute(sql, params).fetchall()

    def _item(self, row: sqlite3.Row, **override: Any) -> Item:
        # sqlite3.Row iterates over values, so .keys() is needed here.
        fields = {k: row[k] for k in row.keys() if k in Item.__slots__}  # noqa: SIM118
        fields["payload_json"] = row["payload"]
        fields["depends_on"] = tuple(json.loads(row["depends_on"]))
        fields["last_error"] = json.loads(row["last_error"]) if row["last_error"] else None
        if row["file_sha256"]:
            fields["photo_path"] = self.photos.path(row["file_sha256"])
        fields.update(override)
        return Item(**fields)

    def _move(
        self,
        client_uuid: str,
        from_states: tuple[str, ...],
        *,
        bump_attempts: bool = False,
        **changes: Any,
    ) -> None:
        """Update one record if it is in one of ``from_states`` (ValueError if not)."""
        sets = [f"{column} = :{column}" for column in changes]
        sets.append("updated_at = :updated_at")
        if bump_attempts:
            sets.append("attempts = attempts + 1")
        marks = ", ".join(f"'{s}'" for s in from_states)
        with self.atomic():
            cur = self._conn().execute(
                f"UPDATE records SET {', '.join(sets)}"  # noqa: S608 columns and states are ours
                f" WHERE client_uuid = :uuid AND state IN ({marks})",
                {**changes, "updated_at": time.time(), "uuid": client_uuid},
            )
            if cur.rowcount == 0:
                state = self.get(client_uuid).state  # KeyError when unknown
                raise ValueError(f"{client_uuid} is {state}, expected one of {from_states}")

    def _already_queued(self, uid: str, kind: str, sha: str, photo_path: Path | str | None) -> bool:
        """True if this exact record is queued; ValueError if the uuid holds another one."""
        rows = self._query(
            "SELECT kind, payload_sha256, file_sha256 FROM records WHERE client_uuid = ?", (uid,)
        )
        if not rows:
            return False
        same = (rows[0]["kind"], rows[0]["payload_sha256"]) == (kind, sha)
        if same and photo_path is not None:
            same = file_sha256(photo_path) == rows[0]["file_sha256"]
        if not same:
            raise ValueError(f"{uid} is already queued with another payload; queue a new record")
        return True

    def _check_known(self, deps: list[str]) -> None:
        if not deps:
            return
        marks = ", ".join("?" * len(deps))
        sql = f"SELECT client_uuid FROM records WHERE client_uuid IN ({marks})"  # noqa: S608
        known = {r[0] for r in self._query(sql, deps)}
        if missing := [d for d in deps if d not in known]:
            raise ValueError(f"dependencies not in the outbox: {missing}")

    def _file_unused(self, file_sha: str) -> bool:
        """True if no unsent record needs photos/<file_sha> any more."""
        sql = "SELECT count(*) FROM records WHERE file_sha256 = ? AND state != 'done'"
        return self._query(sql, (file_sha,))[0][0] == 0

    def _unlink_files(self) -> None:
        while self._unlink_after_commit:
            file_sha = self._unlink_after_commit.pop()
            # A record queued later in the same transaction may have brought the same bytes.
            if self._file_unused(file_sha):
                self.photos.remove(file_sha)

    def _recover(self) -> None:
        """Undo a crash: in_flight to ready, photo rows without a file failed, orphans gone."""
        now = time.time()
        missing = {
            "type": PHOTO_MISSING,
            "title": "Photo file missing",
            "detail": "the photo's file is no longer in the outbox; discard this record",
        }
        with self.atomic():
            db = self._conn()
            resumed = db.execute(
                "UPDATE records SET state = 'ready', updated_at = ? WHERE state = 'in_flight'",
                (now,),
            ).rowcount
            db.execute(
                "UPDATE records SET next_attempt_at = ? WHERE state = 'ready'"
                " AND next_attempt_at > ?",
                (now, now + _MAX_WAIT_S),
            )
            for row in db.execute(
                "SELECT client_uuid, file_sha256 FROM records"
                " WHERE kind = 'photo' AND state = 'ready'"
            ).fetchall():
                if not self.photos.path(row["file_sha256"]).is_file():
                    log.warning("photo file of %s is missing; marking it failed", row[0])
                    db.execute(
                        "UPDATE records SET state = 'failed', last_error = ?,"
                        " updated_at = ? WHERE client_uuid = ?",
                        (json.dumps(missing), now, row[0]),
                    )
            wanted = {
                r[0]
                for r in db.execute(
                    "SELECT file_sha256 FROM records WHERE file_sha256 IS NOT NULL"
                    " AND state != 'done'"
                )
            }
        orphans = self.photos.prune(keep=wanted)
        if resumed or orphans:
            log.info(
                "outbox recovered: %d in_flight back to ready, %d orphan files removed",
                resumed,
                orphans,
            )


def _acquire_lock(path: Path) -> int:
    """Take the exclusive, non-blocking lock of a data_dir (LockedError if another has it)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise LockedError(f"{path.parent} is in use by another process (pid {holder})") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def _connect(path: Path) -> sqlite3.Connection:
    # Records hold full phone and ID numbers: the database is its owner's only.
    db = connect_private(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    _upgrade_kinds(db)
    db.executescript(_SCHEMA)
    return db


def _upgrade_kinds(db: sqlite3.Connection) -> None:
    """Rebuild an outbox whose table refuses a kind this version sends (a patrol track),
    keeping every row, its ``seq`` and the AUTOINCREMENT counter; in one transaction."""
    row = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'records'"
                     ).fetchone()
    if row is None or _KIND_CHECK in row[0]:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        columns = ", ".join(r[1] for r in db.execute("PRAGMA table_info(records)"))
        for statement in ("DROP TRIGGER IF EXISTS records_frozen",
                          "DROP INDEX IF EXISTS records_state_seq",
                          "DROP INDEX IF EXISTS records_file",
                          "ALTER TABLE records RENAME TO records_before_upgrade", _TABLE,
                          f"INSERT INTO records ({columns}) "  # noqa: S608 - our own names
                          f"SELECT {columns} FROM records_before_upgrade",
                          "DELETE FROM sqlite_sequence WHERE name = 'records'",
                          "UPDATE sqlite_sequence SET name = 'records'"
                          " WHERE name = 'records_before_upgrade'",
                          "DROP TABLE records_before_upgrade"):
            db.execute(statement)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    log.info("outbox upgraded to take the record kinds %s", ", ".join(KINDS))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _problem_json(problem: Mapping[str, Any] | str | None) -> str | None:
    if problem is None:
        return None
    if isinstance(problem, str):
        problem = {"title": problem}
    return json.dumps(dict(problem), ensure_ascii=False, default=str)


def _str(value: str | int | None) -> str | None:
    return None if value is None else str(value)
