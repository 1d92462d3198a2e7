"""Languages: Chinese by default, English on the switch, every visible string translated."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.web.conftest import login, wait_dashboard_ready, wait_map_ready

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "server" / "translations" / "zh_Hans_CN" / "LC_MESSAGES"
# Latin words a Chinese page may show: names, units, file formats, the switch to English.
ALLOWED_LATIN = {"English", "CSV", "Excel"}


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
    assert not _latin_words(page.inner_text("body"))
    page.click(f".hh-id-{world.g1_households[1]}")
    page.wait_for_selector("#visit-history li")
    assert not _latin_words(page.inner_text("body"))
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
