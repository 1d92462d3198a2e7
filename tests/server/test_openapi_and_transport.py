"""The OpenAPI document, the docs page without a CDN, compression and health."""

from __future__ import annotations

import gzip
import re

import brotli


def test_openapi_documents_every_api_route_with_its_errors(app, client):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items()
                  for method in ops if method != "parameters"}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint.startswith(
                ("api-docs", "docs_assets")):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, f"{method} {path} is not in the OpenAPI document"
    me = spec["paths"]["/api/v1/me"]["get"]
    assert "401" in me["responses"] and me["security"] == [{"bearerAuth": []}]
    problem = spec["components"]["responses"]["UNAUTHORIZED"]["content"]
    assert "application/problem+json" in problem


def test_docs_page_loads_no_asset_from_another_host(client):
    page = client.get("/api/v1/docs").get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources, "the docs page references its assets"
    for src in sources:
        assert src.startswith("/"), f"{src} is loaded from another host"
        with client.get(src) as asset:
            assert asset.status_code == 200, src


def test_json_answers_are_compressed_when_the_phone_accepts_it(client, factory):
    actor = factory.actor("admin")
    plain = client.get("/api/v1/openapi.json")
    gz = client.get("/api/v1/openapi.json", headers={"Accept-Encoding": "gzip"})
    br = client.get("/api/v1/openapi.json", headers={"Accept-Encoding": "br"})
    assert gz.headers["Content-Encoding"] == "gzip"
    assert br.headers["Content-Encoding"] == "br"
    assert gzip.decompress(gz.data) == plain.data
    assert brotli.decompress(br.data) == plain.data
    assert len(br.data) < len(plain.data) / 3
    assert actor  # a user exists so the spec is complete


def test_health_reports_version_and_database(client):
    body = client.get("/api/v1/health").json
    assert body["status"] == "ok" and body["database"] == "ok"
    assert re.fullmatch(r"\d+\.\d+\.\d+", body["version"])


def test_health_says_when_the_database_is_unreachable(make_app):
    broken = make_app(DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    resp = broken.test_client().get("/api/v1/health")
    assert resp.status_code == 503
    assert resp.json["database"] == "unreachable"
