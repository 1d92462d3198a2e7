"""Authorization proof: every operation of the OpenAPI document, for every actor.

The table below was written by hand from the issues' rules (issue 2: roles and geography;
issue 3: photos and reports; issue 4: households, visits, privacy; issue 6: the case
workflow), never computed from ``server/services/access.py``. Columns:

    adm admin · sec secretary of C1 · dsp dispatcher · dep department WATER ·
    sup supervisor of G1 · wkr grid worker of G1 · wk2 grid worker of the neighbouring G2 ·
    bhd building head of BG1 (in G1) · anon no token

Outcomes: ``ok`` a 2xx (for a list: with the G1 record in it) · ``out`` a 2xx without the G1
record (a list scoped to the caller's geography) · ``403`` denied · ``404`` hidden: the
record addressed is outside the caller's scope · ``401`` no token.

Rules the table follows where the issues leave room (say so if you change one):
- admin's geography is everything (issue 2), but field acts are the field roles': visits,
  yellow ribbons, the agenda and case moves (issues 4, 6); admin sees numbers masked (4.7).
- dispatcher and department do not read the household registry or visits (issue 4.7 names
  who sees households; the command centre and departments work on cases).
- a record addressed by its URL that the caller may not read answers 404; a case move by a
  role that may not make it answers 403 (issue 6: "refused with 409 or 403").
- a report is an observation: a worker may report a problem just across their grid's edge
  (issue 3 accepts even reports outside every grid).
- ``/photos/<id>/original`` (EXIF GPS included) goes to the roles that check evidence:
  admin, secretary, dispatcher, supervisor (issue 3: "only to roles that may see it").
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest

from server.extensions import db
from tests.factories import PASSWORD, Factory
from tests.server.authz_world import (
    ACTORS,
    ANONYMOUS,
    ID_NUMBER,
    OWN_PHONE,
    PHONE,
    SENSITIVE_TAG,
    SENSITIVE_TAG_ZH,
    Answer,
    Call,
    Case,
    Who,
    World,
    empty_tables,
    media_files,
    outcome_of,
    remove_files_since,
)

V1 = "/api/v1"
BBOX = "28.79,113.06,28.81,113.09"
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}
# Who may see the G1 household's full phone and ID number (issue 4.7).
SEES_NUMBERS = {"secretary", "worker"}
# The households API answers 403, not 404, for a household outside the reader's geography.

# -- request builders: each a VALID request aimed at the G1 record ---------------------------

def get(path: str, **query: Any) -> Any:
    """A GET of ``path`` (its ids those of the G1 records) with ``query``."""
    def build(w: World, who: Who) -> Call:
        ids = {"household_id": w.household, "photo_id": w.photo, "report_id": w.report,
               "visit_id": w.visit, "upload_id": w.upload, "track_id": w.track}
        return Call("GET", V1 + path.format(**ids), dict(who.headers), query=query or None)
    return build


def login(w: World, who: Who) -> Call:
    """Log in with the actor's own password (the anonymous caller as the G1 worker)."""
    name = "worker" if who.anonymous else who.name
    return Call("POST", f"{V1}/auth/tokens",
                json={"username": f"authz_{name}", "password": PASSWORD})


def logout(w: World, who: Who) -> Call:
    """Revoke a fresh token of the actor (its own token stays valid for other cells)."""
    return Call("DELETE", f"{V1}/auth/tokens/current", w.login(who))


def import_grids(w: World, who: Who) -> Call:
    """Re-import G1's boundary into C1."""
    ring = [[113.070, 28.800], [113.078, 28.800], [113.078, 28.804], [113.070, 28.804],
            [113.070, 28.800]]  # G1 as it is: re-importing updates, changes nothing
    feature = {"type": "Feature", "properties": {"code": "G1", "name": "一网格"},
               "geometry": {"type": "Polygon", "coordinates": [ring]}}
    return Call("POST", f"{V1}/grids/import", dict(who.headers), query={"community": "C1"},
                json={"type": "FeatureCollection", "features": [feature]})


