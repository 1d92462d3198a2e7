"""Costs as the city grows: 10,000, 100,000 and 1,000,000 households side by side (issue 16).

Run: .venv/bin/python bench/scale.py [--url postgresql://postgres@127.0.0.1:5432/test]
     [--sizes 10000,100000,1000000] [--rounds 8] [--batch 20]

Each size is a city of its own in a database kept between runs (bench/scale_data.py builds
it with generate_series the first time: a few minutes for a million households and three
million visits), migrated to head. The app answers in-process (Flask's test client, the
whole request: auth, scopes, SQL, JSON), and every round asks every size every question in
turn, so the sizes share the machine's noise. Printed per question: p50 and p95 over the
rounds, and the 1M ÷ 10k ratios; ``/health`` is the baseline. Goals: every ratio ≤ 1.5,
map questions p95 < 150 ms at 1M, the community-month coverage < 100 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from bench.scale_data import (  # noqa: E402
    COMMUNITY_DEG,
    HOUSEHOLDS_PER_COMMUNITY,
    community_origin,
    ensure_database,
)
from server import create_app  # noqa: E402
from server.extensions import db  # noqa: E402
from server.models import User  # noqa: E402
from server.services.auth import issue_token  # noqa: E402

VIEW_PX = (1280, 800)  # the secretary's desktop map


def _app(url: str) -> Any:
    return create_app({"DATABASE_URL": url, "SECRET_KEY": "scale-bench",
                       "INSTANCE_DIR": "/tmp/gridwork-scale", "RATELIMIT_ENABLED": False,
                       "WEBHOOKS_ASYNC": False})


def build_schema(url: str) -> None:
    """The migrations, as a deployment runs them."""
    from flask_migrate import upgrade

    app = _app(url)
    with app.app_context():
        upgrade()
        db.engine.dispose()


def finish(url: str) -> None:
    """What the write path keeps current, built once after the bulk rows."""
    from server.services import map_cells

    app = _app(url)
    with app.app_context():
        map_cells.rebuild(db.session, datetime.now(UTC), app.config["TIMEZONE"])
        db.session.commit()
        db.engine.dispose()


def bbox(center: tuple[float, float], zoom: int) -> str:
    """The box a VIEW_PX map shows at ``zoom`` around ``center`` (web mercator, roughly)."""
    import math

    deg_per_px = 360 / (256 * 2 ** zoom)
    half_w = VIEW_PX[0] / 2 * deg_per_px
    half_h = VIEW_PX[1] / 2 * deg_per_px * math.cos(math.radians(center[0]))
    lat, lon = center
    return f"{lat - half_h:.6f},{lon - half_w:.6f},{lat + half_h:.6f},{lon + half_w:.6f}"


class City:
    """One size: its app, a client and the people who ask."""

    def __init__(self, households: int, url: str) -> None:
        self.households = households
        self.app = _app(url)
        self.client = self.app.test_client()
        with self.app.app_context():
            self.tokens = {name: self._token(username) for name, username in (
                ("city", "city"), ("secretary", "sec1"), ("worker", "wS0001-G0"))}
        communities = max(1, households // HOUSEHOLDS_PER_COMMUNITY)
        south, west = community_origin(0, communities)
        self.center = (south + COMMUNITY_DEG[0] / 2, west + COMMUNITY_DEG[1] / 2)
        self.door = (south + 0.0008, west + 0.0008)  # the worker's first building

    def _token(self, username: str) -> str:
        from sqlalchemy import select

        user = db.session.scalar(select(User).where(User.username == username))
        token, _row = issue_token(db.session, user, ttl_hours=12)
        db.session.commit()
        return token

    def get(self, who: str, path: str, **params: Any) -> float:
        """Milliseconds for one GET; raises unless it answered 200."""
        query = f"?{urlencode(params)}" if params else ""
        began = time.perf_counter()
        answer = self.client.get(f"/api/v1{path}{query}", headers={
            "Authorization": f"Bearer {self.tokens[who]}"})
        spent = (time.perf_counter() - began) * 1000
        if answer.status_code != 200:
            body = answer.get_data(as_text=True)[:300]
            raise RuntimeError(f"{path}: {answer.status_code} {body}")
        return spent

    def batch(self, size: int) -> float:
        """Milliseconds per visit of one sync batch of ``size`` visits by the worker."""
        now = datetime.now(UTC)
        records = [{"kind": "visit", "client_uuid": str(uuid.uuid4()), "body": {
            "household_id": 1 + (n * 37) % 800, "outcome": "met" if n % 4 else "not_home",
            "visited_at": (now - timedelta(minutes=5 + n)).isoformat(),
            "location": {"lat": self.door[0], "lon": self.door[1], "accuracy_m": 12.0,
                         "crs": "wgs84"}, "notes": "入户走访", "needs": [], "photo_ids": []}}
            for n in range(size)]
        began = time.perf_counter()
        answer = self.client.post("/api/v1/sync/batch", json={"records": records}, headers={
            "Authorization": f"Bearer {self.tokens['worker']}"})
        spent = (time.perf_counter() - began) * 1000
        if answer.status_code != 200:
            raise RuntimeError(f"batch: {answer.status_code} {answer.get_data(as_text=True)[:300]}")
        return spent / size


def page_period(zone: str = "Asia/Shanghai") -> dict[str, str]:
    """The period the map page sends by default: today and the 29 days before (map.js)."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    today = datetime.now(tz).date()
    start = datetime.combine(today - timedelta(days=29), datetime.min.time(), tzinfo=tz)
    end = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return {"from": start.isoformat(), "to": end.isoformat()}


