"""The field app's shell as the server hands it out: the committed build matches its
sources, the service worker lists every file of the shell, the strings are translated."""

from __future__ import annotations

import base64
import filecmp
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from server.field.i18n import FIELD_MESSAGES
from server.field.views import build_info

ROOT = Path(__file__).resolve().parents[2]
BUILT = ROOT / "server/field/static/app"
CATALOGUE = ROOT / "server/translations/zh_Hans_CN/LC_MESSAGES/messages.po"


def test_committed_build_is_what_the_sources_build_to(tmp_path: Path) -> None:
    node = shutil.which("node")
    modules = ROOT / "frontend/field/node_modules"
    assert node and modules.is_dir(), "run make field-app (node and npm ci in frontend/field)"
    subprocess.run([node, "build.mjs", "--out", str(tmp_path)], cwd=ROOT / "frontend/field",
                   check=True, capture_output=True, timeout=120)
    names = sorted(p.name for p in tmp_path.iterdir())
    _match, mismatch, errors = filecmp.cmpfiles(tmp_path, BUILT, names, shallow=False)
    assert not mismatch and not errors, f"rebuild and commit: make field-app ({mismatch})"


def test_service_worker_lists_every_file_of_the_shell(client: Any) -> None:
    worker = client.get("/field/sw.js")
    assert worker.status_code == 200
    assert worker.headers["Service-Worker-Allowed"] == "/field/"
    body = worker.get_data(as_text=True)
    for url in build_info()["precache"]:
        assert json.dumps(url) in body
        answer = client.get(url)
        answer.close()  # a static file streams: close it
        assert answer.status_code == 200, url
    answer = client.get("/field/")
    shell = answer.get_data(as_text=True)
    version = build_info()["hashes"]["shrink-worker.js"]
    worker_url = f"/field/static/app/shrink-worker.js?v={version}"
    assert worker_url in shell and worker_url in build_info()["precache"]
    # The bundle is inline (one round trip on a slow link) and the CSP names its hash.
    script = (BUILT / "field.js").read_text(encoding="utf-8")
    assert f'<script type="module">{script}</script>' in shell
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = answer.headers["Content-Security-Policy"]
    assert f"script-src 'self' 'sha256-{digest}';" in policy and "unsafe-eval" not in policy


def test_manifest_makes_the_app_installable(client: Any) -> None:
    manifest = client.get("/field/manifest.webmanifest")
    assert manifest.mimetype == "application/manifest+json"
    body = manifest.get_json(force=True)
    assert body["start_url"] == body["scope"] == "/field/" and body["display"] == "standalone"
    assert body["name"] == "网格通·外勤" and body["lang"] == "zh-CN"
    assert {i["sizes"] for i in body["icons"]} >= {"192x192", "512x512"}
    assert any(i.get("purpose") == "maskable" for i in body["icons"])


def test_every_string_of_the_field_app_has_a_chinese_translation(client: Any) -> None:
    with open(CATALOGUE, "rb") as handle:
        translated = {m.id for m in read_po(handle) if m.id and m.string and not m.fuzzy}
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}
    found = {m if isinstance(m, str) else m[0] for _f, _l, m, _c, _x in extract_from_dir(
        str(ROOT / "server/field"), method_map=[("**.py", "python")], keywords=keywords)}
    assert found and not found - translated, sorted(found - translated)
    chinese = client.get("/field/i18n/zh-CN.json").get_json()
    english = client.get("/field/i18n/en.json").get_json()
    assert set(FIELD_MESSAGES) <= set(chinese) and chinese.keys() == english.keys()
    assert chinese["nav.outbox"] == "待发送" and english["nav.outbox"] == "Outbox"
    assert chinese["outcome.met"] == "见面"  # the pages' own strings come along
    assert client.get("/field/i18n/fr.json").status_code == 404


def test_every_message_key_the_scripts_use_exists(client: Any) -> None:
    source = "\n".join(p.read_text(encoding="utf-8")
                       for p in (ROOT / "frontend/field/src").glob("*.js"))
    used = set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_]+)["']""", source))
    known = set(client.get("/field/i18n/en.json").get_json())
    assert used and not used - known, sorted(used - known)
