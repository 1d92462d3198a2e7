"""Which photo store the settings name: the local folder, or an S3-compatible bucket."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .store import PhotoStore

__all__ = ["open_store"]


def open_store(config: Mapping[str, Any]) -> PhotoStore:
    """``PHOTO_STORE`` unset or ``local``: the folder ``MEDIA_DIR``. ``s3://bucket/prefix``:
    that bucket, at ``S3_ENDPOINT_URL`` (any S3-compatible server) in ``S3_REGION``, with the
    credentials boto3 finds (``AWS_ACCESS_KEY_ID``...); uploads arrive in ``MEDIA_DIR/tmp``."""
    url = str(config.get("PHOTO_STORE") or "")
    if not url or url == "local":
        return PhotoStore(Path(config["MEDIA_DIR"]))
    return _s3_store(url, config.get("S3_ENDPOINT_URL") or None,
                     config.get("S3_REGION") or None, str(config["MEDIA_DIR"]))


@functools.cache
def _s3_store(url: str, endpoint: str | None, region: str | None, media: str) -> PhotoStore:
    """One client per store and process (a boto3 client is thread-safe, and slow to make)."""
    import boto3

    from .s3 import S3PhotoStore, parse_s3_url

    bucket, prefix = parse_s3_url(url)
    client = boto3.client("s3", endpoint_url=endpoint, region_name=region)
    return S3PhotoStore(client, bucket, prefix, media)
