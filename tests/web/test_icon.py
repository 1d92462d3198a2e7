"""The site's icon: the pages link it, and /favicon.ico answers it for pages that name none
(the API docs), so a browser's default request finds an icon rather than a 404."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

_ICO_MAGIC = b"\x00\x00\x01\x00"  # an ICO file's reserved word and type 1 (icon)


def _icon(client: FlaskClient, path: str = "/favicon.ico") -> tuple[int, str, bytes]:
    with client.get(path) as response:  # a sent file: close it
        return response.status_code, response.mimetype or "", response.data


def test_favicon_ico_answers_an_icon(client: FlaskClient) -> None:
    status, mimetype, data = _icon(client)
    assert status == 200
    assert mimetype in {"image/vnd.microsoft.icon", "image/x-icon"}
    assert data.startswith(_ICO_MAGIC)
    with client.get("/favicon.ico") as response:
        assert response.cache_control.max_age == 86400


def test_pages_link_the_same_icon(client: FlaskClient) -> None:
    page = client.get("/app/login").get_data(as_text=True)
    match = re.search(r'<link rel="icon" href="([^"]+)"', page)
    assert match, "the page names no icon"
    status, _mimetype, data = _icon(client, match.group(1))
    assert status == 200
    assert data == _icon(client)[2]


def test_api_docs_page_names_no_icon_so_the_default_path_must_answer(
        client: FlaskClient) -> None:
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert 'rel="icon"' not in docs.get_data(as_text=True)  # the browser asks /favicon.ico
    assert _icon(client)[0] == 200
