"""client_sync: the offline outbox that pushes every submission to Gridwork exactly once.

Phase 1 holds the parts that need no server: the durable outbox (``Outbox``), retry timing
(``next_delay``, ``retry_after_seconds``), photo preparation (``prepare_photo``) and the
exception hierarchy rooted at ``SyncError``. ``SyncClient`` joins them in phase 2.
"""

from __future__ import annotations

from client_sync.backoff import next_delay, retry_after_seconds
from client_sync.exceptions import (
    AuthRequired,
    ConnectionFailed,
    DependencyMissing,
    LockedError,
    RecordRejected,
    ServerUnavailable,
    SyncError,
    TransientError,
    ValidationError,
)
from client_sync.photos import (
    ExifPoint,
    PhotoStore,
    PreparedPhoto,
    prepare_photo,
    read_exif_point_and_time,
)
from client_sync.queue import KINDS, STATES, Item, Outbox

__all__ = [
    # the outbox
    "KINDS",
    "STATES",
    "Item",
    "Outbox",
    # retry timing
    "next_delay",
    "retry_after_seconds",
    # photos
    "ExifPoint",
    "PhotoStore",
    "PreparedPhoto",
    "prepare_photo",
    "read_exif_point_and_time",
    # errors
    "AuthRequired",
    "ConnectionFailed",
    "DependencyMissing",
    "LockedError",
    "RecordRejected",
    "ServerUnavailable",
    "SyncError",
    "TransientError",
    "ValidationError",
]