def add_category(w: World, who: Who) -> Call:
    """Add a new category."""
    return Call("POST", f"{V1}/categories", dict(who.headers), json={
        "code": f"authz_{w.serial()}", "name_zh": "测试", "name_en": "Test", "sla_hours": 24})


def edit_category(w: World, who: Who) -> Call:
    """Change the test category's deadline."""
    return Call("PATCH", f"{V1}/categories/authz", dict(who.headers), json={"sla_hours": 48})


def set_visit_policy(w: World, who: Who) -> Call:
    """Set C1's visit policy to the defaults (what it is already: no other row changes)."""
    return Call("PUT", f"{V1}/communities/C1/visit-policy", dict(who.headers),
                json={"overrides": {}})


def add_household(w: World, who: Who) -> Call:
    """Register a new household in BG1 (G1)."""
    return Call("POST", f"{V1}/households", dict(who.headers), json={
        "building_id": w.bg1, "door": str(5000 + w.serial()), "head_name": "新住户",
        "phone": OWN_PHONE, "members": 2})


def lookup_phone(w: World, who: Who) -> Call:
    """Look households up by the G1 household's phone."""
    return Call("POST", f"{V1}/households/lookup", dict(who.headers), json={"phone": PHONE})


def edit_household(w: World, who: Who) -> Call:
    """Change a fresh G1 household's notes and members."""
    return Call("PATCH", f"{V1}/households/{w.fresh_household()}", dict(who.headers),
                json={"notes": "改过的备注", "members": 3})


def raise_ribbon(w: World, who: Who) -> Call:
    """Raise a yellow ribbon on a fresh G1 household."""
    return Call("POST", f"{V1}/households/{w.fresh_household()}/yellow-ribbon",
                dict(who.headers), json={"note": "老人需要帮助"})


def import_households(w: World, who: Who) -> Call:
    """Import a one-row CSV into C1 (a new household in BG1)."""
    n = w.serial()
    rows = ("户号,楼栋,单元,门牌号,户主,联系电话,人口\n"
            f"AZ{n},BG1,1,{6000 + n},导入住户,{OWN_PHONE},2\n")
    return Call("POST", f"{V1}/households/import", dict(who.headers), query={"community": "C1"},
                data={"file": (io.BytesIO(rows.encode()), "households.csv")},
                content_type="multipart/form-data")


def ask_export(w: World, who: Who) -> Call:
    """Ask for C1's household sheet, made by a job."""
    return Call("POST", f"{V1}/households/exports", dict(who.headers),
                query={"community": "C1"})


def secretary_export(w: World, who: Who) -> Call:
    """Fetch the secretary's export (an export is its asker's alone)."""
    asked = w.client.post(f"{V1}/households/exports", query_string={"community": "C1"},
                          headers=w.actors["secretary"].headers)
    assert asked.status_code == 202, asked.get_json()
    return Call("GET", asked.headers["Location"], dict(who.headers))


def upload_photo(w: World, who: Who) -> Call:
    """Upload a small JPEG in one request."""
    return Call("POST", f"{V1}/photos", dict(who.headers), content_type="multipart/form-data",
                data={"file": (io.BytesIO(w.jpeg()), "p.jpg")})


def add_report(w: World, who: Who) -> Call:
    """Report a problem in G1 with a photo of the actor's own."""
    return Call("POST", f"{V1}/reports", dict(who.headers),
                json=w.report_body([w.own_photo(who)]))


def sync_visit(w: World, who: Who) -> Call:
    """A batch of one record: a visit to a fresh G1 household."""
    body = w.visit_body(w.fresh_household())
    return Call("POST", f"{V1}/sync/batch", dict(who.headers), json={"records": [
        {"kind": "visit", "client_uuid": body["client_uuid"], "body": body}]})


