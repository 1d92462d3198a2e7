"""Bytes a grid worker's phone sends per photo, counted on the wire: a 12 MP phone JPEG as
taken against what the client sends after prepare_photo.

Makes a few 4000 x 3000 JPEGs that compress like phone photos (smooth shapes, texture and
sensor grain, quality 92, EXIF with GPS, time, camera and Orientation), and for each one
queues a report with the photo twice on a real SyncClient pushing to a real server (gunicorn
on loopback, a throwaway SQLite database) through a TCP proxy that counts every byte the
client sends: once with photo preparation off (the baseline: the original as taken, the
same client, the same tus requests) and once as the client ships (prepare_photo). Prints
both byte counts, their ratio (the goal: every scene at most 0.25), the time prepare_photo
took, whether the server read the same GPS point and capture time out of what arrived, and
what that means on a thin 2G/EDGE-like pipe, with /proc/loadavg.

Run: .venv/bin/python bench/photo_bytes.py [--seed N]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ByteCountingProxy, load_average  # noqa: E402
from client_sync.client import SyncClient  # noqa: E402
from client_sync.photos import (  # noqa: E402
    MAX_SEND_RATIO,
    prepare_photo,
    read_exif_point_and_time,
)
from client_sync.testing import LiveServer  # noqa: E402

PASSWORD = "photo bytes bench"  # noqa: S105 - a throwaway database
SIZE = (4000, 3000)
THIN_PIPE_BPS = 100_000 / 8  # 100 kbit/s, a basement with one bar
SCENES = {
    "street (busy, detailed)": (0.9, 24),
    "canal bank (mixed)": (0.5, 16),
    "stairwell (dim, noisy)": (0.2, 30),
    "wall notice (flat)": (0.1, 8),
}


def make_photo(path: Path, detail: float, grain: int, rng: random.Random) -> None:
    """Write a 12 MP JPEG that compresses roughly like a phone photo of such a scene."""
    w, h = SIZE
    base = Image.effect_noise((w // 16, h // 16), 70).resize(SIZE, Image.Resampling.BICUBIC)
    scene = Image.merge("RGB", (base, base.rotate(90, expand=False), base.transpose(0)))
    draw = ImageDraw.Draw(scene)
    for _ in range(int(400 * detail)):
        x, y = rng.randrange(w), rng.randrange(h)
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.rectangle((x, y, x + rng.randrange(8, 300), y + rng.randrange(8, 300)), fill=colour)
    scene = scene.filter(ImageFilter.GaussianBlur(1.2))
    noise = Image.effect_noise(SIZE, grain).convert("RGB")
    scene = Image.blend(scene, noise, 0.12)
    scene.save(path, "JPEG", quality=92, exif=_exif(rng).tobytes())


def _exif(rng: random.Random) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Xiaomi"
    exif[ExifTags.Base.Model] = "Redmi Note 12"
    exif[ExifTags.Base.Orientation] = rng.choice([1, 6])
    exif[ExifTags.IFD.Exif] = {
        ExifTags.Base.DateTimeOriginal: "2026:11:20 06:37:00",
        ExifTags.Base.OffsetTimeOriginal: "+08:00",
    }
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (28.0, 48.0, round(rng.uniform(0, 59), 2)),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (113.0, 4.0, round(rng.uniform(0, 59), 2)),
    }
    return exif


def seed(url: str, root: Path) -> None:
    """A community with one grid around the photos' GPS points and a grid worker."""
    from server import create_app
    from server.extensions import db
    from server.models import Community
    from server.services.auth import create_user
    from server.services.categories import list_categories
    from server.services.grids import import_grids

    app = create_app({"DATABASE_URL": url, "TESTING": True, "INSTANCE_DIR": str(root),
                      "MEDIA_DIR": str(root / "media"), "PASSWORD_HASH_CHEAP": True})
    with app.app_context():
        db.create_all()
        db.session.add(Community(code="C1", name="照片社区"))
        db.session.commit()
        ring = [[113.05, 28.79], [113.10, 28.79], [113.10, 28.83], [113.05, 28.83],
                [113.05, 28.79]]
        import_grids(db.session, "C1", {"type": "FeatureCollection", "features": [{
            "type": "Feature", "properties": {"code": "G1", "name": "一网格"},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}]})
        create_user(db.session, "worker", PASSWORD, "grid_worker", grid_codes=("G1",))
        list_categories(db.session)  # the default report categories
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def send(proxy: ByteCountingProxy, device: Path, photo: Path, *, prepare: bool,
         ) -> dict[str, Any]:
    """Queue a report with ``photo`` and push it through the proxy; the bytes sent up."""
    point = read_exif_point_and_time(photo)
    assert point is not None
    with SyncClient(proxy.url, device, prepare_photos=prepare) as client:
        client.login("worker", PASSWORD)
        proxy.reset()  # count the report and its photo, not the login
        began = time.perf_counter()
        report = client.queue_report(category="garbage", lat=point.lat, lon=point.lon,
                                     photos=[photo], description="墙上张贴的通知")
        queued_s = time.perf_counter() - began
        result = client.push(timeout=120)
        up = proxy.up
        if result.pending or result.failed:
            raise SystemExit(f"the push did not finish: {result}")
        photo_id = client.outbox.get(report).depends_on[0]
        stored = client.transport.get_json(f"/api/v1/photos/{photo_id}")
    return {"up": up, "queued_s": queued_s, "size": stored["size_bytes"],
            "exif": stored["exif"], "point": point}


