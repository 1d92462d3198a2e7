"""client_sync: the offline outbox that pushes every submission to Gridwork exactly once.

``SyncClient`` is the public face: capture (``queue_report``, ``queue_visit``,
``queue_household``, ``queue_track`` and ``start_patrol`` for a patrol track) into the
durable ``Outbox``, ``sync()``/``push()`` to send, ``pull()``
into the ``LocalCache`` for offline lookups, ``run()`` as a background loop. Underneath:
``Transport`` (one HTTP session), ``TusUploader`` (resumable photos), retry timing
(``next_delay``, ``retry_after_seconds``), photo preparation (``prepare_photo``) and the
exception hierarchy rooted at ``SyncError``. ``client_sync.testing`` has a live server and
a faulty network for tests; ``gridsync`` (``client_sync.cli``) is the command line.
"""

from __future__ import annotations

from client_sync.backoff import next_delay, retry_after_seconds
from client_sync.cache import AgendaItem, LocalCache
from client_sync.client import Status, SyncClient, SyncResult
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
from client_sync.patrol import Patrol
from client_sync.photos import (
    ExifPoint,
    PhotoStore,
    PreparedPhoto,
    prepare_photo,
    read_exif_point_and_time,
)
from client_sync.queue import KINDS, STATES, Item, Outbox
from client_sync.transport import Transport
from client_sync.tus import TusUploader

__all__ = [
    # the client
    "AgendaItem",
    "LocalCache",
    "Patrol",
    "Status",
    "SyncClient",
    "SyncResult",
    "Transport",
    "TusUploader",
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
