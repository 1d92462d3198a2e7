"""The field app in Debian's Chromium on a phone profile, against a real server process.

One gunicorn server (``client_sync.testing.LiveServer``) and one browser for the session; each
test gets a fresh browser context (its own IndexedDB, caches and service worker) shaped like
a phone: 390×844, touch, zh-CN, Asia/Shanghai, geolocation granted and set in grid G1.
"""

from __future__ import annotations

import base64
import io
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image, ImageFilter

from client_sync.testing import LiveServer
from server.extensions import db
from server.services.categories import ensure_default_categories
from tests.factories import PASSWORD, Actor, Factory
from tests.server.storage.imagegen import exif_bytes
from tests.web.conftest import PageWatch, chromium_path  # noqa: F401 - fixtures

__all__ = ["FieldWorld", "FieldWatch", "real_jpeg", "open_app", "login", "wait_synced",
           "phone_options", "idb_blobs", "jpeg_files", "watched"]

G1_HERE = (28.8021, 113.0741)


@pytest.fixture(scope="session")
def live_server(_migrated_app: Flask, app_config: dict[str, Any],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """gunicorn serving the test database, shared by every field app test."""
    instance = tmp_path_factory.mktemp("field-server")
    # The in-process app's secret: the households it writes are encrypted with a key
    # derived from it, and the server must read them.
    server = LiveServer(app_config["DATABASE_URL"], instance / "media", instance_dir=instance,
                        workers=2, threads=4,
                        env={"GRIDWORK_SECRET_KEY": app_config["SECRET_KEY"]})
    server.start()
    yield server
    server.stop()


@dataclass
class FieldWorld:
    """Grid G1's worker, the secretary, and the households of G1 (and one of G2)."""

    worker: Actor
    secretary: Actor
    households: list[int] = field(default_factory=list)
    password: str = PASSWORD


def _household(client: FlaskClient, actor: Actor, index: int, *, grid_east: bool = False,
               tags: list[str] | None = None) -> int:
    lat = 28.8005 + 0.0003 * (index // 6)
    lon = (113.0790 if grid_east else 113.0705) + 0.0010 * (index % 6)
    body = {"client_uuid": str(uuid.uuid4()), "unit": "1", "door": f"{101 + index}",
            "head_name": f"户主{index}", "phone": "13812345678", "members": 2,
            "tags": tags or [], "location": {"lat": lat, "lon": lon, "accuracy_m": 5}}
    answer = client.post("/api/v1/households", json=body, headers=actor.headers)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return int(answer.get_json()["id"])


@pytest.fixture
def field_world(app: Flask, client: FlaskClient, factory: Factory,
                live_server: LiveServer) -> FieldWorld:
    """Community C1: worker ``zhou`` of G1 with 22 households, secretary ``shuji``."""
    factory.world()
    ensure_default_categories(db.session)
    db.session.commit()
    world = FieldWorld(worker=factory.actor("grid_worker", grids=("G1",), username="zhou"),
                       secretary=factory.actor("secretary", username="shuji"))
    world.worker.user.display_name = "周网格员"
    db.session.commit()
    tags = {0: ["yellow_ribbon"], 1: ["elderly_alone"]}
    world.households = [_household(client, world.worker, i, tags=tags.get(i))
                        for i in range(22)]
    return world


def phone_options(base_url: str, **extra: Any) -> dict[str, Any]:
    """A phone: 390×844, touch, zh-CN, Asia/Shanghai, geolocation granted and set in G1."""
    options = {"base_url": base_url, "viewport": {"width": 390, "height": 844},
               "is_mobile": True, "has_touch": True, "locale": "zh-CN",
               "timezone_id": "Asia/Shanghai", "permissions": ["geolocation"],
               "geolocation": {"latitude": G1_HERE[0], "longitude": G1_HERE[1],
                               "accuracy": 8}}
    options.update(extra)
    return options


@pytest.fixture
def phone(browser: Any, live_server: LiveServer,
          watch: PageWatch) -> Iterator[Any]:
    """A fresh phone context (no service worker: the tests that need one make their own)."""
    context = browser.new_context(**phone_options(live_server.url, service_workers="block"))
    context.set_default_timeout(20_000)
    yield context
    context.close()
    assert not watch.problems, "\n".join(watch.problems)


class FieldWatch(PageWatch):
    """PageWatch that may expect dropped connections (a test that cuts them on purpose)."""

    expect_cuts = False

    def on_console(self, message: Any) -> None:
        if self.expect_cuts and "Failed to load resource: net::ERR_" in message.text:
            return
        super().on_console(message)


@pytest.fixture
def watch() -> FieldWatch:
    """The problems seen on this test's pages."""
    return FieldWatch()


def watched(context: Any, watch: PageWatch) -> Any:
    """A new page of ``context`` whose console errors and error answers fail the test."""
    page = context.new_page()
    page.on("console", watch.on_console)
    page.on("response", watch.on_response)
    page.on("pageerror", watch.on_error)
    return page


def open_app(context: Any, watch: PageWatch, hash_: str = "") -> Any:
    """Open /field/ (at ``hash_``) and wait until the app has drawn its first screen."""
    page = watched(context, watch)
    page.goto(f"/field/{hash_}")
    page.wait_for_selector("body[data-booted]", state="attached")
    return page


def login(page: Any, username: str, password: str = PASSWORD) -> None:
    """Log in through the app's form and wait for the agenda with its first pull."""
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("body[data-pulled]", state="attached")
    page.wait_for_selector('body[data-view="agenda"] #agenda')


def wait_synced(page: Any, timeout_s: float = 60) -> None:
    """Wait until nothing waits in the outbox (pressing 'send now' as a worker would)."""
    page.goto("/field/#/outbox")
    deadline = datetime.now().timestamp() + timeout_s
    while page.get_attribute("body", "data-waiting") != "0":
        assert datetime.now().timestamp() < deadline, page.inner_text("#view")
        if page.is_visible("#send-now"):
            page.click("#send-now")
        page.wait_for_timeout(500)


def real_jpeg(seed: int, width: int = 4000, height: int = 3000, *, quality: int = 92,
              gps: tuple[float, float] | None = G1_HERE, grain: float = 0.12) -> bytes:
    """A camera-like JPEG: smooth shapes and fine grain (not noise, which no camera makes),
    with EXIF time and GPS as a phone writes them."""
    rng = random.Random(seed)
    small = Image.new("RGB", (64, 48))
    small.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256))
                   for _ in range(64 * 48)])
    image = small.resize((width, height), Image.Resampling.BICUBIC)
    noise = Image.effect_noise((width, height), 18).convert("RGB")
    image = Image.blend(image, noise, grain).filter(ImageFilter.SMOOTH)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality,
               exif=exif_bytes(gps=gps, taken_at=datetime.now().replace(microsecond=0)))
    return out.getvalue()