def _kept(sent: dict[str, Any]) -> str:
    """'yes' if the server read the photo's own GPS point and capture time."""
    exif, point = sent["exif"], sent["point"]
    if exif["lat"] is None or exif["lon"] is None:
        return "NO: no GPS"
    near = abs(exif["lat"] - point.lat) < 1e-6 and abs(exif["lon"] - point.lon) < 1e-6
    when = exif["taken_at"] is not None and point.taken_at is not None
    return "yes" if near and when else f"NO: {exif}"


def main() -> None:
    """Make the photos, send each both ways through the counting proxy, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20261120)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"seed {args.seed}; client: prepare_photo's defaults (2048 px, quality 85 or lower "
          f"to keep at most {MAX_SEND_RATIO} of the bytes); {load_average()}")
    print(f"{'scene':26} {'file':>10} {'wire as taken':>14} {'wire prepared':>14} "
          f"{'ratio':>6} {'prep ms':>8}  gps+time kept (as the server read them)")
    total_in = total_out = 0
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root / 'bench.db'}"
        seed(url, root)
        with LiveServer(url, root / "media", instance_dir=root / "server", workers=1) as server, \
                ByteCountingProxy(server.address) as proxy:
            for n, (scene, (detail, grain)) in enumerate(SCENES.items()):
                src = root / f"IMG_{n:04d}.jpg"
                make_photo(src, detail, grain, rng)
                taken = send(proxy, root / f"phone-raw-{n}", src, prepare=False)
                sent = send(proxy, root / f"phone-{n}", src, prepare=True)
                started = time.perf_counter()
                prepare_photo(src, root / "timed")
                prep_ms = (time.perf_counter() - started) * 1000
                ratio = sent["up"] / taken["up"]
                worst = max(worst, ratio)
                total_in, total_out = total_in + taken["up"], total_out + sent["up"]
                print(f"{scene:26} {src.stat().st_size:>10,} {taken['up']:>14,} "
                      f"{sent['up']:>14,} {ratio:>6.3f} {prep_ms:>8.0f}  {_kept(sent)}")
    print(f"{'total':26} {'':>10} {total_in:>14,} {total_out:>14,} "
          f"{total_out / total_in:>6.3f}")
    print(f"worst scene: {worst:.3f} of the bytes as taken (goal: at most {MAX_SEND_RATIO}: "
          f"{'MET' if worst <= MAX_SEND_RATIO else 'NOT MET'})")
    print(f"upload at 100 kbit/s: {total_in / THIN_PIPE_BPS:.0f} s as taken, "
          f"{total_out / THIN_PIPE_BPS:.0f} s prepared; {load_average()}")


if __name__ == "__main__":
    main()
