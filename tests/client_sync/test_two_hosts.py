"""The city tier as docs/operations.md lays it out: two ``gridwork serve`` hosts (two ports)
and one ``gridwork worker``, sharing PostgreSQL, Redis and the photo folder (the shared
volume), behind Debian's nginx. A phone pushes visits with photos through nginx, which
spreads them over both hosts; host A is SIGKILLed while one of its batches is writing (seen
in PostgreSQL: a backend of host A holding a transaction id). nginx sends the phone's next
tries to host B, and in the end every visit is stored exactly once, every photo once with
its display image and thumb made by the worker, and both hosts served the push.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from client_sync.testing import free_port
from server.extensions import db
from server.jobs.queue import apply_schema, drop_schema
from server.models import Photo, Visit
from tests.client_sync.conftest import g1_households, make_client, noisy_jpeg
from tests.factories import PASSWORD, Factory

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/0"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
BATCH, N_VISITS, N_PHOTO_VISITS, N_HOUSEHOLDS = 100, 600, 12, 60
G1 = Factory.G1_CENTER

NGINX_CONF = """
{user}
worker_processes 1;
daemon off;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 512; }}
http {{
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    log_format hosts '$upstream_addr $status $request_method $uri';
    access_log {run}/access.log hosts;
    upstream gridwork {{
        server 127.0.0.1:{port_a} max_fails=1 fail_timeout=30s;
        server 127.0.0.1:{port_b} max_fails=1 fail_timeout=30s;
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 32m;
        proxy_request_buffering off;
        proxy_read_timeout 300s;
        proxy_send_timeout 300s;
        large_client_header_buffers 4 64k;
        location / {{
            proxy_pass http://gridwork;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream error timeout;
        }}
    }}
}}
"""


def _gridwork(*args: str) -> list[str]:
    return [sys.executable, "-c", "from server.cli import main; main()", *args]


class Process:
    """A child process of its own session (``kill`` takes all of it, like a power cut)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        with log.open("ab") as out:
            self.popen = subprocess.Popen(args, cwd=REPO, env=env, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        self.log = log

    def kill(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def _wait_healthy(url: str, process: Process, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{url} exited:\n{process.log.read_text()[-3000:]}")
        try:
            if requests.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy:\n{process.log.read_text()[-3000:]}")


class City:
    """Two hosts, a worker and nginx, on the suite's PostgreSQL, Redis and a shared folder."""

    def __init__(self, database_url: str, root: Path) -> None:
        self.root, self.media = root, root / "shared-media"
        url = make_url(database_url)
        self.jobs_schema = f"{url.query['options'].split('=')[-1]}_city_jobs"
        self.urls = {name: url.update_query_dict({"application_name": f"gw-city-{name}"})
                     .render_as_string(hide_password=False) for name in ("a", "b", "worker")}
        self.ports = {"a": free_port(), "b": free_port(), "nginx": free_port()}
        self.processes: dict[str, Process] = {}
        self._admin = create_engine(database_url, isolation_level="AUTOCOMMIT")

    def env(self, name: str) -> dict[str, str]:
        return {**os.environ, "GRIDWORK_DATABASE_URL": self.urls[name],
                "GRIDWORK_SECRET_KEY": "the-same-secret-on-every-host",
                "GRIDWORK_MEDIA_DIR": str(self.media),
                "GRIDWORK_INSTANCE_DIR": str(self.root / f"instance-{name}"),
                "GRIDWORK_RATELIMIT_STORAGE_URI": REDIS_URL,
                "GRIDWORK_RATELIMIT_KEY_PREFIX": f"gw-city-{self.ports['nginx']}",
                "GRIDWORK_PROXY_COUNT": "1", "GRIDWORK_JOBS": "queue",
                "GRIDWORK_JOBS_SCHEMA": self.jobs_schema, "GRIDWORK_JOBS_POLL_S": "0.5",
                "GRIDWORK_LOG_LEVEL": "WARNING",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                            os.environ.get("PYTHONPATH")]))}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['nginx']}"

    def start(self) -> City:
        with self._admin.begin() as conn:
            apply_schema(conn, self.jobs_schema)
        for host in ("a", "b"):
            self.processes[host] = Process(
                _gridwork("serve", "--host", "127.0.0.1", "--port", str(self.ports[host]),
                          "--workers", "2"), self.env(host), self.root / f"host-{host}.log")
        self.processes["worker"] = Process(_gridwork("worker"), self.env("worker"),
                                           self.root / "worker.log")
        run = self.root / "nginx"
        run.mkdir()
        conf = run / "nginx.conf"
        conf.write_text(NGINX_CONF.format(
            user="user root;" if os.geteuid() == 0 else "", run=run, port=self.ports["nginx"],
            port_a=self.ports["a"], port_b=self.ports["b"]))
        self.processes["nginx"] = Process([NGINX, "-c", str(conf), "-p", str(run)], {**os.environ},
                                          run / "stdout.log")
        for host in ("a", "b"):
            _wait_healthy(f"http://127.0.0.1:{self.ports[host]}", self.processes[host])
        _wait_healthy(self.url, self.processes["nginx"])
        return self

    def writing_batch(self, host: str) -> bool:
        """Whether a backend of ``host`` is inside a sync batch's transaction now (it has a
        transaction id and its last statement inserted visits)."""
        with self._admin.connect() as conn:
            return bool(conn.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"
                " AND backend_xid IS NOT NULL AND state <> 'idle'"
                " AND query ILIKE '%INSERT INTO visit %'"), {"name": f"gw-city-{host}"}))

    def served_by(self) -> dict[str, int]:
        """Requests nginx passed to each host (from its access log's upstream address)."""
        counts = {"a": 0, "b": 0}
        for line in (self.root / "nginx" / "access.log").read_text().splitlines():
            for host in ("a", "b"):
                if re.match(rf"127\.0\.0\.1:{self.ports[host]} \d", line):
                    counts[host] += 1
        return counts

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()
        with self._admin.begin() as conn:
            drop_schema(conn, self.jobs_schema)
        self._admin.dispose()


