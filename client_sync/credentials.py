"""The login kept on the device: server, user, bearer token, in a file only its owner reads."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from client_sync.private_files import private_dir

__all__ = ["Credentials"]


class Credentials:
    """``data_dir/credentials.json`` (mode 0600): written whole by rename, never half."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._data: dict[str, Any] = {}
        if self.path.is_file():
            try:
                self._data = json.loads(self.path.read_text(encoding="utf-8"))
            except ValueError:
                self._data = {}  # unreadable: behave as logged out, keep nothing
        if not self._data.get("device_id"):
            self._data["device_id"] = f"gridsync-{uuid.uuid4()}"

    @property
    def server_url(self) -> str | None:
        """The server this login belongs to."""
        return self._data.get("server_url")

    @property
    def username(self) -> str | None:
        """Who logged in."""
        return self._data.get("username")

    @property
    def token(self) -> str | None:
        """The bearer token, or None."""
        return self._data.get("token")

    @property
    def device_id(self) -> str:
        """This data_dir's device name, sent at login (the server lists tokens by device)."""
        return str(self._data["device_id"])

    @property
    def login_needed(self) -> bool:
        """No token, a token the server refused (401), or one past its expiry."""
        if not self.token or self._data.get("rejected"):
            return True
        expires = self._data.get("expires_at")
        if expires:
            try:
                when = datetime.fromisoformat(str(expires).replace("Z", "+00:00"))
            except ValueError:
                return False
            return when.tzinfo is not None and when <= datetime.now(UTC)
        return False

    def save(self, **values: Any) -> None:
        """Store a new login (clears a refusal)."""
        self._data.update(values)
        self._data.pop("rejected", None)
        self._write()

    def reject(self) -> None:
        """The server answered 401: keep the rest, mark the login as needed."""
        if not self._data.get("rejected"):
            self._data["rejected"] = True
            self._write()

    def _write(self) -> None:
        private_dir(self.path.parent)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".cred-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(self._data, out, ensure_ascii=False)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