def questions(batch: int) -> list[tuple[str, Callable[[City], float]]]:
    """The figures of the issue's table, as (label, ask); the map asks as its page does."""
    period = page_period()
    today = datetime.now(UTC).date()
    # The dashboard's month: today and the 29 days before (to = tomorrow); and the last
    # whole 30 days before today, a window in the past (read from the visits).
    month = {"from": (today - timedelta(days=29)).isoformat(),
             "to": (today + timedelta(days=1)).isoformat()}
    past = {"from": (today - timedelta(days=30)).isoformat(), "to": today.isoformat()}
    return [
        ("/health (baseline)", lambda c: c.get("worker", "/health")),
        ("/map/households city view z13", lambda c: c.get(
            "city", "/map/households", bbox=bbox(c.center, 13), zoom=13, **period)),
        ("/map/households z15", lambda c: c.get(
            "city", "/map/households", bbox=bbox(c.center, 15), zoom=15, **period)),
        ("/map/households z18", lambda c: c.get(
            "city", "/map/households", bbox=bbox(c.center, 18), zoom=18, **period)),
        ("/map/households z13, secretary", lambda c: c.get(
            "secretary", "/map/households", bbox=bbox(c.center, 13), zoom=13, **period)),
        ("/map/grids (coverage shading)", lambda c: c.get("secretary", "/map/grids", **period)),
        ("/map/grids, city admin (every grid)", lambda c: c.get("city", "/map/grids", **period)),
        ("/map/grids, city admin, view z13", lambda c: c.get(
            "city", "/map/grids", bbox=bbox(c.center, 13), **period)),
        ("/map/grids, city admin, view z15", lambda c: c.get(
            "city", "/map/grids", bbox=bbox(c.center, 15), **period)),
        ("/map/visits z17", lambda c: c.get(
            "city", "/map/visits", bbox=bbox(c.center, 17), limit=2000, **period)),
        ("/map/buildings z17", lambda c: c.get(
            "city", "/map/buildings", bbox=bbox(c.center, 17))),
        ("/me/agenda (worker, 50)", lambda c: c.get(
            "worker", "/me/agenda", lat=c.door[0], lon=c.door[1], limit=50)),
        ("/stats/coverage community-month", lambda c: c.get(
            "secretary", "/stats/coverage", community="S0001", **month)),
        ("/stats/coverage community, past 30 days", lambda c: c.get(
            "secretary", "/stats/coverage", community="S0001", **past)),
        ("/sync/changes first page (worker)", lambda c: c.get(
            "worker", "/sync/changes", limit=500)),
        (f"sync batch, ms per visit ({batch})", lambda c: c.batch(batch)),
    ]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(cities: list[City], rounds: int, batch: int,
        only: str = "") -> dict[str, dict[int, list[float]]]:
    """Every question (whose label holds one of ``only``'s comma-separated words, when
    given; the baseline always), every size, ``rounds`` times, the sizes' order rotating."""
    words = [w for w in only.split(",") if w]
    asked = [(label, ask) for label, ask in questions(batch)
             if not words or "baseline" in label or any(w in label for w in words)]
    times: dict[str, dict[int, list[float]]] = {label: {} for label, _ask in asked}
    for city in cities:  # warm: plans, caches, the first pages
        for _label, ask in asked:
            ask(city)
    for r in range(rounds):
        order = cities[r % len(cities):] + cities[:r % len(cities)]
        for label, ask in asked:
            for city in order:
                times[label].setdefault(city.households, []).append(ask(city))
    return times


def report(times: dict[str, dict[int, list[float]]], sizes: list[int], rounds: int) -> None:
    """The issue's table: p50 / p95 per size, and 1M ÷ 10k for both."""
    def label(n: int) -> str:
        return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"

    load = os.getloadavg()
    print(f"\nPostgreSQL, p50 / p95 in ms over {rounds} interleaved rounds; load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores)\n")
    head = " | ".join(f"{label(n)} p50 / p95" for n in sizes)
    first, last = sizes[0], sizes[-1]
    print(f"| figure | {head} | {label(last)} ÷ {label(first)} p50 | p95 |")
    print("|---|" + "---|" * (len(sizes) + 2))
    for name, per_size in times.items():
        cells = [f"{statistics.median(per_size[n]):.1f} / {_pct(per_size[n], 0.95):.1f}"
                 for n in sizes]
        ratio50 = statistics.median(per_size[last]) / statistics.median(per_size[first])
        ratio95 = _pct(per_size[last], 0.95) / _pct(per_size[first], 0.95)
        print(f"| {name} | {' | '.join(cells)} | {ratio50:.2f}× | {ratio95:.2f}× |")


def main() -> None:
    """Build (or reuse) the cities, ask, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get(
        "GRIDWORK_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--only", default="", help="ask only the figures whose label holds "
                        "one of these comma-separated words (e.g. /map/grids); the baseline "
                        "is always asked")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    urls = [ensure_database(args.url, n, build_schema, finish) for n in sizes]
    for url in urls:  # a city built by an older revision: bring it to head
        build_schema(url)
    cities = [City(n, url) for n, url in zip(sizes, urls, strict=True)]
    for city in cities:
        with city.app.app_context():
            households, visits = db.session.execute(text(
                "SELECT (SELECT count(*) FROM household), (SELECT count(*) FROM visit)")).one()
        print(f"city of {city.households:,}: {households:,} households, {visits:,} visits")
    times = run(cities, args.rounds, args.batch, args.only)
    report(times, sizes, args.rounds)


if __name__ == "__main__":
    main()
