"""Helpers for testing against a real server: a live gunicorn process and a faulty network.

``LiveServer`` runs ``gunicorn server.wsgi:app`` as a real subprocess on a free loopback
port against the database and media folder you name, waits for ``/api/v1/health``, and can
be SIGKILLed (the whole process group, as a power cut would) and started again on the same
port. ``FlakyProxy`` sits between a client and the server and breaks connections on
purpose, request by request: before the request reaches the server, after the server
answered but before the answer gets back (the lost acknowledgement), or in the middle of a
photo upload.

    with LiveServer(database_url, media_dir) as server, \\
            FlakyProxy(server.address, seed=7, drop_before=0.1, drop_after=0.1) as proxy:
        client = SyncClient(proxy.url, tmp_path / "device")
"""

from __future__ import annotations

import contextlib
import os
import random
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO

import requests

__all__ = ["FlakyProxy", "LiveServer", "free_port"]

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """A gunicorn process serving Gridwork on loopback; ``kill()`` it like a power cut."""

    def __init__(self, database_url: str, media_dir: Path | str, *, port: int | None = None,
                 host: str = "127.0.0.1", workers: int = 2, worker_class: str = "gthread",
                 threads: int = 4, instance_dir: Path | str | None = None,
                 log_path: Path | str | None = None, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = (), ready_timeout: float = 30.0,
                 app: str = "server.wsgi:app") -> None:
        self.app = app  # the WSGI app gunicorn serves (a bench serves its baseline app too)
        self.host, self.port = host, port or free_port(host)
        self.database_url, self.media_dir = database_url, Path(media_dir)
        self.instance_dir = Path(instance_dir) if instance_dir else self.media_dir.parent
        self.workers, self.worker_class, self.threads = workers, worker_class, threads
        self.log_path = Path(log_path) if log_path else self.instance_dir / "live-server.log"
        self.extra_env, self.ready_timeout = dict(env or {}), ready_timeout
        self.extra_args = tuple(args)  # more gunicorn options; later ones win
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) the server listens on."""
        return self.host, self.port

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://{self.host}:{self.port}"

    def _env(self) -> dict[str, str]:
        env = {**os.environ, "GRIDWORK_DATABASE_URL": self.database_url,
               "GRIDWORK_MEDIA_DIR": str(self.media_dir),
               "GRIDWORK_INSTANCE_DIR": str(self.instance_dir),
               "GRIDWORK_SECRET_KEY": "live-server-secret-key-for-tests",
               "GRIDWORK_LOG_LEVEL": "WARNING",
               # No webhook sender: the tests that send webhooks run their own, and a second
               # one would race them for the deliveries (env={...: "true"} turns it on).
               "GRIDWORK_WEBHOOKS_ASYNC": "false",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                           os.environ.get("PYTHONPATH")]))}
        env.update(self.extra_env)
        return env

    def start(self) -> LiveServer:
        """Start gunicorn and wait until ``/api/v1/health`` answers 200."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("the live server is already running")
        self.instance_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        args = [sys.executable, "-m", "gunicorn", self.app,
                "--bind", f"{self.host}:{self.port}", "--workers", str(self.workers),
                "--worker-class", self.worker_class, "--threads", str(self.threads),
                "--timeout", "60", "--graceful-timeout", "5", "--log-level", "warning",
                *self.extra_args]
        self.process = subprocess.Popen(args, cwd=REPO_ROOT, env=self._env(),
                                        stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the live server exited ({self.process.returncode}):\n"
                                   + self.log_tail())
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/api/v1/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        self.kill()
        raise RuntimeError("the live server did not become healthy:\n" + self.log_tail())

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL the master and every worker at once, as a power cut would."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._close_log()

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), or kill after 10 s."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()

    def restart(self) -> LiveServer:
        """Kill and start again on the same port."""
        self.kill()
        return self.start()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FlakyProxy:
    """A TCP proxy that breaks a share of requests on purpose (see the module docstring).

    The proxy follows the HTTP/1.1 requests on each connection (keep-alive included) and
    draws a fate for each one from a seeded RNG: ``drop_before`` (the connection is closed
    before the request is passed on), ``drop_after`` (the request reaches the server, whose
    answer is swallowed and the connection closed), or, for a tus ``PATCH``, ``cut_uploads``
    (closed part-way through the body). ``latency_s`` delays every request, as a mobile
    network's round trip would. ``stats`` counts requests and each fault.
    """

    def __init__(self, target: tuple[str, int], *, seed: int | None = None,
                 drop_before: float = 0.0, drop_after: float = 0.0, cut_uploads: float = 0.0,
                 latency_s: float = 0.0, host: str = "127.0.0.1", port: int = 0) -> None:
        self.target = target
        self.latency_s = latency_s  # added to every request: a phone network's round trip
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
        self.rng = random.Random(self.seed)
        self.drop_before, self.drop_after, self.cut_uploads = drop_before, drop_after, cut_uploads
        self.enabled = True
        self.stats: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._listener = socket.create_server((host, port))
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="flaky-proxy", daemon=True)

    @property
    def url(self) -> str:
        """The proxy's base URL."""
        return f"http://{self.address[0]}:{self.address[1]}"

    def start(self) -> FlakyProxy:
        """Start accepting connections."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop accepting (the port refuses connections from now on); connections in
        progress end on their own."""
        self._closing.set()
        with contextlib.suppress(OSError):
            # close() alone leaves a thread blocked in accept() listening on Linux.
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def __enter__(self) -> FlakyProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=_Link(self, conn).run, daemon=True).start()

    def draw(self, head: bytes) -> tuple[str, float]:
        """The fate of a request with this head, and where in its body to cut."""
        line = head.split(b"\r\n", 1)[0]
        with self._lock:
            self.stats["requests"] += 1
            roll, cut_roll, spot = self.rng.random(), self.rng.random(), self.rng.random()
        if not self.enabled:
            return "pass", spot
        if roll < self.drop_before:
            return "drop_before", spot
        if roll < self.drop_before + self.drop_after:
            return "drop_after", spot
        if line.startswith(b"PATCH ") and b"/uploads/" in line and cut_roll < self.cut_uploads:
            return "cut_upload", spot
        return "pass", spot

    def count(self, what: str) -> None:
        """Add one to a fault counter."""
        with self._lock:
            self.stats[what] += 1


