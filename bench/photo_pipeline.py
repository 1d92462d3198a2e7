"""How fast a 12 MP phone JPEG becomes its display image and thumb, against the naive way.

Run: .venv/bin/python bench/photo_pipeline.py [--rounds 15] [--texture 40]
     [--width 4000 --height 3000]

The photo is 4000 x 3000 with gaussian noise over colour blocks and a gradient, so it
compresses like a busy real photo (about 5 MB at quality 90), and carries orientation 6 and GPS
EXIF. The naive pipeline is what one writes first: open, decode at full size, exif_transpose,
then ``thumbnail()`` twice from the full-size image and save both. Ours is
``derive_images``: one JPEG decode at the smallest DCT scale that still covers 1600 px.
``process_photo`` adds the EXIF reading and checks the upload path needs, still one decode.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.storage import derive_images, inspect_photo, process_photo  # noqa: E402
from tests.server.storage.imagegen import make_jpeg  # noqa: E402

DISPLAY_MAX, THUMB_MAX, QUALITY = 1600, 320, 82


def naive_pipeline(path: Path) -> tuple[bytes, bytes]:
    """Full decode, transpose, two thumbnails from the full-size image, two saves."""
    with Image.open(path) as img:
        img.load()
        upright = ImageOps.exif_transpose(img)
    outputs = []
    for box in (DISPLAY_MAX, THUMB_MAX):
        copy = upright.copy()
        copy.thumbnail((box, box), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        copy.convert("RGB").save(buf, "JPEG", quality=QUALITY)
        outputs.append(buf.getvalue())
    return outputs[0], outputs[1]


def median_seconds(
    pipelines: list[tuple[str, Callable[[Path], object]]], path: Path, rounds: int
) -> dict[str, float]:
    """Median seconds per photo for each pipeline, run round-robin after one warm-up each.

    Round-robin and the median keep a busy machine (other processes, CPU frequency changes)
    from favouring whichever pipeline happened to run during a quiet spell; the order rotates
    each round so none always runs right after the naive pipeline frees its 36 MB buffers.
    """
    samples: dict[str, list[float]] = {name: [] for name, _ in pipelines}
    for _name, func in pipelines:
        func(path)
    for round_no in range(rounds):
        shift = round_no % len(pipelines)
        for name, func in pipelines[shift:] + pipelines[:shift]:
            start = time.perf_counter()
            func(path)
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, times in samples.items()}


def main(argv: list[str] | None = None) -> None:
    """Build the test photo, time each pipeline and print photos/second and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--texture", type=float, default=40, help="noise sigma; 0 = flat")
    args = parser.parse_args(argv)

    data = make_jpeg(
        args.width,
        args.height,
        texture=args.texture,
        quality=90,
        orientation=6,
        gps=(28.8012, 113.0812),
    )
    sha256 = hashlib.sha256(data).hexdigest()  # computed while receiving, in the real path
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.jpg"
        path.write_bytes(data)
        pipelines: list[tuple[str, Callable[[Path], object]]] = [
            ("naive (full decode, transpose, 2x thumbnail)", naive_pipeline),
            ("derive_images (DCT draft, one decode)", derive_images),
            ("process_photo (derive + EXIF + checks)", partial(process_photo, sha256=sha256)),
            ("inspect_photo alone (1/8-scale verify)", partial(inspect_photo, sha256=sha256)),
        ]
        print(f"photo: {args.width} x {args.height}, {len(data) / 1e6:.1f} MB JPEG; "
              f"median of {args.rounds} round-robin rounds")  # fmt: skip
        seconds = median_seconds(pipelines, path, args.rounds)
    for name, secs in seconds.items():
        print(f"  {name:<46} {1 / secs:7.2f} photos/s  {secs * 1000:7.1f} ms/photo")
    naive = seconds[pipelines[0][0]]
    print(f"ratio derive_images / naive:  {naive / seconds[pipelines[1][0]]:.2f}x")
    print(f"ratio process_photo / naive:  {naive / seconds[pipelines[2][0]]:.2f}x")


if __name__ == "__main__":
    main()
