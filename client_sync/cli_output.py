"""What ``gridsync`` prints: the status summary, refused records, households, agenda lines,
field errors, and the push progress bar."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from client_sync.cache import AgendaItem
    from client_sync.client import Status
    from client_sync.queue import Item

__all__ = ["AGENDA_HEADER", "HOUSEHOLD_HEADER", "Progress", "agenda_line", "describe_item",
           "field_errors", "format_status", "household_line", "human_bytes"]

HOUSEHOLD_HEADER = f"{'id':>6}  {'code':<12} {'status':<9} head of household"
AGENDA_HEADER = f"{'status':<8} {'id':>6}  {'code':<12} head of household, distance (why)"


def human_bytes(count: float) -> str:
    """1536 → '1.5 KB'."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(count) < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GB"


def format_status(status: Status) -> str:
    """A few lines a worker can read at a glance."""
    c = status.counts
    lines = [
        f"Server:   {status.server_url or '(none: use --server)'}"
        + (f" as {status.username}" if status.username else ""),
        f"Queued:   {status.pending} to send ({human_bytes(status.pending_bytes)}), "
        f"{c['done']} sent, {c['failed']} refused, {status.blocked} waiting on a refused one",
    ]
    if status.next_attempt_in:
        lines.append(f"Next try: in {status.next_attempt_in:.0f} s")
    lines.append(f"Pulled:   {status.last_pull or 'never'}")
    if status.login_needed:
        lines.append("Login needed: gridsync login USERNAME (queued records are kept)")
    if c["failed"]:
        lines.append("See why records were refused: gridsync failed")
    return "\n".join(lines)


def describe_item(item: Item) -> str:
    """A refused record: what, which, and the server's reason with its field errors."""
    problem: dict[str, Any] = item.last_error or {}
    reason = problem.get("detail") or problem.get("title") or "refused"
    lines = [f"{item.kind:9} {item.client_uuid}  {problem.get('status', '')} {reason}"]
    errors = problem.get("errors")
    if isinstance(errors, dict):
        lines += [f"          {line}" for line in field_errors(errors)]
    return "\n".join(lines)


def field_errors(errors: Mapping[Any, Any], prefix: str = "") -> list[str]:
    """Marshmallow's nested messages as ``location.lat: message`` lines, sorted by path."""
    lines = []
    for key, messages in sorted(errors.items(), key=lambda kv: str(kv[0])):
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(messages, Mapping):
            lines += field_errors(messages, path)
        elif isinstance(messages, list | tuple):
            flat = [m for m in messages if not isinstance(m, Mapping)]
            if flat:
                lines.append(f"{path}: {'; '.join(map(str, flat))}")
            for nested in (m for m in messages if isinstance(m, Mapping)):
                lines += field_errors(nested, path)
        else:
            lines.append(f"{path}: {messages}")
    return lines


def household_line(household: Mapping[str, Any]) -> str:
    """One household: its id (what ``visit --household-id`` takes), code, status, head."""
    if household.get("id") is None:  # captured here, not on the server yet
        return (f"{'-':>6}  {household.get('code') or '(new)':<12} {'queued':<9} "
                f"{household.get('head_name') or ''}  --household-uuid "
                f"{household.get('client_uuid')}")
    return (f"{household['id']:>6}  {household.get('code') or '':<12} "
            f"{household.get('status') or '':<9} {household.get('head_name') or ''}")


def agenda_line(item: AgendaItem) -> str:
    """One household of the agenda: status, id, code, head, distance and reasons."""
    h = item.household
    where = f" {item.distance_m:.0f} m" if item.distance_m is not None else ""
    return (f"{item.status:<8} {h.get('id') or '':>6}  {h.get('code') or '':<12} "
            f"{h.get('head_name') or ''}{where} ({', '.join(item.reasons)})")


class Progress:
    """A one-line progress bar of records and bytes, fed by SyncClient events."""

    WIDTH = 30

    def __init__(self, stream: TextIO, *, enabled: bool = True) -> None:
        self.stream, self.enabled = stream, enabled
        self.total_items = self.total_bytes = 0
        self.items = self.bytes = 0
        self._lock = threading.Lock()
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last_line = ""

    def begin(self, items: int, total_bytes: int) -> None:
        """Start counting toward ``items`` records and ``total_bytes`` bytes."""
        self.total_items, self.total_bytes = max(items, 0), max(total_bytes, 0)
        self._draw()

    def event(self, name: str, **data: Any) -> None:
        """A SyncClient event (batch_done, photo_chunk, photo_done...)."""
        with self._lock:
            if name == "batch_done":
                self.items += int(data.get("done", 0)) + int(data.get("failed", 0))
                self.bytes += int(data.get("bytes", 0))
            elif name == "photo_chunk":
                self.bytes += int(data.get("length", 0))
            elif name == "photo_done":
                self.items += 1
            else:
                return
        self._draw()

    def _draw(self) -> None:
        if not self.enabled:
            return
        share = self.items / self.total_items if self.total_items else 1.0
        filled = int(self.WIDTH * min(share, 1.0))
        line = (f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] "
                f"{self.items}/{self.total_items} records, "
                f"{human_bytes(self.bytes)}/{human_bytes(self.total_bytes)}")
        if line == self._last_line:
            return
        self._last_line = line
        # On a terminal, redraw in place; in a log, one line per change would flood it.
        if self._tty:
            self.stream.write("\r" + line)
            self.stream.flush()

    def end(self) -> None:
        """Finish the bar with a newline (or print it once when not on a terminal)."""
        if not self.enabled:
            return
        if self._tty:
            self.stream.write("\n")
        else:
            self.stream.write(self._last_line + "\n")
        self.stream.flush()
