"""Resumable photo upload over tus 1.0.0 (creation, checksum), resuming from the server's offset.

The outbox keeps each photo's upload URL and the last offset the server confirmed. A new
attempt asks the server (``HEAD``) where it stands and sends from there, so a dropped
connection or a killed app costs at most the chunk that was on the wire. Each chunk carries
``Upload-Checksum: sha1 ...``: a chunk cut short or damaged on the way is refused whole, so
the server's offset always ends on bytes it has verified.

Our own small client rather than tuspy: tuspy keeps its resume state in its own file store
and cannot report the offset after every chunk to our outbox inside our transport (timeouts,
auth, problem+json mapping, no transport retries of PATCH).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import mimetypes
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from client_sync.exceptions import ConnectionFailed, RecordRejected, SyncError
from client_sync.queue import Item, Outbox
from client_sync.transport import Transport, parse_problem

__all__ = ["DEFAULT_CHUNK_SIZE", "TUS_VERSION", "TusUploader", "UploadGone", "UploadStopped",
           "encode_metadata"]

log = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
DEFAULT_CHUNK_SIZE = 512 * 1024
UPLOADS_PATH = "/api/v1/uploads/"
# A server that keeps answering "offset mismatch" is not converging; let the outbox back off.
_MAX_RESYNCS = 3

EventHook = Callable[..., None]


class UploadStopped(Exception):  # noqa: N818 - a signal, not an error
    """A stop was asked for between two chunks; the confirmed offset is saved."""


class UploadGone(ConnectionFailed):
    """The server no longer has the upload (404/410 to a PATCH): retry with a new one."""


def encode_metadata(values: dict[str, str]) -> str:
    """The ``Upload-Metadata`` header: ``key base64(value)`` pairs joined by commas."""
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}"
                    for key, value in values.items() if value is not None)


class TusUploader:
    """Uploads outbox photos with tus, keeping URL and offset in the outbox after every chunk."""

    def __init__(self, transport: Transport, outbox: Outbox, *,
                 chunk_size: int = DEFAULT_CHUNK_SIZE, endpoint: str = UPLOADS_PATH,
                 on_event: EventHook | None = None,
                 should_stop: Callable[[], bool] | None = None) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self.transport, self.outbox = transport, outbox
        self.chunk_size, self.endpoint = chunk_size, endpoint
        self._emit = on_event or (lambda *_a, **_k: None)
        self.should_stop = should_stop or (lambda: False)

    def upload(self, item: Item) -> str:
        """Send the photo of an in_flight outbox item; return the server's photo id.

        Raises SyncError (ConnectionFailed, ServerUnavailable, AuthRequired, RecordRejected)
        with the confirmed offset already saved, so the next attempt resumes.
        """
        if item.photo_path is None or item.file_size is None:
            raise ValueError(f"{item.client_uuid} is not a photo")
        url, offset = item.upload_url, item.upload_offset
        if url:
            state = self._head(url)
            if state is None:
                log.info("upload of %s is gone on the server; starting again", item.client_uuid)
                url, offset = None, 0
                self.outbox.set_upload(item.client_uuid, None, 0)
            else:
                offset, photo_id = state
                self._emit("photo_resume", client_uuid=item.client_uuid, offset=offset)
                if photo_id:
                    return photo_id
                self.outbox.set_upload(item.client_uuid, url, offset)
        if not url:
            url = self._create(item)
            offset = 0
            self.outbox.set_upload(item.client_uuid, url, 0)
        try:
            return self._send(item, url, offset)
        except UploadGone:
            self.outbox.set_upload(item.client_uuid, None, 0)
            raise

    # -- protocol steps ------------------------------------------------------------------

    def _headers(self, **extra: str) -> dict[str, str]:
        return {"Tus-Resumable": TUS_VERSION, **extra}

    def _create(self, item: Item) -> str:
        """POST a new upload; answer its URL as a path on this server."""
        payload = item.payload
        filename = str(payload.get("filename") or f"{item.client_uuid}.jpg")
        ctype = str(payload.get("content_type") or mimetypes.guess_type(filename)[0]
                    or "application/octet-stream")
        meta = encode_metadata({"filename": filename, "content_type": ctype,
                                "client_uuid": item.client_uuid})
        response = self.transport.request(
            "POST", self.endpoint, data=b"",
            headers=self._headers(**{"Upload-Length": str(item.file_size),
                                     "Upload-Metadata": meta}))
        location = response.headers.get("Location")
        if not location:
            raise SyncError("the upload server answered without a Location", response=response)
        return _as_path(urljoin(self.transport.url(self.endpoint), location),
                        self.transport.base_url)

    def _head(self, url: str) -> tuple[int, str | None] | None:
        """The server's (offset, photo id) for an upload, or None if it no longer has it."""
        response = self.transport.request("HEAD", url, headers=self._headers(),
                                          ok=(404, 410))
        if response.status_code in (404, 410):
            return None
        return _offset(response), response.headers.get("Photo-Id") or None

    def _send(self, item: Item, url: str, offset: int) -> str:
        """PATCH chunks from ``offset`` to the end; answer the photo id of the last one."""
        size, resyncs = int(item.file_size or 0), 0
        assert item.photo_path is not None
        with item.photo_path.open("rb") as source:
            while True:
                if self.should_stop():
                    raise UploadStopped(item.client_uuid)
                source.seek(offset)
                chunk = source.read(self.chunk_size)
                self._emit("photo_chunk", client_uuid=item.client_uuid, offset=offset,
                           length=len(chunk), size=size)
                response = self._patch(url, offset, chunk)
                if response.status_code == 409:
                    resyncs += 1
                    offset, photo_id = self._resync(url, offset, response, resyncs)
                else:
                    offset = _offset(response)
                    photo_id = response.headers.get("Photo-Id") or None
                self.outbox.set_upload(item.client_uuid, url, min(offset, size))
                if photo_id:
                    return photo_id
                if offset >= size:
                    return self._finished_id(url)

    def _patch(self, url: str, offset: int, chunk: bytes) -> requests.Response:
        digest = base64.b64encode(hashlib.sha1(chunk, usedforsecurity=False).digest()).decode()
        headers = self._headers(**{"Upload-Offset": str(offset),
                                   "Content-Type": "application/offset+octet-stream",
                                   "Upload-Checksum": f"sha1 {digest}"})
        try:
            return self.transport.request("PATCH", url, data=chunk, headers=headers,
                                          ok=(409,))
        except SyncError as exc:
            if exc.status == 460:  # checksum mismatch: the chunk was damaged on the way
                raise ConnectionFailed("the chunk arrived damaged", response=exc.response,
                                       problem=exc.problem) from exc
            if exc.status in (404, 410):
                # The server lost or expired the upload: the next attempt starts a new one.
                raise UploadGone("the upload is gone on the server; starting again",
                                 response=exc.response, problem=exc.problem) from exc
            raise

    def _resync(self, url: str, offset: int, response: requests.Response,
                resyncs: int) -> tuple[int, str | None]:
        """After a 409: the server's (offset, photo id) if it moved, else a real conflict."""
        state = self._head(url)
        if state is None:
            raise ConnectionFailed("the upload vanished on the server; it starts again")
        if state[1]:
            return state
        if state[0] == offset:
            # The offset agrees, so the 409 is about the photo (same client_uuid, other bytes).
            raise RecordRejected(response=response, problem=_problem(response))
        if resyncs > _MAX_RESYNCS:
            raise ConnectionFailed("the upload offset keeps moving; trying again later")
        log.info("upload offset resynced from %d to %d", offset, state[0])
        return state

    def _finished_id(self, url: str) -> str:
        """The Photo-Id of a complete upload, asked with HEAD (a lost last answer)."""
        state = self._head(url)
        if state is None or not state[1]:
            raise SyncError("the upload is complete but the server gave no Photo-Id")
        return state[1]


def _offset(response: requests.Response) -> int:
    value = response.headers.get("Upload-Offset")
    if value is None or not value.isdigit():
        raise SyncError("the upload server answered without a valid Upload-Offset",
                        response=response)
    return int(value)


def _as_path(url: str, base_url: str) -> str:
    """Keep same-origin upload URLs relative to the base, so a new server address resumes."""
    split, base = urlsplit(url), urlsplit(base_url)
    prefix = base.path.rstrip("/")
    if (split.scheme, split.netloc) != (base.scheme, base.netloc):
        return url
    path = split.path[len(prefix):] if prefix and split.path.startswith(prefix + "/") \
        else split.path
    return path + (f"?{split.query}" if split.query else "")


def _problem(response: requests.Response) -> dict[str, Any]:
    return parse_problem(response) or {"status": response.status_code,
                                       "title": "Upload conflict"}
