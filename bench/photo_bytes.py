"""Bytes a grid worker sends per photo: a 12 MP phone JPEG against what prepare_photo keeps.

Makes a few 4000 x 3000 JPEGs that compress like phone photos (smooth shapes, texture and
sensor grain, quality 92, EXIF with GPS, time, camera and Orientation), runs prepare_photo
on each and prints original bytes, bytes to send, the ratio, the time taken, whether the
GPS point and capture time survived, and what that means on a thin 2G/EDGE-like pipe.

Run: .venv/bin/python bench/photo_bytes.py [--seed N] [--max-side 2048] [--quality 85]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from PIL import ExifTags, Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from client_sync.photos import prepare_photo, read_exif_point_and_time  # noqa: E402

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


def main() -> None:
    """Make the photos, prepare each and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20261120)
    parser.add_argument("--max-side", type=int, default=2048)
    parser.add_argument("--quality", type=int, default=85)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"seed {args.seed}, max side {args.max_side} px, JPEG quality {args.quality}")
    print(f"{'scene':26} {'original':>10} {'sent':>10} {'ratio':>6} {'ms':>6}  gps+time kept")
    total_in = total_out = 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for n, (scene, (detail, grain)) in enumerate(SCENES.items()):
            src = folder / f"IMG_{n:04d}.jpg"
            make_photo(src, detail, grain, rng)
            before = read_exif_point_and_time(src)
            start = time.perf_counter()
            prepared = prepare_photo(
                src, folder / "out", max_side=args.max_side, quality=args.quality
            )
            ms = (time.perf_counter() - start) * 1000
            after = read_exif_point_and_time(prepared.path)
            original = src.stat().st_size
            total_in, total_out = total_in + original, total_out + prepared.size
            kept = "yes" if before == after and after is not None else f"NO ({after})"
            print(
                f"{scene:26} {original:>10,} {prepared.size:>10,} "
                f"{original / prepared.size:>5.1f}x {ms:>6.0f}  {kept}"
            )
    print(f"{'total':26} {total_in:>10,} {total_out:>10,} {total_in / total_out:>5.1f}x")
    print(
        f"upload at 100 kbit/s: {total_in / THIN_PIPE_BPS:.0f} s as taken, "
        f"{total_out / THIN_PIPE_BPS:.0f} s prepared"
    )


if __name__ == "__main__":
    main()
