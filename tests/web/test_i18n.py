"""Languages: Chinese by default, English on the switch, every visible string translated."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from schemas.cases import CASE_ACTIONS
from schemas.households import HOUSEHOLD_STATUSES, HOUSEHOLD_TAGS
from schemas.reports import REPORT_FLAGS, REPORT_STATUSES
from schemas.visits import VISIT_OUTCOMES
from server.web.i18n import js_messages
from tests.web.conftest import (
    login,
    screenshot,
    wait_centred,
    wait_dashboard_ready,
    wait_map_ready,
)
from tests.web.world import add_flagged_reports

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "server" / "translations" / "zh_Hans_CN" / "LC_MESSAGES"
# Latin words a Chinese page may show: names, units, file formats, the switch to English.
ALLOWED_LATIN = {"English", "CSV", "Excel"}
# A setting's name is shown as it is spelled (the map's hint when no base map is set up).
TILE_SETTING = "GRIDWORK_MAP_TILE_URL"
# What a message key looks like when the scripts show one raw: ``status.ok``, ``map.no_tiles``.
KEY_LIKE = re.compile(r"(?<![A-Za-z0-9_.])[a-z][a-z0-9]*(?:_[a-z0-9]+)*"
                      r"\.[a-z][a-z0-9]*(?:_[a-z0-9]+)*(?![A-Za-z0-9_])")


def _code_messages() -> set[str]:
    """Every msgid in the pages' code, extracted as pybabel would."""
    method_map = [("server/web/**.py", "python"), ("server/web/templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map=method_map, keywords=keywords):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_string_of_the_pages_has_a_chinese_translation() -> None:
    with open(CATALOGUE / "messages.po", "rb") as handle:
        catalogue = read_po(handle)
    translated = {m.id: m.string for m in catalogue if m.id and m.string and not m.fuzzy}
    missing = sorted(_code_messages() - set(translated))
    assert not missing, f"untranslated: {missing}"
    assert len(translated) > 100


def test_compiled_catalogue_says_what_the_po_says() -> None:
    with open(CATALOGUE / "messages.po", "rb") as handle:
        source = {m.id: m.string for m in read_po(handle) if m.id}
    with open(CATALOGUE / "messages.mo", "rb") as handle:
        compiled = {m.id: m.string for m in read_mo(handle) if m.id}
    assert compiled == source, "run: pybabel compile -d server/translations"


def _latin_words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z]{3,}", text)) - ALLOWED_LATIN


def test_chinese_pages_show_no_english_words(page: Any, world: Any) -> None:
    login(page, "shuji", world.password)
    wait_map_ready(page)
    page.click(f".case-id-{world.overdue_case}")
    page.wait_for_selector("#case-timeline li")
    assert not _latin_words(page.inner_text("body").replace(TILE_SETTING, ""))
    page.click(f".hh-id-{world.g1_households[1]}")
    page.wait_for_selector("#visit-history li")
    assert not _latin_words(page.inner_text("body").replace(TILE_SETTING, ""))
    page.click("nav a[href='/app/dashboard']")
    wait_dashboard_ready(page)
    # The browser draws <input type=month|week> in its own UI language; those are not ours.
    text = page.inner_text("main .dash")
    assert not _latin_words(text) - {"Week", "November", "December", "October"}


def test_language_switch_turns_pages_and_scripts_to_english_and_back(page: Any,
                                                                     world: Any) -> None:
    page.goto("/app/login")
    assert page.get_attribute("html", "lang") == "zh-CN"
    page.click("#locale-switch")
    page.wait_for_selector("html[lang='en']")
    assert page.inner_text("#login-form button") == "Log in"
    login(page, "shuji", world.password)  # the choice survives logging in
    wait_map_ready(page)
    assert page.get_attribute("html", "lang") == "en"
    assert "Visit map" in page.inner_text("nav")
    assert "Visited within policy" in page.inner_text("#legend")
    page.click(f".hh-id-{world.g1_households[1]}")
    page.wait_for_selector("#visit-history li")
    panel = page.inner_text("#detail")  # drawn by the script from its string table
    assert "Visit history" in panel and "Yellow ribbon" in panel and "Met" in panel
    page.click("#locale-switch")
    page.wait_for_selector("html[lang='zh-CN']")
    assert "走访地图" in page.inner_text("nav")
    wait_map_ready(page)


def test_every_value_the_scripts_translate_has_a_message(app: Any) -> None:
    """Statuses, outcomes, tags, moves and flags come from the API as codes; each has words."""
    wanted = ({f"status.{s}" for s in HOUSEHOLD_STATUSES} | {"status.yellow_ribbon"}
              | {f"case.{s}" for s in REPORT_STATUSES}
              | {f"action.{a}" for a in (*CASE_ACTIONS, "report", "escalate")}
              | {f"outcome.{o}" for o in VISIT_OUTCOMES}
              | {f"tag.{t}" for t in HOUSEHOLD_TAGS} | {f"flag.{f}" for f in REPORT_FLAGS})
    with app.test_request_context():
        missing = sorted(wanted - set(js_messages()))
    assert not missing, f"no message for: {missing}"


def _raw_keys(text: str, keys: set[str]) -> set[str]:
    """Message keys (or key-like words) in rendered text: a string the scripts never looked up."""
    return set(KEY_LIKE.findall(text)) | {key for key in keys if key in text}


def _texts_of_every_view(page: Any, world: Any, doubtful: int, lang: str) -> dict[str, str]:
    """The rendered text of the map, a tooltip, both panels and the dashboard."""
    texts = {}
    wait_map_ready(page)
    texts["map"] = page.inner_text("body")
    ok = f".hh-id-{world.g1_households[0]}"  # visited today: status ok
    edge = {"x": 3, "y": 8}  # beside the visit's dot drawn on the household's middle
    page.hover(ok, position=edge)
    texts["tooltip"] = page.inner_text(".leaflet-tooltip-pane")
    page.click(ok, position=edge)
    page.wait_for_selector("#detail:not([hidden]) #visit-history li")
    texts["household"] = page.inner_text("#detail")
    page.click(f".hh-id-{world.g1_households[1]}")
    page.wait_for_selector("#household-needs li")
    texts["household with needs"] = page.inner_text("#detail")
    screenshot(page, f"panel-household-{lang}", "#detail")
    page.click(f".case-id-{world.overdue_case}")
    page.wait_for_selector(f"#detail-title:text('#{world.overdue_case}')")
    page.wait_for_selector("#case-timeline li")
    texts["overdue case"] = page.inner_text("#detail")
    screenshot(page, f"map-{lang}")
    page.goto(f"/app/map?case={doubtful}")  # its mark lies under the handled case's
    wait_map_ready(page)
    page.wait_for_selector(".badge-flag")
    wait_centred(page)
    texts["flagged case"] = page.inner_text("#detail")
    screenshot(page, f"panel-case-{lang}", "#detail")
    page.click("nav a[href='/app/dashboard']")
    wait_dashboard_ready(page)
    texts["dashboard"] = page.inner_text("body")
    screenshot(page, f"dashboard-{lang}")
    page.wait_for_load_state("networkidle")  # the trend's last answers, before leaving
    return texts


def test_no_message_key_shows_raw_on_the_map_panels_or_dashboard(page: Any, world: Any,
                                                                   client: Any) -> None:
    doubtful, _stray = add_flagged_reports(client, world)
    page.goto("/app/login")
    found: dict[str, set[str]] = {}
    for lang in ("zh-CN", "en"):
        if lang == "en":  # from the map: the dashboard's requests are all answered
            page.click("nav a[href='/app/map']")
            wait_map_ready(page)
            page.click("#locale-switch")
            page.wait_for_selector("html[lang='en']")
        else:
            login(page, "shuji", world.password)
        keys = set(page.evaluate("Object.keys(JSON.parse(document.body.dataset.i18n))"))
        assert len(keys) > 100
        for view, text in _texts_of_every_view(page, world, doubtful, lang).items():
            raw = _raw_keys(text, keys)
            if raw:
                found[f"{lang} {view}"] = raw
    assert not found, f"raw message keys on the pages: {found}"
