"""A real server process over real HTTP on loopback, against the suite's test database."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from PIL import Image

from client_sync.client import SyncClient
from client_sync.testing import LiveServer
from schemas.households import HouseholdCreateSchema
from server.extensions import db
from server.services.access import access_for
from server.services.households import create_household
from tests.factories import PASSWORD, Actor, Factory
from tests.server.storage.imagegen import exif_bytes


@pytest.fixture(scope="session")
def live_server(_migrated_app: Flask, app_config: dict[str, Any],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """gunicorn serving the test database (its schema made by the in-process app).

    Its photos go to a folder of its own, so the in-process tests' media stay as they
    expect them.
    """
    instance = tmp_path_factory.mktemp("live-server")
    server = LiveServer(app_config["DATABASE_URL"], instance / "media",
                        instance_dir=instance, workers=2, threads=4)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def worker(factory: Factory, live_server: LiveServer) -> Actor:
    """A grid worker of G1 (password ``tests.factories.PASSWORD``)."""
    return factory.actor("grid_worker", grids=("G1",))


def g1_households(factory: Factory, count: int) -> list[int]:
    """``count`` households in G1's building, made by the secretary and committed: their ids."""
    access = access_for(db.session, factory.actor("secretary").user)
    building = factory.building("G1").id
    bodies = [{"building_id": building, "unit": "1", "door": str(100 + n),
               "head_name": f"住户{n}"} for n in range(count)]
    ids = [create_household(db.session, access, HouseholdCreateSchema().load(body))[0].id
           for body in bodies]
    db.session.commit()
    return ids


def make_client(server_url: str, data_dir: Path, **kwargs: Any) -> SyncClient:
    """A SyncClient with fast retries, for tests."""
    kwargs.setdefault("backoff_base", 0.02)
    kwargs.setdefault("backoff_cap", 0.2)
    kwargs.setdefault("timeout", (3.0, 20.0))
    return SyncClient(server_url, data_dir, **kwargs)


@pytest.fixture
def device(tmp_path: Path, live_server: LiveServer, worker: Actor) -> Iterator[SyncClient]:
    """The worker's phone: a SyncClient logged in to the live server."""
    client = make_client(live_server.url, tmp_path / "phone")
    client.login(worker.user.username, PASSWORD)
    yield client
    client.close()


def noisy_jpeg(path: Path, width: int = 160, height: int = 120, *, seed: int = 0,
               gps: tuple[float, float] | None = Factory.G1_CENTER,
               taken_at: datetime | None = None, offset: str | None = None) -> Path:
    """A JPEG of random pixels (it barely compresses: ~2.5 bytes a pixel) with GPS EXIF."""
    rng = random.Random(seed)
    img = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85, exif=exif_bytes(gps=gps, taken_at=taken_at, offset=offset))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out.getvalue())
    return path