def move(status: str, action: str, **extra: Any) -> Any:
    """A case move ``action`` on a fresh G1 case in ``status``."""
    def build(w: World, who: Who) -> Call:
        report = w.fresh_case(status)
        body = {"action": action, **extra}
        if action in ("handle", "fail_verify"):
            body["photo_ids"] = [w.own_photo(who)]
        if action == "verify":
            body["location"] = w.site()
        return Call("POST", f"{V1}/reports/{report}/transitions", dict(who.headers), json=body)
    return build


def tus(method: str, fresh: bool = False, **headers: str) -> Any:
    """A tus request on the G1 worker's upload (a fresh one for writes)."""
    def build(w: World, who: Who) -> Call:
        upload = w.fresh_upload() if fresh else w.upload
        call = Call(method, f"{V1}/uploads/{upload}", {**who.headers, **w.tus(), **headers})
        if method == "PATCH":
            call.data, call.content_type = b"12345", "application/offset+octet-stream"
        return call
    return build


def tus_root(method: str, **headers: str) -> Any:
    """A tus request on the upload collection."""
    def build(w: World, who: Who) -> Call:
        return Call(method, f"{V1}/uploads/", {**who.headers, **w.tus(), **headers})
    return build


def add_visit(w: World, who: Who) -> Call:
    """Log a visit to a fresh G1 household."""
    return Call("POST", f"{V1}/visits", dict(who.headers),
                json=w.visit_body(w.fresh_household()))


def g1_worker_day(path: str) -> Any:
    """A GET of ``path`` for the G1 worker's day (the Beijing day of the world's track)."""
    def build(w: World, who: Who) -> Call:
        return Call("GET", V1 + path, dict(who.headers), query={
            "worker": w.user_ids["worker"], "day": w.track_day})
    return build


def add_track(w: World, who: Who) -> Call:
    """Record a patrol track around the G1 site."""
    return Call("POST", f"{V1}/tracks", dict(who.headers), json=w.track_body())


def manage_user(action: str, **body: Any) -> Any:
    """POST /users/<id>/<action> on a fresh G1 grid worker (admins manage accounts)."""
    def build(w: World, who: Who) -> Call:
        return Call("POST", f"{V1}/users/{w.fresh_user()}/{action}", dict(who.headers),
                    json=body if action in ("reset-password", "revoke-tokens") else None)
    return build


def add_building(w: World, who: Who) -> Call:
    """Create a building in G1 (admins create buildings)."""
    lat, lon = Factory.G1_CENTER
    return Call("POST", f"{V1}/buildings", dict(who.headers), json={
        "code": f"AB{w.serial()}", "name": "新楼", "grid": "G1", "lat": lat, "lon": lon})


def import_buildings(w: World, who: Who) -> Call:
    """Import a one-row building sheet into G1."""
    lat, lon = Factory.G1_CENTER
    sheet = f"楼栋编号,名称,网格,纬度,经度\nAI{w.serial()},导入楼,G1,{lat},{lon}\n"
    return Call("POST", f"{V1}/buildings/import", dict(who.headers),
                data={"file": (io.BytesIO(sheet.encode()), "buildings.csv")},
                content_type="multipart/form-data")


def need_report(w: World, who: Who) -> Call:
    """Turn the need of a fresh G1 visit into a report."""
    return Call("POST", f"{V1}/visits/{w.fresh_visit()}/needs/0/report", dict(who.headers),
                json={})


# -- probes: is the G1 record in a list answer? ----------------------------------------------

def has(key: str, attr: str) -> Any:
    """A probe: an item of ``body[key]`` has the id of the world's record ``attr``."""
    def probe(w: World, body: Any) -> bool:
        return any(item["id"] == getattr(w, attr) for item in body[key])
    return probe


def agenda_has_household(w: World, body: Any) -> bool:
    """Whether the G1 household is on the agenda."""
    return any(item["household"]["id"] == w.household for item in body["items"])


def workers_have_g1_worker(w: World, body: Any) -> bool:
    """Whether the G1 worker is in the map's worker filter."""
    return any(item["id"] == w.user_ids["worker"] for item in body["items"])


