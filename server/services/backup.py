"""Consistent backups of a running instance, and restoring them.

A backup is a folder: ``manifest.json``, the database (``gridwork.db`` made with SQLite's
online backup API, or ``database.pgdump`` made by ``pg_dump --format=custom``), and
``media/`` with the photo files. The database is copied first and the photos after: photo
files are immutable and written before the row that names them commits, so every photo the
copied database refers to is already on disk when the folder is copied.

A backup holds every household's personal data: its folder is 0700 and its files 0600 from
the start, and the PostgreSQL password reaches ``pg_dump`` in its environment
(``PGPASSWORD``), never on its command line, which any user of the host can read.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import URL, make_url

__all__ = ["BackupError", "BackupInfo", "backup", "restore", "photo_hashes"]

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


@dataclass
class BackupInfo:
    """What a backup holds."""

    path: Path
    dialect: str
    photos: int
    created_at: str


@dataclass(frozen=True)
class _Libpq:
    """How pg_dump/pg_restore reach the database: a URL without the password, the password
    (for ``PGPASSWORD``), and the schema named by ``options=-csearch_path=``."""

    url: str
    password: str | None
    schema: str | None


def _libpq(database_url: str) -> _Libpq:
    url = make_url(database_url)
    schema = None
    options = url.query.get("options")
    if isinstance(options, str) and "search_path=" in options:
        schema = options.split("search_path=", 1)[1].split()[0]
    query = {k: v for k, v in url.query.items() if k not in ("options", "password")}
    password = url.password or url.query.get("password")
    plain = URL.create("postgresql", username=url.username, host=url.host, port=url.port,
                       database=url.database, query=query)
    return _Libpq(plain.render_as_string(hide_password=False),
                  str(password) if password else None, schema)


def _sqlite_path(database_url: str) -> Path:
    database = make_url(database_url).database
    if not database or database == ":memory:":
        raise BackupError("An in-memory SQLite database cannot be backed up.")
    return Path(database)


def _copy_media(src: Path, dest: Path) -> int:
    count = 0
    for path in sorted(src.rglob("*")) if src.exists() else []:
        relative = path.relative_to(src)
        if relative.parts and relative.parts[0] == "tmp":
            continue  # unfinished uploads are not worth keeping
        target = dest / relative
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            count += relative.parts[0] == "original"
    return count


def backup(database_url: str, media_dir: Path, dest: Path) -> BackupInfo:
    """Write a consistent backup of the database and the photos into the new folder ``dest``."""
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} exists and is not empty: choose a new folder.")
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    dest.chmod(0o700)  # before anything is in it (mkdir's mode is cut by the umask)
    dialect = make_url(database_url).get_backend_name()
    if dialect == "sqlite":
        source = sqlite3.connect(_sqlite_path(database_url))
        target = sqlite3.connect(_private_file(dest / "gridwork.db"))
        with target:
            source.backup(target)  # a consistent snapshot even while the server writes
        source.close()
        target.close()
    elif dialect == "postgresql":
        libpq = _libpq(database_url)
        args = ["pg_dump", "--format=custom", "--no-owner",
                f"--file={_private_file(dest / 'database.pgdump')}"]
        if libpq.schema:
            args.append(f"--schema={libpq.schema}")
        _run([*args, libpq.url], "pg_dump", libpq.password)
    else:
        raise BackupError(f"Backups of {dialect} databases are not supported.")
    photos = _copy_media(Path(media_dir), dest / "media")
    info = BackupInfo(dest, dialect, photos, datetime.now(UTC).isoformat())
    _private_file(dest / MANIFEST).write_text(json.dumps({
        "format": FORMAT_VERSION, "dialect": dialect, "photos": photos,
        "created_at": info.created_at}, indent=2), encoding="utf-8")
    _make_private(dest)
    return info


def _private_file(path: Path) -> Path:
    """Create ``path`` empty, readable by its owner only, and return it."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    path.chmod(0o600)
    return path


def _make_private(folder: Path) -> None:
    """Folders 0700 and files 0600 under ``folder`` (the copied photos kept the store's mode;
    the folder itself was 0700 all along, so nobody else could reach them meanwhile)."""
    for path in folder.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o700 if path.is_dir() else 0o600)


def restore(src: Path, database_url: str, media_dir: Path) -> BackupInfo:
    """Bring a backup back: replaces the database's contents and adds the photo files.

    Stop the server first: a restore replaces the data under it.
    """
    try:
        manifest = json.loads((src / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{src} is not a Gridwork backup (no readable {MANIFEST}).") from exc
    dialect = make_url(database_url).get_backend_name()
    if manifest.get("dialect") != dialect:
        raise BackupError(f"This backup is of a {manifest.get('dialect')} database; the "
                          f"configured database is {dialect}.")
    if dialect == "sqlite":
        path = _sqlite_path(database_url)
        path.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(src / "gridwork.db")
        target = sqlite3.connect(path)
        with target:
            source.backup(target)
        source.close()
        target.close()
    else:
        libpq = _libpq(database_url)
        args = ["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
                f"--dbname={libpq.url}"]
        if libpq.schema:
            args.append(f"--schema={libpq.schema}")  # the dump names its schema; restore it
        _run([*args, str(src / "database.pgdump")], "pg_restore", libpq.password)
    _copy_media(src / "media", Path(media_dir))
    return BackupInfo(src, dialect, int(manifest.get("photos", 0)),
                      str(manifest.get("created_at")))


def _run(args: list[str], tool: str, password: str | None) -> None:
    if shutil.which(args[0]) is None:
        raise BackupError(f"{tool} is not installed: install the PostgreSQL client tools "
                          "(Debian: apt-get install postgresql-client).")
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    if password:
        env["PGPASSWORD"] = password  # the environment of the child only: not in ps's view
    result = subprocess.run(args, capture_output=True, text=True, env=env, check=False,
                            umask=0o077)
    if result.returncode != 0:
        message = result.stderr.strip().splitlines()[-1:] or ["no message"]
        raise BackupError(f"{tool} failed: {message[0]}")


def photo_hashes(media_dir: Path) -> dict[str, str]:
    """sha256 of every stored original, by file name (to compare two instances)."""
    found = {}
    for path in sorted((Path(media_dir) / "original").rglob("*")):
        if path.is_file():
            found[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found