class _Link:
    """One client connection through the proxy: splits it into requests, applies fates."""

    def __init__(self, proxy: FlakyProxy, client: socket.socket) -> None:
        self.proxy, self.client = proxy, client
        self.upstream: socket.socket | None = None
        self.sel = selectors.DefaultSelector()
        self.head = b""
        self.body_left = 0
        self.cut_left: int | None = None
        self.swallow_answer = False
        self.opaque = False

    def run(self) -> None:
        try:
            self.client.settimeout(60)
            self.sel.register(self.client, selectors.EVENT_READ)
            while self._step():
                pass
        except OSError:
            pass
        finally:
            self.sel.close()
            for sock in (self.client, self.upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()

    def _step(self) -> bool:
        events = self.sel.select(timeout=60)
        if not events:
            return False
        for key, _ in events:
            data = key.fileobj.recv(65536)  # type: ignore[union-attr]
            if not data:
                return False
            if key.fileobj is self.client:
                if not self._from_client(data):
                    return False
            elif self.swallow_answer:
                self.proxy.count("drop_after")  # the server answered; the answer is lost
                return False
            else:
                self.client.sendall(data)
        return True

    def _from_client(self, data: bytes) -> bool:
        while data:
            if self.opaque or self.body_left:
                take = len(data) if self.opaque else min(len(data), self.body_left)
                self.body_left -= 0 if self.opaque else take
                if not self._send(data[:take]):
                    return False
                data = data[take:]
                continue
            self.head += data
            data = b""
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return len(self.head) < 65536
            head, data = self.head[:end + 4], self.head[end + 4:]
            self.head = b""
            if not self._begin_request(head):
                return False
        return True

    def _begin_request(self, head: bytes) -> bool:
        length, chunked = _body_length(head)
        fate, spot = self.proxy.draw(head)
        if fate == "drop_before":
            self.proxy.count("drop_before")
            return False
        self.swallow_answer = fate == "drop_after"
        if fate == "cut_upload" and length > 1:
            self.cut_left = len(head) + max(1, min(length - 1, int(length * spot)))
        self.opaque, self.body_left = chunked, length
        if self.upstream is None:
            self.upstream = socket.create_connection(self.proxy.target, timeout=60)
            self.sel.register(self.upstream, selectors.EVENT_READ)
        if self.proxy.latency_s:
            time.sleep(self.proxy.latency_s)
        return self._send(head)

    def _send(self, part: bytes) -> bool:
        assert self.upstream is not None
        if self.cut_left is not None:
            if len(part) >= self.cut_left:
                self.upstream.sendall(part[:self.cut_left])
                time.sleep(0.05)  # let the partial body land before the cut
                self.proxy.count("cut_upload")
                return False
            self.cut_left -= len(part)
        self.upstream.sendall(part)
        return True


def _body_length(head: bytes) -> tuple[int, bool]:
    """(Content-Length, chunked?) of a request head."""
    length, chunked = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length" and value.strip().isdigit():
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return length, chunked
