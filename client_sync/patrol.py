"""Recording a patrol (巡查轨迹): a position every 30 s or 25 m, queued as track segments.

A :class:`Patrol` is offered every position the device gets and keeps one when 30 s have
passed or the worker has moved 25 m since the last one kept (issue 13: "a position every
30 s (or 25 m)"). It queues what it kept as a track each ``segment_points`` positions (20
minutes at one every 30 s) and when it stops, so a device that dies mid-patrol loses at
most the open segment; each segment starts with the previous one's last position, so the
server's lengths of the segments add up to the whole patrol's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from client_sync.cache import distance_m

__all__ = ["Patrol", "MIN_INTERVAL_S", "MIN_DISTANCE_M", "SEGMENT_POINTS", "SEGMENT_SPAN"]

MIN_INTERVAL_S = 30.0
MIN_DISTANCE_M = 25.0
SEGMENT_POINTS = 40  # 20 minutes at one position every 30 s: what a crash may lose
# A segment never spans more (the server takes tracks of up to MAX_TRACK_HOURS); a patrol
# left running overnight starts a new segment, its gap neither walked nor timed.
SEGMENT_SPAN = timedelta(hours=12)

# queue(started_at, ended_at, points) -> the queued track's client_uuid
QueueTrack = Callable[[datetime, datetime, list[list[Any]]], str]


def _aware(when: datetime | None) -> datetime:
    if when is None:
        return datetime.now(UTC)
    if when.tzinfo is None:
        raise ValueError("a patrol's times need their zone")
    return when


class Patrol:
    """One patrol being recorded; ``SyncClient.start_patrol`` makes one."""

    def __init__(self, queue: QueueTrack, *, started_at: datetime | None = None,
                 min_interval_s: float = MIN_INTERVAL_S,
                 min_distance_m: float = MIN_DISTANCE_M,
                 segment_points: int = SEGMENT_POINTS) -> None:
        if segment_points < 2:
            raise ValueError("a segment holds at least two positions")
        self._queue = queue
        self.min_interval_s, self.min_distance_m = min_interval_s, min_distance_m
        self.segment_points = segment_points
        self._segment_start = _aware(started_at)
        self._points: list[list[Any]] = []
        self._last: list[Any] | None = None
        self._unkept: list[Any] | None = None  # the latest position offered and not kept
        self.queued: list[str] = []  # the client_uuids of the segments queued so far
        self.stopped = False

    def offer(self, lat: float, lon: float, accuracy_m: float | None = None,
              recorded_at: datetime | None = None) -> bool:
        """Offer the device's position; returns whether the patrol kept it."""
        if self.stopped:
            raise RuntimeError("this patrol has stopped")
        when = _aware(recorded_at)
        last = self._last
        if last is not None:
            moved = distance_m(last[0], last[1], lat, lon)
            waited = (when - last[3]).total_seconds()
            if waited < 0 or (waited < self.min_interval_s and moved < self.min_distance_m):
                if waited > 0:
                    self._unkept = [lat, lon, accuracy_m, when]  # the patrol may end here
                return False
        if when - self._segment_start > SEGMENT_SPAN:
            self._break(when)
        self._unkept = None
        point = [lat, lon, accuracy_m, when]
        self._points.append(point)
        self._last = point
        if len(self._points) >= self.segment_points:
            self._flush(when)
        return True

    def _flush(self, ended_at: datetime) -> None:
        self.queued.append(self._queue(self._segment_start, ended_at, list(self._points)))
        # The next segment starts where this one ended, from its last position.
        self._segment_start = ended_at
        self._points = [self._last] if self._last is not None else []

    def _break(self, when: datetime) -> None:
        """Close the segment at its last position and start afresh at ``when``."""
        if self._unkept is not None:
            self._points.append(self._unkept)
            self._last = self._unkept
        last = self._last[3] if self._last is not None else self._segment_start
        if self._points and not (len(self._points) == 1 and self.queued
                                 and self._points[0][3] == self._segment_start):
            self.queued.append(self._queue(self._segment_start, last, list(self._points)))
        self._segment_start, self._points, self._last = when, [], None

    def stop(self, ended_at: datetime | None = None) -> list[str]:
        """End the patrol: queue the open segment, with the last position offered (kept or
        not: it is where the patrol ended); returns every segment's client_uuid."""
        if self.stopped:
            return self.queued
        end = min(_aware(ended_at), self._segment_start + SEGMENT_SPAN)
        if self._unkept is not None and self._unkept[3] <= end:
            self._points.append(self._unkept)  # where the patrol ended: walked, and drawn
            self._last, self._unkept = self._unkept, None
        if self._last is not None and end < self._last[3]:
            end = self._last[3]
        carried_only = (len(self._points) == 1 and self.queued
                        and self._points[0][3] == self._segment_start)
        if not (carried_only and end == self._segment_start):
            self._flush(end)
        self.stopped = True
        return self.queued