@pytest.fixture
def city(app_config: dict[str, Any], test_database: Any, tmp_path: Path) -> Iterator[City]:
    if test_database.dialect != "postgresql":
        pytest.skip("the city tier runs on PostgreSQL")
    if not os.path.exists(NGINX):
        pytest.skip("nginx is not installed (apt-get install nginx; .ci/run does)")
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("Redis is not running on 127.0.0.1:6379 (CI and the dev machine have it)")
    town = City(app_config["DATABASE_URL"], tmp_path)
    try:
        yield town.start()
    finally:
        town.stop()


def _kill_mid_batch(city: City, host: str, done: threading.Event) -> float:
    """SIGKILL ``host`` while one of its sync batches is writing; when, after the start."""
    began = time.monotonic()
    while not done.is_set() and time.monotonic() - began < 60:
        if city.writing_batch(host):
            city.processes[host].kill()
            return time.monotonic() - began
        time.sleep(0.002)
    raise AssertionError(f"host {host} never wrote a batch while the push ran")


def test_two_hosts_behind_nginx_lose_one_mid_batch_and_keep_every_record_once(
        city: City, factory: Factory, tmp_path: Path) -> None:
    worker = factory.actor("grid_worker", grids=("G1",))
    homes = g1_households(factory, N_HOUSEHOLDS)
    rng, now, queued = random.Random(16), datetime.now(UTC), set()
    with make_client(city.url, tmp_path / "phone", batch_size=BATCH,
                     photo_workers=4) as client:
        client.login(worker.user.username, PASSWORD)
        with client.outbox.atomic():
            for n in range(N_VISITS):
                photos = [noisy_jpeg(tmp_path / "camera" / f"V{n}.jpg", 320, 240, seed=n)] \
                    if n % (N_VISITS // N_PHOTO_VISITS) == 0 else []
                queued.add(client.queue_visit(
                    household_id=rng.choice(homes), outcome=rng.choice(["met", "not_home"]),
                    lat=G1[0], lon=G1[1], photos=photos,
                    visited_at=now - timedelta(minutes=rng.randrange(1, 2880))))
        done, results = threading.Event(), []
        pusher = threading.Thread(target=lambda: (results.append(client.push(timeout=120)),
                                                  done.set()), daemon=True)
        pusher.start()
        killed_after = _kill_mid_batch(city, "a", done)
        pusher.join(150)
        assert not pusher.is_alive() and results, "the push did not finish"
    result = results[0]
    assert (result.pending, result.failed, result.blocked) == (0, 0, 0), result

    db.session.commit()
    uuids = list(db.session.scalars(select(Visit.client_uuid)))
    assert len(uuids) == len(set(uuids)) == N_VISITS and set(uuids) == queued
    photos = list(db.session.scalars(select(Photo)))
    assert len(photos) == N_PHOTO_VISITS
    assert db.session.scalar(select(func.count(func.distinct(Photo.sha256)))) == N_PHOTO_VISITS

    def derived(photo: Photo) -> bool:
        fan = city.media / "thumb" / photo.sha256[:2] / photo.sha256[2:4]
        return (fan / f"{photo.sha256}.jpg").is_file()

    deadline = time.monotonic() + 60
    while not all(derived(p) for p in photos) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert all(derived(p) for p in photos), (
        "the worker did not make every derivative:\n"
        + city.processes["worker"].log.read_text()[-3000:])
    shown = requests.get(f"{city.url}/api/v1/photos/{photos[0].id}/display", timeout=10,
                         headers=worker.headers)
    assert shown.status_code == 200 and shown.headers["Content-Type"] == "image/jpeg"
    served = city.served_by()
    assert served["a"] > 0 and served["b"] > 0, served
    print(f"\n[two hosts] host A killed {killed_after:.2f} s into the push, mid-batch; "
          f"nginx passed {served['a']} requests to A, {served['b']} to B; {len(uuids)} visits "
          f"once each, {len(photos)} photos with their derivatives from the worker")