def grid_g1_in(w: World, body: Any) -> bool:
    """Whether G1 is among the grids (a list, or GeoJSON features)."""
    items = body["features"] if isinstance(body, dict) else body
    return any(item.get("code", item.get("properties", {}).get("code")) == "G1"
               for item in items)


def patrols_have_g1_worker(w: World, body: Any) -> bool:
    """Whether the G1 worker's patrol day is among the figures."""
    return any(item["worker_id"] == w.user_ids["worker"] for item in body["items"])


def first_record_status(body: Any) -> int:
    """The status of the batch's one record."""
    return int(body["results"][0]["status"])


# -- the table: written by hand ----------------------------------------------------------------

EXPECTED = """
                                                      adm sec dsp dep sup wkr wk2 bhd anon
GET     /health                                       ok  ok  ok  ok  ok  ok  ok  ok  ok
POST    /auth/tokens                                  ok  ok  ok  ok  ok  ok  ok  ok  ok
DELETE  /auth/tokens/current                          ok  ok  ok  ok  ok  ok  ok  ok  401
GET     /me                                           ok  ok  ok  ok  ok  ok  ok  ok  401
GET     /capture-policy                               ok  ok  ok  ok  ok  ok  ok  ok  401
GET     /grids                                        ok  ok  ok  out ok  ok  out ok  401
POST    /grids/import                                 ok  403 403 403 403 403 403 403 401
GET     /grids/locate                                 ok  ok  ok  ok  ok  ok  ok  ok  401
GET     /me/agenda                                    403 ok  403 403 403 ok  out 403 401
GET     /stats/cases                                  ok  ok  ok  403 403 403 403 403 401
GET     /stats/weekly                                 ok  ok  ok  403 403 403 403 403 401
GET     /categories                                   ok  ok  ok  ok  ok  ok  ok  ok  401
POST    /categories                                   ok  403 403 403 403 403 403 403 401
PATCH   /categories/{code}                            ok  403 403 403 403 403 403 403 401
GET     /communities/{code}/visit-policy              ok  ok  403 403 ok  ok  ok  ok  401
PUT     /communities/{code}/visit-policy              ok  ok  403 403 403 403 403 403 401
GET     /stats/coverage                               ok  ok  403 403 ok  ok  403 403 401
POST    /households                                   ok  ok  403 403 403 ok  403 403 401
GET     /households                                   ok  ok  403 403 ok  ok  out ok  401
POST    /households/lookup                            403 ok  403 403 403 ok  out 403 401
GET     /households/{household_id}                    ok  ok  403 403 ok  ok  404 ok  401
PATCH   /households/{household_id}                    ok  ok  403 403 403 ok  404 403 401
POST    /households/{household_id}/yellow-ribbon      403 ok  403 403 403 ok  404 ok  401
POST    /households/import                            ok  ok  403 403 403 403 403 403 401
GET     /households/export                            ok  ok  403 403 403 403 403 403 401
POST    /households/exports                           ok  ok  403 403 403 403 403 403 401
GET     /exports/{export_id}                          404 ok  403 403 403 403 403 403 401
GET     /households/import/template                   ok  ok  403 403 403 403 403 403 401
GET     /map/households                               ok  ok  403 403 ok  ok  out ok  401
GET     /map/grids                                    ok  ok  ok  out ok  ok  out ok  401
GET     /map/buildings                                ok  ok  ok  out ok  ok  out ok  401
GET     /map/visits                                   ok  ok  403 403 ok  ok  out ok  401
GET     /map/workers                                  ok  ok  403 403 ok  ok  out out 401
GET     /map/cases                                    ok  ok  ok  ok  ok  ok  out ok  401
POST    /photos                                       ok  ok  ok  ok  ok  ok  ok  ok  401
GET     /photos/{photo_id}                            ok  ok  ok  ok  ok  ok  404 ok  401
GET     /photos/{photo_id}/display                    ok  ok  ok  ok  ok  ok  404 ok  401
GET     /photos/{photo_id}/thumb                      ok  ok  ok  ok  ok  ok  404 ok  401
GET     /photos/{photo_id}/original                   ok  ok  ok  403 ok  403 403 403 401
POST    /reports                                      ok  ok  403 403 ok  ok  ok  ok  401
GET     /reports                                      ok  ok  ok  ok  ok  ok  out ok  401
GET     /reports.geojson                              ok  ok  ok  ok  ok  ok  out ok  401
GET     /reports/{report_id}                          ok  ok  ok  ok  ok  ok  404 ok  401
GET     /reports/{report_id}/timeline                 ok  ok  ok  ok  ok  ok  404 ok  401
POST    /reports/{report_id}/transitions accept       403 403 ok  404 403 403 403 403 401
POST    /reports/{report_id}/transitions reject       403 403 ok  404 403 403 403 403 401
POST    /reports/{report_id}/transitions dispatch     403 403 ok  404 403 403 403 403 401
POST    /reports/{report_id}/transitions return       403 403 403 ok  403 403 403 403 401
POST    /reports/{report_id}/transitions handle       403 403 403 ok  403 403 403 403 401
POST    /reports/{report_id}/transitions verify       403 403 403 403 ok  403 403 403 401
POST    /reports/{report_id}/transitions fail_verify  403 403 403 403 ok  403 403 403 401
POST    /reports/{report_id}/transitions close        403 403 ok  403 403 403 403 403 401
POST    /sync/batch                                   403 ok  403 403 403 ok  403 ok  401
GET     /sync/changes                                 ok  ok  ok  ok  ok  ok  ok  ok  401
OPTIONS /uploads/                                     ok  ok  ok  ok  ok  ok  ok  ok  ok
POST    /uploads/                                     ok  ok  ok  ok  ok  ok  ok  ok  401
HEAD    /uploads/{upload_id}                          404 404 404 404 404 ok  404 404 401
PATCH   /uploads/{upload_id}                          404 404 404 404 404 ok  404 404 401
DELETE  /uploads/{upload_id}                          404 404 404 404 404 ok  404 404 401
POST    /visits                                       403 ok  403 403 403 ok  403 ok  401
GET     /visits                                       ok  ok  403 403 ok  ok  out ok  401
GET     /visits/{visit_id}                            ok  ok  403 403 ok  ok  404 ok  401
POST    /visits/{visit_id}/needs/{position}/report    ok  ok  403 403 ok  ok  404 ok  401
POST    /tracks                                       403 403 403 403 ok  ok  ok  403 401
GET     /tracks                                       ok  ok  ok  403 ok  ok  out 403 401
GET     /tracks/{track_id}                            ok  ok  ok  403 ok  ok  404 403 401
GET     /map/tracks                                   ok  ok  ok  403 ok  ok  out 403 401
GET     /stats/patrols                                ok  ok  ok  403 ok  ok  out 403 401
GET     /users                                        ok  403 403 403 403 403 403 403 401
POST    /users/{user_id}/disable                      ok  403 403 403 403 403 403 403 401
POST    /users/{user_id}/enable                       ok  403 403 403 403 403 403 403 401
POST    /users/{user_id}/reset-password               ok  403 403 403 403 403 403 403 401
POST    /users/{user_id}/revoke-tokens                ok  403 403 403 403 403 403 403 401
POST    /users/{user_id}/unlock                       ok  403 403 403 403 403 403 403 401
POST    /buildings                                    ok  403 403 403 403 403 403 403 401
POST    /buildings/import                             ok  403 403 403 403 403 403 403 401
"""
# Notes on rows: the sync batch's record is a visit to a G1 household. The map's worker
# filter lists grid workers; a building head's is empty. An upload is its uploader's alone
# (the G1 worker's here), and so is an export (the secretary's here; admin may export too,
# but not fetch another's: 404). Accounts and buildings are managed by admins alone (issue 15);
# each account cell acts on a fresh user. A patrol track is recorded by who patrols (grid
# workers, supervisors: issue 13.8) and read by them in their grids and by who oversees
# them (secretary, command centre, admin); it belongs to its worker's grids.

