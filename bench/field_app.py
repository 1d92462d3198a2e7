"""The field app (/field/) on a phone, measured in Debian's Chromium against a real server.

Prints, in one run:

- the app shell's size: every file the service worker keeps, as the server sends it with
  ``Accept-Encoding: gzip`` (goal: at most 250 KB), and the largest files;
- first load over a throttled link (Chromium's network emulation through CDP,
  ``Network.emulateNetworkConditions``): DevTools' own "Slow 3G" preset (2 s round trip,
  50 KB/s each way) and the "3G slow" of WebPageTest (400 ms, 400 kbit/s down); the time from
  navigation to the first screen drawn (goal: under 4 s) on a fresh phone each sample;
- a repeat load offline (the service worker's copy; goal: under 1 s);
- the time from tapping "save" to the record stored in IndexedDB, for a visit and for a
  report with a photo (goal: under 100 ms);
- bytes the phone sends up for a 12 MP camera photo (through a TCP proxy counting every
  byte: the tus requests and the report) divided by the photo's size (goal: at most 0.25),
  for the four scenes of bench/photo_bytes.py, and how long the phone took to shrink it.

Median and worst of several samples each, with /proc/loadavg. The server is gunicorn on
loopback with a throwaway SQLite database, so the link emulation is the only slow part.

Run: .venv/bin/python bench/field_app.py [--samples N]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ByteCountingProxy, load_average, median_worst  # noqa: E402
from bench.photo_bytes import PASSWORD, SCENES, make_photo, seed  # noqa: E402
from client_sync.testing import LiveServer  # noqa: E402
from server.field.views import build_info  # noqa: E402
from tests.web.conftest import CHROMIUM_ARGS, chromium_path  # noqa: E402

# name: (round trip ms, download bytes/s, upload bytes/s)
LINKS = {
    "DevTools Slow 3G (2 s RTT, 50 KB/s)": (2000, 500_000 / 8 * 0.8, 500_000 / 8 * 0.8),
    "WebPageTest 3G slow (400 ms RTT, 400 kbit/s)": (400, 400_000 / 8, 400_000 / 8),
}
HERE = {"latitude": 28.802, "longitude": 113.074, "accuracy": 8}


def shell_size(url: str) -> tuple[int, int, list[tuple[int, str]]]:
    """(bytes as sent with gzip, bytes uncompressed, the largest files) of the precache."""
    sent = raw = 0
    files = []
    for path in build_info()["precache"]:
        answer = requests.get(url + path, headers={"Accept-Encoding": "gzip"}, stream=True,
                              timeout=10)
        wire = answer.raw.read(decode_content=False)
        answer.close()
        plain = requests.get(url + path, headers={"Accept-Encoding": "identity"}, timeout=10)
        sent += len(wire)
        raw += len(plain.content)
        files.append((len(wire), path.split("?")[0]))
    return sent, raw, sorted(files, reverse=True)[:4]


def phone(browser: Any, url: str) -> Any:
    context = browser.new_context(base_url=url, viewport={"width": 390, "height": 844},
                                  is_mobile=True, has_touch=True, locale="zh-CN",
                                  timezone_id="Asia/Shanghai", permissions=["geolocation"],
                                  geolocation=HERE, service_workers="allow")
    context.set_default_timeout(120_000)
    return context


def boot_ms(page: Any) -> float:
    page.wait_for_selector("body[data-boot-ms]", state="attached")
    return float(page.get_attribute("body", "data-boot-ms") or "nan")


def first_and_offline_loads(browser: Any, url: str, link: tuple[float, float, float],
                            samples: int) -> tuple[list[float], list[float]]:
    """Fresh phones loading the app over ``link``; then each reloads it offline."""
    first, offline = [], []
    latency, down, up = link
    for _ in range(samples):
        context = phone(browser, url)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", {
            "offline": False, "latency": latency, "downloadThroughput": down,
            "uploadThroughput": up})
        page.goto("/field/")
        first.append(boot_ms(page))
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        context.set_offline(True)
        for _ in range(2):
            again = context.new_page()
            again.goto("/field/")
            offline.append(boot_ms(again))
            again.close()
        context.close()
    return first, offline


def login(page: Any) -> None:
    page.goto("/field/")
    page.fill("#username", "worker")
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("body[data-pulled]", state="attached")


def save_times(browser: Any, url: str, households: list[int], photo: Path,
               samples: int) -> tuple[list[float], list[float]]:
    """Milliseconds from tapping save to stored, for visits and for one-photo reports."""
    context = phone(browser, url)
    page = context.new_page()
    login(page)
    context.set_offline(True)  # measure the phone, not the push that follows
    visits, reports = [], []
    for household in households[:samples]:
        page.goto(f"/field/#/visit/{household}")
        page.wait_for_selector("#visit-form #place:not(:has(.warn))")
        page.fill("#notes", "家中一切正常")
        page.click("#save")
        page.wait_for_selector("body[data-view=agenda]")
        visits.append(float(page.get_attribute("body", "data-save-ms") or "nan"))
    for _ in range(samples):
        page.goto("/field/#/report")
        page.wait_for_selector("#report-form #place:not(:has(.warn))")
        page.set_input_files("#report-photos", str(photo))
        page.wait_for_selector("#report-photos-list img")
        page.click("#save")
        page.wait_for_selector("body[data-view=outbox]")
        reports.append(float(page.get_attribute("body", "data-save-ms") or "nan"))
    context.close()
    return visits, reports


def photo_bytes(browser: Any, proxy: ByteCountingProxy, photos: list[Path],
                ) -> list[tuple[str, int, int, float]]:
    """(scene, photo size, bytes sent up, shrink ms) for each photo, sent by the app."""
    context = phone(browser, proxy.url)
    page = context.new_page()
    login(page)
    found = []
    for scene, photo in zip(SCENES, photos, strict=True):
        page.goto("/field/#/report")
        page.wait_for_selector("#report-form #place:not(:has(.warn))")
        began = time.perf_counter()
        page.set_input_files("#report-photos", str(photo))
        page.wait_for_selector("#report-photos-list img")
        shrink_ms = (time.perf_counter() - began) * 1000
        proxy.reset()  # the report and its photo only
        page.click("#save")
        page.wait_for_selector("body[data-view=outbox]")
        page.wait_for_selector('body[data-waiting="0"]', state="attached")
        found.append((scene, photo.stat().st_size, proxy.up, shrink_ms))
    context.close()
    return found


def households(url: str, count: int) -> list[int]:
    token = requests.post(f"{url}/api/v1/auth/tokens", json={
        "username": "worker", "password": PASSWORD}, timeout=10).json()["token"]
    made = []
    for n in range(count):
        answer = requests.post(f"{url}/api/v1/households", timeout=10, headers={
            "Authorization": f"Bearer {token}"}, json={
            "client_uuid": str(uuid.uuid4()), "door": str(101 + n), "head_name": f"户主{n}",
            "members": 2, "location": {"lat": 28.80 + n * 1e-4, "lon": 113.07, "accuracy_m": 5}})
        answer.raise_for_status()
        made.append(int(answer.json()["id"]))
    return made


def line(name: str, values: list[float], unit: str, goal: str) -> str:
    median, worst = median_worst(values)
    return f"  {name:<48} median {median:8.1f} {unit}  worst {worst:8.1f} {unit}  ({goal})"


def main() -> None:
    """Start a server, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    path = chromium_path()
    if path is None:
        raise SystemExit("Debian's chromium is needed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    print(f"field app {build_info()['version']}; {load_average()}")
    with tempfile.TemporaryDirectory(prefix="field-bench-") as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root / 'bench.sqlite3'}"
        seed(url, root)
        rng = random.Random(20261205)
        photos = []
        for n, (detail, grain) in enumerate(SCENES.values()):
            photos.append(root / f"scene-{n}.jpg")
            make_photo(photos[-1], detail, grain, rng)
        with LiveServer(url, root / "media", instance_dir=root / "server", workers=2) as server, \
                ByteCountingProxy(server.address) as proxy, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=path, headless=True,
                                                 args=CHROMIUM_ARGS)
            sent, raw, largest = shell_size(server.url)
            print(f"app shell (every file the service worker keeps): {sent / 1024:.1f} KB as "
                  f"sent (gzip; goal: <= 250 KB), {raw / 1024:.1f} KB unpacked")
            print("  largest: " + ", ".join(f"{p} {n / 1024:.1f} KB" for n, p in largest))
            print(f"loads ({args.samples} fresh phones per link, 2 offline reloads each):")
            for name, link in LINKS.items():
                first, offline = first_and_offline_loads(browser, server.url, link,
                                                         args.samples)
                print(line(f"first load, {name}", first, "ms", "goal < 4000 ms"))
                print(line("  then reloaded offline", offline, "ms", "goal < 1000 ms"))
            made = households(server.url, args.samples)
            visits, reports = save_times(browser, server.url, made, photos[0], args.samples)
            print("tap 'save' to stored in IndexedDB:")
            print(line("visit", visits, "ms", "goal < 100 ms"))
            print(line("report with one photo (shrunk before save)", reports, "ms",
                       "goal < 100 ms"))
            print("a 12 MP photo sent by the app (bytes up on the wire ÷ the photo as taken):")
            ratios = []
            for scene, size, up, shrink_ms in photo_bytes(browser, proxy, photos):
                ratios.append(up / size)
                print(f"  {scene:<26} {size / 1e6:5.2f} MB taken, {up / 1e6:5.2f} MB sent: "
                      f"{up / size:.3f}  (shrunk on the phone in {shrink_ms:.0f} ms)")
            median, worst = median_worst(ratios)
            print(f"  ratio median {median:.3f}, worst {worst:.3f} (goal: <= 0.25)")
            browser.close()
    print(load_average())


if __name__ == "__main__":
    main()
