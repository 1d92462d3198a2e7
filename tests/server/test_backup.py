"""Backups taken while the server runs restore every record and every photo."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select, text

from server.services.backup import BackupError, backup, photo_hashes, restore
from server.storage import PhotoStore
from tests.server.storage.imagegen import make_jpeg


def _snapshot(db) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order."""
    rows = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            result = conn.execute(select(table).order_by(*table.primary_key.columns))
            rows[table.name] = [tuple(r) for r in result]
    return rows


def _store_photos(media: Path, count: int) -> None:
    store = PhotoStore(media)
    for i in range(count):
        src = store.tmp_dir / f"p{i}.jpg"
        src.write_bytes(make_jpeg(64 + i, 48, gps=(28.8, 113.07)))
        store.put_original(src, hashlib.sha256(src.read_bytes()).hexdigest())


def test_backup_and_restore_round_trip_every_record_and_photo(app, db, factory, tmp_path):
    factory.actor("grid_worker")
    factory.actor("secretary")
    media = tmp_path / "media"  # this test's own photo folder: others write to the shared one
    _store_photos(media, 3)
    before_rows, before_photos = _snapshot(db), photo_hashes(media)
    assert len(before_photos) == 3 and before_rows["user_account"]

    dest = tmp_path / "backup-1"
    info = backup(app.config["DATABASE_URL"], media, dest)
    assert info.photos == 3

    # Lose everything: rows and photo files.
    db.session.remove()
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())
    for path in (media / "original").rglob("*"):
        if path.is_file():
            path.unlink()
    assert photo_hashes(media) == {}

    restore(dest, app.config["DATABASE_URL"], media)
    db.engine.dispose()  # connections opened before the restore may hold stale pages
    assert _snapshot(db) == before_rows
    assert photo_hashes(media) == before_photos


def test_backup_refuses_a_folder_that_is_not_empty(app, tmp_path):
    dest = tmp_path / "full"
    dest.mkdir()
    (dest / "something").write_text("x")
    with pytest.raises(BackupError, match="not empty"):
        backup(app.config["DATABASE_URL"], Path(app.config["MEDIA_DIR"]), dest)


def test_restore_refuses_a_folder_that_is_not_a_backup(app, tmp_path):
    with pytest.raises(BackupError, match="not a Gridwork backup"):
        restore(tmp_path, app.config["DATABASE_URL"], Path(app.config["MEDIA_DIR"]))


def test_backup_is_consistent_while_writes_go_on(app, db, factory, tmp_path):
    """A backup taken between two commits holds the first and not the second."""
    factory.actor("grid_worker", username="before")
    dest = tmp_path / "b"
    backup(app.config["DATABASE_URL"], Path(app.config["MEDIA_DIR"]), dest)
    factory.actor("grid_worker", username="after")
    restore(dest, app.config["DATABASE_URL"], Path(app.config["MEDIA_DIR"]))
    db.engine.dispose()
    db.session.remove()
    names = set(db.session.scalars(text("SELECT username FROM user_account")))
    assert "before" in names and "after" not in names


def _modes(folder: Path) -> dict[str, int]:
    """The permission bits of ``folder`` and of everything under it, by relative path."""
    found = {".": folder.stat().st_mode & 0o777}
    for path in folder.rglob("*"):
        found[str(path.relative_to(folder))] = path.stat().st_mode & 0o777
    return found


def test_a_backup_is_readable_by_its_owner_only(app, db, factory, tmp_path):
    """Folders 0700, files 0600: the database copy and the photos hold personal data."""
    factory.actor("grid_worker")
    media = tmp_path / "media"
    _store_photos(media, 1)
    dest = tmp_path / "nightly"
    backup(app.config["DATABASE_URL"], media, dest)
    modes = _modes(dest)
    assert any(name.startswith("media/original/") for name in modes)
    assert {name for name, mode in modes.items() if mode & 0o077} == set()
    assert {mode for name, mode in modes.items() if (dest / name).is_dir()} == {0o700}
    assert {mode for name, mode in modes.items() if (dest / name).is_file()} == {0o600}


class _Ran:
    """Stands for subprocess.run in the backup module: records each call, succeeds."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], dict[str, str]]] = []

    def __call__(self, args, *, env, **kwargs):
        self.calls.append((list(args), dict(env)))
        return type("Done", (), {"returncode": 0, "stderr": ""})()


def test_the_postgresql_password_goes_to_pg_dump_in_its_environment_never_its_arguments(
        monkeypatch, tmp_path):
    """Any user of the host can read a process's arguments (ps); its environment, not."""
    import server.services.backup as backup_module

    ran = _Ran()
    monkeypatch.setattr(backup_module.subprocess, "run", ran)
    monkeypatch.setattr(backup_module.shutil, "which", lambda name: f"/usr/bin/{name}")
    url = "postgresql+psycopg://gw:s3cr%40t@db-host:5433/gridwork?options=-csearch_path%3Dgw_x"
    backup(url, tmp_path / "media", tmp_path / "b")
    restore(tmp_path / "b", url, tmp_path / "media")
    assert [args[0] for args, _ in ran.calls] == ["pg_dump", "pg_restore"]
    for args, env in ran.calls:
        assert not [a for a in args if "s3cr" in a], args
        assert env["PGPASSWORD"] == "s3cr@t"
        assert "--schema=gw_x" in args
    assert ran.calls[0][0][-1] == "postgresql://gw@db-host:5433/gridwork"
    assert "--dbname=postgresql://gw@db-host:5433/gridwork" in ran.calls[1][0]