# Cells where the code is known to disagree with the table (reported, not adapted).
GAPS: dict[tuple[str, str, str], dict[str, str]] = {}

# Rows that need more than a plain GET of their path (with the G1 record's ids filled in).
REQUESTS: dict[tuple[str, str, str], Any] = {
    ("POST", "/auth/tokens", ""): login,
    ("DELETE", "/auth/tokens/current", ""): logout,
    ("POST", "/grids/import", ""): import_grids,
    ("GET", "/grids/locate", ""): get("/grids/locate", lat=28.802, lon=113.074),
    ("GET", "/me/agenda", ""): get("/me/agenda", lat=28.802, lon=113.074),
    ("POST", "/categories", ""): add_category,
    ("PATCH", "/categories/{code}", ""): edit_category,
    ("GET", "/communities/{code}/visit-policy", ""): get("/communities/C1/visit-policy"),
    ("PUT", "/communities/{code}/visit-policy", ""): set_visit_policy,
    ("GET", "/stats/coverage", ""): get("/stats/coverage", grid="G1"),
    ("POST", "/households", ""): add_household,
    ("GET", "/households", ""): get("/households", limit=500),
    ("POST", "/households/lookup", ""): lookup_phone,
    ("PATCH", "/households/{household_id}", ""): edit_household,
    ("POST", "/households/{household_id}/yellow-ribbon", ""): raise_ribbon,
    ("POST", "/households/import", ""): import_households,
    ("GET", "/households/export", ""): get("/households/export", community="C1"),
    ("POST", "/households/exports", ""): ask_export,
    ("GET", "/exports/{export_id}", ""): secretary_export,
    ("GET", "/map/households", ""): get("/map/households", bbox=BBOX, zoom=18),
    ("GET", "/map/buildings", ""): get("/map/buildings", bbox=BBOX),
    ("GET", "/map/visits", ""): get("/map/visits", bbox=BBOX),
    ("GET", "/map/cases", ""): get("/map/cases", bbox=BBOX),
    ("POST", "/photos", ""): upload_photo,
    ("POST", "/reports", ""): add_report,
    ("GET", "/reports", ""): get("/reports", limit=500),
    ("GET", "/reports.geojson", ""): get("/reports.geojson", limit=500),
    **{("POST", "/reports/{report_id}/transitions", action): move(state, action, **extra)
       for state, action, extra in (
           ("reported", "accept", {}), ("reported", "reject", {"note": "不属实"}),
           ("accepted", "dispatch", {"department": "WATER"}),
           ("dispatched", "return", {"note": "非本部门职责"}), ("dispatched", "handle", {}),
           ("handled", "verify", {}), ("handled", "fail_verify", {"note": "仍有垃圾"}),
           ("verified", "close", {}))},
    ("POST", "/sync/batch", ""): sync_visit,
    ("OPTIONS", "/uploads/", ""): tus_root("OPTIONS"),
    ("POST", "/uploads/", ""): tus_root("POST", **{"Upload-Length": "100"}),
    ("HEAD", "/uploads/{upload_id}", ""): tus("HEAD"),
    ("PATCH", "/uploads/{upload_id}", ""): tus("PATCH", fresh=True, **{"Upload-Offset": "0"}),
    ("DELETE", "/uploads/{upload_id}", ""): tus("DELETE", fresh=True),
    ("POST", "/visits", ""): add_visit,
    ("GET", "/visits", ""): get("/visits", limit=500),
    ("POST", "/tracks", ""): add_track,
    ("GET", "/tracks", ""): get("/tracks", limit=500),
    ("GET", "/map/tracks", ""): g1_worker_day("/map/tracks"),
    ("GET", "/stats/patrols", ""): get("/stats/patrols"),
    ("POST", "/visits/{visit_id}/needs/{position}/report", ""): need_report,
    ("POST", "/users/{user_id}/disable", ""): manage_user("disable"),
    ("POST", "/users/{user_id}/enable", ""): manage_user("enable"),
    ("POST", "/users/{user_id}/reset-password", ""): manage_user(
        "reset-password", password="a new password 2026"),
    ("POST", "/users/{user_id}/revoke-tokens", ""): manage_user("revoke-tokens"),
    ("POST", "/users/{user_id}/unlock", ""): manage_user("unlock"),
    ("POST", "/buildings", ""): add_building,
    ("POST", "/buildings/import", ""): import_buildings,
}
# Lists: is the G1 record in the answer (ok) or not (out)?
PROBES: dict[tuple[str, str], Any] = {
    ("GET", "/grids"): grid_g1_in, ("GET", "/map/grids"): grid_g1_in,
    ("GET", "/me/agenda"): agenda_has_household,
    ("GET", "/households"): has("items", "household"),
    ("POST", "/households/lookup"): has("items", "household"),
    ("GET", "/map/households"): has("points", "household"),
    ("GET", "/map/buildings"): has("items", "bg1"), ("GET", "/map/visits"): has("items", "visit"),
    ("GET", "/map/workers"): workers_have_g1_worker,
    ("GET", "/map/cases"): has("features", "report"), ("GET", "/reports"): has("items", "report"),
    ("GET", "/reports.geojson"): has("features", "report"),
    ("GET", "/visits"): has("items", "visit"),
    ("GET", "/tracks"): has("items", "track"),
    ("GET", "/map/tracks"): has("tracks", "track"),
    ("GET", "/stats/patrols"): patrols_have_g1_worker,
}
# A batch answers 200; what decides is the status of its one record.
INNER: dict[tuple[str, str], Any] = {("POST", "/sync/batch"): first_record_status}


