"""The device's outbox, cache and login hold full phone and ID numbers: its owner's only."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from client_sync.cache import LocalCache
from client_sync.credentials import Credentials
from client_sync.queue import Outbox

PHONE = "13987654321"


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most systems give a user (files 0644), whatever the test runner's is."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def _modes(folder: Path) -> dict[str, int]:
    return {path.name: _mode(path) for path in folder.iterdir() if path.is_file()}


def test_the_outbox_database_and_its_wal_files_are_its_owners_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "device"
    with Outbox(data_dir) as box:
        box.enqueue("household", {"head_name": "王大爷", "phone": PHONE})
        modes = _modes(data_dir)
    assert {"outbox.sqlite3", "outbox.sqlite3-wal", "outbox.sqlite3-shm"} <= set(modes)
    assert {name: mode for name, mode in modes.items() if mode != 0o600} == {}
    assert _mode(data_dir) == 0o700


def test_the_cache_database_and_its_wal_files_are_its_owners_only(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "device" / "cache.sqlite3")
    try:
        cache.note_local_household("8d3c7d6e-0a51-4a55-9d0b-6f1a3d1c2b4e",
                                   {"head_name": "王大爷", "phone": PHONE})
        modes = _modes(tmp_path / "device")
    finally:
        cache.close()
    assert {"cache.sqlite3", "cache.sqlite3-wal", "cache.sqlite3-shm"} <= set(modes)
    assert {name: mode for name, mode in modes.items() if mode != 0o600} == {}


def test_the_saved_login_is_its_owners_only(tmp_path: Path) -> None:
    credentials = Credentials(tmp_path / "device" / "credentials.json")
    credentials.save(token="secret-token", username="zhou")
    assert _mode(tmp_path / "device" / "credentials.json") == 0o600
    assert _mode(tmp_path / "device") == 0o700


def test_an_outbox_left_readable_by_an_older_version_is_narrowed_when_opened(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "device"
    with Outbox(data_dir) as box:
        box.enqueue("household", {"head_name": "王大爷", "phone": PHONE})
    for name in ("outbox.sqlite3", "outbox.sqlite3-wal"):
        if (data_dir / name).exists():
            (data_dir / name).chmod(0o644)
    with Outbox(data_dir):
        assert _mode(data_dir / "outbox.sqlite3") == 0o600
