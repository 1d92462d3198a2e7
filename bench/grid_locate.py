"""How fast GridIndex finds the grid of a point, for a city of 2,000 grids.

Run: .venv/bin/python bench/grid_locate.py [--points 100000] [--naive-points 2000]

The grids tile a 40 x 50 lattice of irregular quadrilaterals (shared, jittered corners, so
no gaps and no overlaps) over about 11 x 12 km around 28.80N 113.08E. Points fall uniformly
over a box 5% larger than the city, so some miss every grid. The baseline is what one writes
without an index: try every polygon in turn with an unprepared ``contains``.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence

from shapely.geometry import Point, Polygon

from server.geo import GridIndex

ROWS, COLS = 40, 50
SOUTH, NORTH = 28.75, 28.85
WEST, EAST = 113.02, 113.14
JITTER = 0.3  # of a cell, so every quadrilateral stays simple


def city_grids(edge_points: int = 0, seed: int = 20260926) -> list[tuple[int, Polygon]]:
    """Return ROWS x COLS irregular quadrilaterals that tile the city without gaps.

    ``edge_points`` bends every side through that many extra jittered vertices, shared
    with the neighbour, so a grid looks more like one bounded by real roads.
    """
    rng = random.Random(seed)
    dlat, dlon = (NORTH - SOUTH) / ROWS, (EAST - WEST) / COLS
    corners = [
        [
            (
                WEST + j * dlon + (rng.uniform(-JITTER, JITTER) * dlon if 0 < j < COLS else 0),
                SOUTH + i * dlat + (rng.uniform(-JITTER, JITTER) * dlat if 0 < i < ROWS else 0),
            )
            for j in range(COLS + 1)
        ]
        for i in range(ROWS + 1)
    ]

    def side(
        a: tuple[float, float], b: tuple[float, float], *, east: bool
    ) -> list[tuple[float, float]]:
        # Wiggle across the side only, by 1% of a cell: the side stays a simple path and
        # cannot cross its neighbours.
        steps = edge_points + 1
        points = [a]
        for k in range(1, steps):
            lon = a[0] + (b[0] - a[0]) * k / steps
            lat = a[1] + (b[1] - a[1]) * k / steps
            if east:
                lat += rng.uniform(-0.01, 0.01) * dlat
            else:
                lon += rng.uniform(-0.01, 0.01) * dlon
            points.append((lon, lat))
        return points

    across = [
        [side(corners[i][j], corners[i][j + 1], east=True) for j in range(COLS)]
        for i in range(ROWS + 1)
    ]
    up = [
        [side(corners[i][j], corners[i + 1][j], east=False) for j in range(COLS + 1)]
        for i in range(ROWS)
    ]

    def cell(i: int, j: int) -> Polygon:
        north = across[i + 1][j] + [corners[i + 1][j + 1]]
        west = up[i][j] + [corners[i + 1][j]]
        ring = across[i][j] + up[i][j + 1] + north[::-1][:-1] + west[::-1][:-1]
        return Polygon(ring)

    return [(i * COLS + j + 1, cell(i, j)) for i in range(ROWS) for j in range(COLS)]


def random_points(count: int, seed: int = 7) -> list[tuple[float, float]]:
    """Return ``count`` (lat, lon) points spread over the city and a margin around it."""
    rng = random.Random(seed)
    mlat, mlon = (NORTH - SOUTH) * 0.05, (EAST - WEST) * 0.05
    return [
        (rng.uniform(SOUTH - mlat, NORTH + mlat), rng.uniform(WEST - mlon, EAST + mlon))
        for _ in range(count)
    ]


def naive_locate(grids: Sequence[tuple[int, Polygon]], lat: float, lon: float) -> int | None:
    """Try every grid in id order; what the code looks like without an index."""
    point = Point(lon, lat)
    for grid_id, polygon in grids:
        if polygon.contains(point):
            return grid_id
    return None


def timed(label: str, count: int, run: Callable[[], object]) -> tuple[float, object]:
    """Run once, print locates per second, and return (rate, result)."""
    start = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - start
    rate = count / elapsed
    print(f"{label:<40} {count:>8,} points {elapsed:8.3f} s {rate:>12,.0f} locates/s")
    return rate, result


def run(edge_points: int, points: list[tuple[float, float]], naive_points: int) -> None:
    """Time the three ways of locating over one city, check they agree, print the figures."""
    grids = city_grids(edge_points)
    start = time.perf_counter()
    index = GridIndex(grids)
    built = time.perf_counter() - start
    # Separate polygon objects: GridIndex prepares its own in place, the baseline must not.
    naive_grids = city_grids(edge_points)
    vertices = len(naive_grids[0][1].exterior.coords) - 1
    print(f"\n{len(index):,} grids of {vertices} vertices each; index built in {built:.3f} s")
    sample = points[:naive_points]

    single_rate, singles = timed(
        "GridIndex.locate, one call per point",
        len(points),
        lambda: [index.locate(lat, lon) for lat, lon in points],
    )
    many_rate, many = timed(
        "GridIndex.locate_many, one call", len(points), lambda: index.locate_many(points)
    )
    naive_rate, naive = timed(
        f"naive loop over {len(naive_grids):,} polygons",
        len(sample),
        lambda: [naive_locate(naive_grids, lat, lon) for lat, lon in sample],
    )
    if singles != many or singles[: len(sample)] != naive:
        raise SystemExit("the three ways disagree: a bug, not a benchmark")
    hits = sum(grid_id is not None for grid_id in many)
    print(f"{hits:,} of {len(points):,} points fell in a grid, {len(points) - hits:,} outside")
    print(f"locate vs naive {single_rate / naive_rate:,.0f}x; ", end="")
    print(f"locate_many vs naive {many_rate / naive_rate:,.0f}x; ", end="")
    print(f"locate_many vs locate {many_rate / single_rate:.1f}x")


def main() -> None:
    """Run the benchmark for plain quadrilaterals and for road-like 100-vertex grids."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--naive-points", type=int, default=2_000)
    parser.add_argument(
        "--edge-points",
        type=int,
        nargs="+",
        default=[0, 24],
        help="extra vertices on each side of a grid, one run per value (default: 0 24)",
    )
    args = parser.parse_args()
    points = random_points(args.points)
    for edge_points in args.edge_points:
        run(edge_points, points, args.naive_points)


if __name__ == "__main__":
    main()