def parse_expected(text: str) -> dict[tuple[str, str, str], str]:
    """The grid above: (method, path, variant) -> nine outcomes in ``ACTORS`` order."""
    rows = {}
    for line in text.strip().splitlines()[1:]:
        method, path, *rest = line.split()
        variant = rest.pop(0) if len(rest) == len(ACTORS) + 1 else ""
        assert (method, path, variant) not in rows, line
        rows[(method, path, variant)] = " ".join(rest)
    return rows


def build_table() -> dict[tuple[str, str], list[Case]]:
    """The operations, each with its cases (a case per variant), from the grid and requests."""
    expected = parse_expected(EXPECTED)
    assert set(REQUESTS) <= set(expected), set(REQUESTS) - set(expected)
    assert set(GAPS) <= set(expected), set(GAPS) - set(expected)
    rows = {(method, path) for method, path, _variant in expected}
    assert set(PROBES) | set(INNER) <= rows, (set(PROBES) | set(INNER)) - rows
    table: dict[tuple[str, str], list[Case]] = {}
    for (method, path, variant), outcomes in expected.items():
        # "out" is a list answer without the G1 record: only a probe can tell it from "ok".
        assert "out" not in outcomes.split() or (method, path) in PROBES, (method, path)
        build = REQUESTS.get((method, path, variant))
        if build is None:
            assert method == "GET", f"{method} {path} needs a request builder"
            build = get(path)
        table.setdefault((method, V1 + path), []).append(Case(
            build, outcomes, probe=PROBES.get((method, path)),
            inner=INNER.get((method, path)), name=variant,
            gaps=GAPS.get((method, path, variant), {})))
    return table


