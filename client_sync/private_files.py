"""Files only the device's user may read: the outbox, the cache and the credentials.

They hold full phone and ID numbers, so they are created 0600 (and their folder 0700), never
with the umask's 0644 that ``sqlite3.connect`` would give. SQLite makes a database's ``-wal``,
``-shm`` and ``-journal`` files with the database file's own mode, so a database made here
keeps its side files private too; files left readable by an older version are narrowed when
they are opened.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Any

__all__ = ["private_dir", "connect_private"]

_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """Create the folder ``path`` (and its parents) readable by its owner only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def connect_private(path: Path, **options: Any) -> sqlite3.Connection:
    """Open the SQLite database ``path``, creating it (and its side files) 0600."""
    private_dir(path.parent)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path.name, *(path.name + suffix for suffix in _SIDE_FILES)):
        with contextlib.suppress(FileNotFoundError):  # not made yet: it will be 0600
            os.chmod(path.with_name(name), 0o600)
    return sqlite3.connect(path, **options)
