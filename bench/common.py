"""What the benches share: the machine's load, median and worst of samples, a database of
their own on PostgreSQL, and a TCP proxy that counts the bytes on the wire.

This machine is shared and noisy, so every bench takes several samples, prints the median
and the worst (never the best), prints ``/proc/loadavg`` beside its figures, and measures
its baseline in the same run.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import selectors
import socket
import statistics
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["ByteCountingProxy", "load_average", "median_worst", "one_grid_community",
           "own_database", "percentile", "samples_ms", "scratch_name", "summary"]


def load_average() -> str:
    """The 1, 5 and 15 minute load averages from ``/proc/loadavg``, and the CPU count."""
    try:
        fields = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        fields = [f"{x:.2f}" for x in os.getloadavg()]
    return f"loadavg {' '.join(fields)} on {os.cpu_count()} CPUs"


def median_worst(values: Sequence[float]) -> tuple[float, float]:
    """(median, worst) of the samples."""
    return statistics.median(values), max(values)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.95 for p95); NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(fraction * len(ordered) + 0.999999) - 1))]


def samples_ms(run: Callable[[], Any], n: int, *, warm: int = 1,
               after: Callable[[], Any] | None = None) -> list[float]:
    """Milliseconds of ``n`` runs of ``run`` after ``warm`` untimed ones (``after`` between)."""
    import time

    for _ in range(warm):
        run()
        if after:
            after()
    times = []
    for _ in range(n):
        began = time.perf_counter()
        run()
        times.append((time.perf_counter() - began) * 1000)
        if after:
            after()
    return times


def summary(times: Sequence[float]) -> str:
    """'median X ms, worst Y ms (n samples)'."""
    median, worst = median_worst(times)
    return f"median {median:8.1f} ms, worst {worst:8.1f} ms ({len(times)} samples)"


@contextlib.contextmanager
def own_database(server_url: str, name: str) -> Iterator[str]:
    """A PostgreSQL database of the bench's own (dropped first if a crashed run left it, and
    at the end), never the shared test database; yields its SQLAlchemy URL (psycopg 3).

    ``server_url`` is any database URL on the server (``postgresql://postgres@host:5432/x``):
    the bench connects to its ``postgres`` database to create and drop ``name``.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(server_url.replace("postgresql://", "postgresql+psycopg://", 1))
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a plain database name: {name!r}")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def scratch_name(prefix: str) -> str:
    """A database name nobody else uses: ``prefix`` and a random suffix."""
    return f"{prefix}_{secrets.token_hex(3)}"


class ByteCountingProxy:
    """A TCP proxy on loopback that passes everything through and counts the bytes each way.

    ``up`` is what clients sent (request lines, headers and bodies: what a phone pays for on
    its uplink), ``down`` what came back. ``reset()`` zeroes both between measurements.
    """

    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.target = target
        self.up = self.down = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server((host, 0))
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        """The proxy's base URL."""
        return f"http://{self.address[0]}:{self.address[1]}"

    def reset(self) -> None:
        """Zero both counters."""
        with self._lock:
            self.up = self.down = 0

    def __enter__(self) -> ByteCountingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._pump, args=(conn,), daemon=True).start()

    def _pump(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.target)
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ, (upstream, "up"))
        sel.register(upstream, selectors.EVENT_READ, (client, "down"))
        try:
            while True:
                for key, _ in sel.select():
                    peer, way = key.data
                    data = key.fileobj.recv(1 << 16)  # type: ignore[union-attr]
                    if not data:
                        return
                    peer.sendall(data)
                    with self._lock:
                        if way == "up":
                            self.up += len(data)
                        else:
                            self.down += len(data)
        except OSError:
            return
        finally:
            sel.close()
            client.close()
            upstream.close()


def one_grid_community(session: Any, center: tuple[float, float]) -> Any:
    """Community C1 with its grid G1 (28.800-28.804 N, 113.070-113.078 E) and building B1 at
    ``center``, committed: the building. The benches' small world; they add the people."""
    from sqlalchemy import select

    from server.models import Building, Community
    from server.services.grids import import_grids

    session.add(Community(code="C1", name="基准社区"))
    session.commit()
    ring = [[113.070, 28.800], [113.078, 28.800], [113.078, 28.804], [113.070, 28.804],
            [113.070, 28.800]]
    import_grids(session, "C1", {"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"code": "G1", "name": "一网格"},
        "geometry": {"type": "Polygon", "coordinates": [ring]}}]})
    community = session.scalars(select(Community)).one()
    building = Building(community_id=community.id, grid_id=community.grids[0].id, code="B1",
                        name="1栋", lat=center[0], lon=center[1])
    session.add(building)
    session.commit()
    return building
