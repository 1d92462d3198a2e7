"""The forms in a real form engine: enketo-core renders them in Debian's chromium, a person
fills them in, and the record Enketo produces goes to the server as Collect sends it.

enketo-core and enketo-transformer come from npm (``tests/openrosa/enketo``: package.json
and its lock); the bundle is built here once per machine (``npm ci``, then esbuild, about
20 s the first time), never fetched from a CDN. The page is served from a made-up origin by
Playwright's routing, so no server is needed for it.
"""

from __future__ import annotations

import base64
import fcntl
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from server.openrosa.submission import photo_uuid
from tests.factories import Factory
from tests.openrosa.conftest import Phone, jpeg
from tests.server.visit_support import point_at

ENKETO = Path(__file__).parent / "enketo"
BUNDLE = ENKETO / "dist" / "enketo-bundle.js"
ORIGIN = "http://enketo.test"
PAGE = ("<!doctype html><html lang='zh'><head><meta charset='utf-8'><title>Enketo</title>"
        "<script src='/enketo-bundle.js'></script></head><body><div id='form'></div></body>"
        "</html>")


def _run(*args: str, timeout: float) -> None:
    done = subprocess.run(args, cwd=ENKETO, capture_output=True, text=True, timeout=timeout,
                          check=False)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args[1:])} failed in {ENKETO}:\n{done.stdout}\n{done.stderr}")


def _build() -> Path:
    """The enketo-core bundle, built from the locked npm packages if it is missing or old.

    The SQLite and PostgreSQL runs of the suite start side by side: a file lock lets one
    build while the other waits, then finds the bundle made.
    """
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the Enketo test needs it to build enketo-core")
    sources = [ENKETO / "entry.js", ENKETO / "package-lock.json"]
    with (ENKETO / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (ENKETO / "node_modules" / "enketo-core").is_dir():
            _run(npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", timeout=300)
        if not BUNDLE.exists() or BUNDLE.stat().st_mtime < max(
                s.stat().st_mtime for s in sources):
            _run(npm, "run", "build", timeout=120)
    return BUNDLE


@pytest.fixture(scope="session")
def enketo_bundle() -> Path:
    """The built bundle (built once per machine)."""
    return _build()


@pytest.fixture
def enketo(browser, enketo_bundle) -> Iterator[Any]:
    """A page with enketo-core loaded, on an origin of its own (Enketo reads cookies)."""
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.route(f"{ORIGIN}/", lambda route: route.fulfill(body=PAGE, content_type="text/html"))
    page.route(f"{ORIGIN}/enketo-bundle.js", lambda route: route.fulfill(
        path=str(enketo_bundle), content_type="text/javascript"))
    page.goto(f"{ORIGIN}/")
    page.problems = problems
    yield page
    context.close()


def _render(page: Any, phone: Phone, form_id: str) -> None:
    item = next(f for f in phone.collect.form_list() if f["formID"] == form_id)
    form, media = phone.collect.download(item)
    errors = page.evaluate("([x, m]) => GridworkEnketo.render(x, m)",
                           [form.decode(), {k: v.decode() for k, v in media.items()}])
    assert errors == [], errors


def _place(page: Any, field: str, point: tuple[float, float], accuracy: float) -> None:
    """Answer a geopoint as a person does when the GPS is off: type it into the widget."""
    widget = page.locator(f"input[name='{field}']").locator("xpath=..")
    for name, value in (("lat", point[0]), ("long", point[1]), ("alt", 30), ("acc", accuracy)):
        box = widget.locator(f"input[name='{name}']")
        box.fill(str(value))
        box.dispatch_event("change")


def _attach(page: Any, field: str, name: str, data: bytes) -> None:
    """Pick a photo; Enketo records its name (with a time postfix) once it has read it."""
    page.set_input_files(f"input[type=file][name='{field}']",
                         files=[{"name": name, "mimeType": "image/jpeg", "buffer": data}])
    page.wait_for_function("p => GridworkEnketo.value(p) !== ''", arg=field, timeout=10_000)


def _uploads(page: Any) -> list[tuple[str, bytes]]:
    """The files Enketo would send with the record, by the names the record gives them."""
    return [(f["name"], base64.b64decode(f["base64"]))
            for f in page.evaluate("() => GridworkEnketo.files()")]


def _record(page: Any) -> tuple[str, str]:
    result = page.evaluate("() => GridworkEnketo.record()")
    assert result["valid"] is True, (result["invalid"], page.problems)
    xml = result["xml"]
    instance_id = re.search(r"<instanceID>uuid:([0-9a-f-]+)</instanceID>", xml).group(1)
    return xml, instance_id


def _files(xml: str) -> list[str]:
    return re.findall(r"<photo[^>]*>([^<]+)</photo>", xml)


def test_a_visit_filled_in_enketo_becomes_an_off_site_visit_with_its_photo(
        enketo, phone, openrosa_server):
    _render(enketo, phone, "gridwork_visit")
    household = enketo.locator("input.widget.autocomplete")
    household.fill(f"{phone.household.code} {phone.household.head_name}")
    household.dispatch_event("change")
    enketo.check("input[name='/gridwork_visit/outcome'][value='met']")
    enketo.fill("textarea[name='/gridwork_visit/notes']", "独居老人,身体尚好")
    photo = jpeg(11)
    _attach(enketo, "/gridwork_visit/photos/photo", "door.jpg", photo)
    far = point_at(Factory.G1_CENTER, 450)
    _place(enketo, "/gridwork_visit/location", far, 6)
    xml, instance_id = _record(enketo)
    names = _files(xml)
    uploads = _uploads(enketo)
    assert [n for n, _d in uploads] == names and uploads[0][1] == photo, xml
    parts = phone.collect.submit(xml.encode(), "enketo.xml", uploads)
    assert [p.status for p in parts] == [201], parts
    visits = requests.get(f"{openrosa_server.url}/api/v1/visits", timeout=10,
                          headers=phone.actor.headers).json()["items"]
    assert [(v["client_uuid"], v["household_id"], v["outcome"], v["notes"], v["off_site"],
             v["photo_ids"]) for v in visits] == [
        (instance_id, phone.household.id, "met", "独居老人,身体尚好", True,
         [photo_uuid(instance_id, names[0])])]
    assert not enketo.problems


def test_a_report_filled_in_enketo_becomes_a_case(enketo, phone, openrosa_server):
    _render(enketo, phone, "gridwork_report")
    enketo.check("input[data-name='/gridwork_report/category'][value='drain']")
    enketo.fill("textarea[name='/gridwork_report/description']", "井盖破损")
    photo = jpeg(12)
    _attach(enketo, "/gridwork_report/photo", "drain.jpg", photo)
    _place(enketo, "/gridwork_report/location", Factory.G1_CENTER, 5)
    xml, instance_id = _record(enketo)
    names = _files(xml)
    uploads = _uploads(enketo)
    assert [n for n, _d in uploads] == names and uploads[0][1] == photo
    parts = phone.collect.submit(xml.encode(), "enketo.xml", uploads)
    assert [p.status for p in parts] == [201], parts
    reports = requests.get(f"{openrosa_server.url}/api/v1/reports", timeout=10,
                           headers=phone.actor.headers).json()["items"]
    assert [(r["client_uuid"], r["category"], r["description"], r["grid"], r["photo_ids"])
            for r in reports] == [(instance_id, "drain", "井盖破损", "G1",
                                   [photo_uuid(instance_id, names[0])])]
