"""A live server for the OpenRosa conformance tests, and the people and places they use."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from PIL import Image

from client_sync.testing import LiveServer
from server.extensions import db
from server.models import Household
from server.openrosa.auth import issue_collect_password
from tests.factories import Actor, Factory
from tests.openrosa.collect import CollectClient
from tests.server.storage.imagegen import exif_bytes
from tests.server.visit_support import add_household

# Small, so that two photos of a few tens of kilobytes make Collect split a submission.
ACCEPT_LENGTH = 60_000


@pytest.fixture(scope="session")
def openrosa_server(_migrated_app: Flask, app_config: dict[str, Any],
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """gunicorn serving the test database, with the in-process app's secret key (a Collect
    password minted in a test is the server's) and a small accepted submission length."""
    instance = tmp_path_factory.mktemp("openrosa-server")
    server = LiveServer(app_config["DATABASE_URL"], instance / "media", instance_dir=instance,
                        workers=1, threads=4, env={
                            "GRIDWORK_SECRET_KEY": app_config["SECRET_KEY"],
                            "GRIDWORK_OPENROSA_ACCEPT_CONTENT_LENGTH": str(ACCEPT_LENGTH),
                            "GRIDWORK_PASSWORD_HASH_CHEAP": "true",
                            "GRIDWORK_LOGIN_RATE_LIMIT": "1000 per minute"})
    server.start()
    yield server
    server.stop()


@dataclass
class Phone:
    """A worker with Collect set up: the account, its Collect password, its household."""

    actor: Actor
    password: str
    household: Household
    collect: CollectClient


def collect_for(server: LiveServer, actor: Actor, password: str, *,
                scheme: str = "digest") -> CollectClient:
    """Collect pointed at the server's /openrosa with these credentials."""
    return CollectClient(f"{server.url}/openrosa", actor.user.username, password, scheme=scheme)


@pytest.fixture
def phone(factory: Factory, openrosa_server: LiveServer) -> Phone:
    """A grid worker of G1 with a Collect password and one household in G1."""
    actor = factory.actor("grid_worker", grids=("G1",))
    password = issue_collect_password(db.session, actor.user)
    household = add_household(factory, "G1")
    db.session.commit()
    return Phone(actor, password, household, collect_for(openrosa_server, actor, password))


def jpeg(seed: int, *, size: tuple[int, int] = (120, 90),
         gps: tuple[float, float] | None = Factory.G1_CENTER) -> bytes:
    """A JPEG of random pixels (about 2.5 bytes a pixel) with EXIF GPS."""
    rng = random.Random(seed)
    width, height = size
    img = Image.frombytes("RGB", size, rng.randbytes(width * height * 3))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85, exif=exif_bytes(gps=gps))
    return out.getvalue()
