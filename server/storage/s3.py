"""Photos in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, Aliyun OSS...), through boto3.

The keys follow the local store's layout under an optional prefix::

    <prefix>original/ab/cd/<sha256>   display/ab/cd/<sha256>.jpg   thumb/ab/cd/<sha256>.jpg

Uploads still arrive in a local ``tmp/`` folder (under ``tmp_root``): a request hashes and
checks the file there, then puts it in the bucket. An object appears whole or not at all
(S3 has no partial PUT), so the atomic rename of the local store needs no counterpart, and
a PUT that answered is durable. The same bytes twice are one object, as on disk.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Literal

from .store import Kind, PhotoStore

__all__ = ["S3PhotoStore", "parse_s3_url"]

_CONTENT_TYPE = {"original": "application/octet-stream", "display": "image/jpeg",
                 "thumb": "image/jpeg"}


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → (bucket, ``some/prefix/``); the prefix may be empty."""
    if not url.startswith("s3://"):
        raise ValueError(f"not an s3:// URL: {url!r}")
    bucket, _, prefix = url[5:].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {url!r}")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


class S3PhotoStore(PhotoStore):
    """Originals, display images and thumbs as objects of one bucket, addressed by sha256.

    ``client`` is a boto3 S3 client (its endpoint, region and credentials are the
    deployer's: ``GRIDWORK_S3_ENDPOINT_URL`` and the usual ``AWS_*`` variables).
    """

    def __init__(self, client: Any, bucket: str, prefix: str, tmp_root: Path | str) -> None:
        super().__init__(tmp_root)
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def key(self, kind: Kind, sha256: str) -> str:
        """The object key of one stored file."""
        relative = self.path(kind, sha256).relative_to(self.root)
        return self.prefix + relative.as_posix()

    def exists(self, kind: Kind, sha256: str) -> bool:
        """Whether that object is stored (one HEAD request)."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(kind, sha256))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def open(self, kind: Kind, sha256: str) -> BinaryIO | None:
        """The object's body as a stream, or None if it is not stored."""
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key(kind, sha256))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        body: BinaryIO = answer["Body"]
        return body

    def put_blob(self, name: str, data: bytes) -> None:
        """Write a file made by a job (an export) as the object ``<prefix>blobs/NAME``."""
        key = self.prefix + self._blob_path(name).relative_to(self.root).as_posix()
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data,
                               ContentType="application/octet-stream")

    def open_blob(self, name: str) -> BinaryIO | None:
        """A file ``put_blob`` wrote, as a stream, or None."""
        from botocore.exceptions import ClientError

        key = self.prefix + self._blob_path(name).relative_to(self.root).as_posix()
        try:
            body: BinaryIO = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return body

    @contextmanager
    def original_file(self, sha256: str) -> Iterator[Path]:
        """The original downloaded into the local tmp folder, deleted after the block."""
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix="s3-", suffix=".orig")
        path = Path(name)
        try:
            with open(fd, "wb") as out:
                self.client.download_fileobj(self.bucket, self.key("original", sha256), out)
            yield path
        finally:
            path.unlink(missing_ok=True)

    def put_original(self, src: Path, sha256: str) -> Path:
        """Upload ``src`` as the original of ``sha256`` (unless stored), then drop ``src``."""
        key = self.key("original", sha256)
        if not self.exists("original", sha256):
            self.client.upload_file(str(src), self.bucket, key,
                                    ExtraArgs={"ContentType": _CONTENT_TYPE["original"]})
        src.unlink(missing_ok=True)
        return Path(key)

    def put_derived(self, kind: Literal["display", "thumb"], sha256: str, data: bytes) -> Path:
        """Write a display image or thumb (replacing any older one)."""
        if kind not in ("display", "thumb"):
            raise ValueError(f"not a derived kind: {kind!r}")
        key = self.key(kind, sha256)
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data,
                               ContentType=_CONTENT_TYPE[kind])
        return Path(key)

    def delete(self, sha256: str) -> None:
        """Remove the original and its derived images; missing objects are fine."""
        kinds: tuple[Kind, ...] = ("original", "display", "thumb")
        self.client.delete_objects(Bucket=self.bucket, Delete={
            "Objects": [{"Key": self.key(kind, sha256)} for kind in kinds], "Quiet": True})

    def iter_originals(self) -> Iterator[str]:
        """Yield the sha256 of every stored original, in key order."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}original/")
        for page in pages:
            for item in page.get("Contents", ()):
                name = item["Key"].rsplit("/", 1)[-1]
                if len(name) == 64:
                    yield name
