"""Every answer carries a strict CSP and the no-sniff / no-frame headers."""

from __future__ import annotations

import re


def test_api_answers_carry_security_headers(client):
    resp = client.get("/api/v1/health")
    csp = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    script_src = re.search(r"script-src ([^;]+)", csp).group(1)
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"


def test_docs_page_has_no_inline_script(client):
    page = client.get("/api/v1/docs").get_data(as_text=True)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, flags=re.S)
    assert scripts
    for attrs, body in scripts:
        assert "src=" in attrs and body.strip() == ""


def test_tile_host_is_allowed_for_images_only(make_app):
    app = make_app(MAP_TILE_URL="https://{s}.tile.example.org/{z}/{x}/{y}.png")
    csp = app.test_client().get("/api/v1/health").headers["Content-Security-Policy"]
    assert "img-src 'self' data: blob: https://*.tile.example.org" in csp
    assert "tile.example.org" not in re.search(r"script-src ([^;]+)", csp).group(1)