def idb_blobs(page: Any) -> dict[str, bytes]:
    """The photo bytes the app keeps in IndexedDB to upload, by client_uuid."""
    found = page.evaluate("""async () => {
        const db = await new Promise((ok, ko) => { const r = indexedDB.open('gridwork-field');
            r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });
        const tx = db.transaction('blobs');
        const keys = await new Promise((ok) => { const r = tx.objectStore('blobs').getAllKeys();
            r.onsuccess = () => ok(r.result); });
        const out = {};
        for (const key of keys) {
            const blob = await new Promise((ok) => { const r = db.transaction('blobs')
                .objectStore('blobs').get(key); r.onsuccess = () => ok(r.result); });
            const bytes = new Uint8Array(await blob.arrayBuffer());
            let text = ''; for (let i = 0; i < bytes.length; i += 8192)
                text += String.fromCharCode(...bytes.subarray(i, i + 8192));
            out[key] = btoa(text);
        }
        db.close();
        return out;
    }""")
    return {key: base64.b64decode(value) for key, value in found.items()}


def jpeg_files(tmp_path: Path, count: int, **kwargs: Any) -> list[Path]:
    """``count`` camera-like JPEG files on disk, for the file input."""
    paths = []
    for seed in range(count):
        path = tmp_path / f"IMG_{seed:04d}.jpg"
        path.write_bytes(real_jpeg(seed, **kwargs))
        paths.append(path)
    return paths