TABLE = build_table()


# -- running the table -----------------------------------------------------------------------

def run_cell(world: World, case: Case, who: Who) -> Answer:
    """Build the request, send it, and classify the answer."""
    call = case.build(world, who)
    response = world.client.open(call.path, method=call.method, headers=call.headers,
                                 query_string=call.query, json=call.json, data=call.data,
                                 content_type=call.content_type)
    body = response.get_data()
    response.close()  # a streamed file (the original photo) holds its file open until closed
    payload = response.get_json(silent=True) if body else None
    status, outcome = outcome_of(world, case, response.status_code, payload)
    detail = (payload or {}).get("detail", "") if isinstance(payload, dict) else ""
    return Answer(status=status, outcome=outcome, body=body, detail=str(detail)[:160])


Key = tuple[str, str, int, str]  # method, path, case index, actor


@pytest.fixture(scope="module")
def answers(_migrated_app: Any) -> Iterator[dict[Key, Answer]]:
    """Every cell of the table, run once in one world (built once: ~700 requests)."""
    app = _migrated_app
    empty_tables(app)
    files = media_files(app)
    with app.app_context():
        world = World(Factory(app, app.test_client(use_cookies=False)))
        results: dict[Key, Answer] = {}
        for (method, path), cases in TABLE.items():
            for index, case in enumerate(cases):
                for name in ACTORS:
                    results[(method, path, index, name)] = run_cell(world, case,
                                                                     world.who(name))
        db.session.remove()
    yield results
    empty_tables(app)
    remove_files_since(app, files)


def test_table_names_exactly_the_operations_of_the_openapi_document(client):
    """A new endpoint without an entry fails here, and so does an entry for a gone one."""
    spec = client.get(f"{V1}/openapi.json")
    assert spec.status_code == 200  # public, like /health and /auth/tokens
    operations = {(method.upper(), path) for path, item in spec.json["paths"].items()
                  for method in item if method in HTTP_METHODS}
    missing = sorted(operations - set(TABLE))
    gone = sorted(set(TABLE) - operations)
    assert not missing, f"operations without a row in the table: {missing}"
    assert not gone, f"rows for operations the API no longer has: {gone}"


def _label(method: str, path: str) -> str:
    return f"{method} {path.removeprefix(V1)}"


@pytest.mark.parametrize("operation", list(TABLE), ids=[_label(*op) for op in TABLE])
def test_each_actor_gets_what_the_table_says(answers, operation):
    """Allowed (2xx), scoped, denied (403), hidden (404) or 401, for every actor."""
    wrong, known, fixed = [], [], []
    for index, case in enumerate(TABLE[operation]):
        for name, expected in case.expected().items():
            got = answers[(*operation, index, name)]
            cell = (f"{case.name or _label(*operation)} as {name}: expected {expected}, "
                    f"got {got.outcome} ({got.status} {got.detail!r})")
            if name in case.gaps:
                (known if got.outcome != expected else fixed).append(
                    cell + f" — known gap: {case.gaps[name]}")
            elif got.outcome != expected:
                wrong.append(cell)
    assert not wrong, "\n".join(wrong)
    assert not fixed, "gap closed, remove it from the table's gaps:\n" + "\n".join(fixed)
    if known:
        pytest.xfail("\n".join(known))


# A visit policy lists an interval for every tag: the vocabulary, not any household's tags.
NAMES_EVERY_TAG = {f"{V1}/communities/{{code}}/visit-policy"}


def test_no_answer_shows_the_household_numbers_to_an_actor_who_may_not_see_them(answers):
    """Issue 4.7: full phone and ID number, and the sensitive tags, only for the grid's
    worker and the community secretary; every answer of the matrix is scanned."""
    secrets = {"phone": PHONE, "ID number": ID_NUMBER, "tag": SENSITIVE_TAG,
               "tag (zh)": SENSITIVE_TAG_ZH}
    leaks = [f"{_label(m, p)} [{i}] as {name}: {what}"
             for (m, p, i, name), a in answers.items() if name not in SEES_NUMBERS
             for what, secret in secrets.items() if secret.encode() in a.body
             and not (what.startswith("tag") and p in NAMES_EVERY_TAG)]
    assert not leaks, "\n".join(leaks)
    # The scan can find them: those who may see them get them in the full record.
    for name in SEES_NUMBERS:
        record = answers[("GET", f"{V1}/households/{{household_id}}", 0, name)].body
        assert all(secret.encode() in record for secret in (PHONE, ID_NUMBER, SENSITIVE_TAG))
    export = answers[("GET", f"{V1}/households/export", 0, "secretary")].body
    assert PHONE.encode() in export and SENSITIVE_TAG_ZH.encode() in export
    assert ANONYMOUS not in SEES_NUMBERS
