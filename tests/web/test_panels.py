"""The map's detail panels in a real browser: a household's status in words and the needs it
raised; a case's department by name and the server's doubts (flags) about the report."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import screenshot, wait_centred, wait_map_ready
from tests.web.world import add_flagged_reports


def _open(page: Any, world: Any, query: str) -> str:
    """Log in, open the map at ``?query`` and return the detail panel's text once drawn."""
    page.goto(f"/app/login?next=/app/map?{query}")
    page.fill("#username", "shuji")
    page.fill("#password", world.password)
    page.click("#login-form button[type=submit]")
    wait_map_ready(page)
    page.wait_for_selector("#detail:not([hidden]) dl")
    wait_centred(page)
    return str(page.inner_text("#detail"))


def test_household_panel_names_its_status_in_words(page: Any, world: Any) -> None:
    panel = _open(page, world, f"household={world.g1_households[0]}")  # met today
    assert "按期已走访" in panel
    assert "status." not in panel


def test_household_panel_lists_the_needs_raised_at_its_visits(page: Any, world: Any) -> None:
    _open(page, world, f"household={world.g1_households[1]}")
    page.wait_for_selector("#household-needs li")
    needs = page.locator("#household-needs li").all_inner_texts()
    assert len(needs) == 2
    assert any("社会救助" in n and "申请低保" in n for n in needs), needs  # a service need
    assert any("下水道" in n and "楼道下水道堵塞" in n for n in needs), needs  # a category
    screenshot(page, "panel-household-needs", "#detail")


def test_household_without_needs_says_so(page: Any, world: Any) -> None:
    panel = _open(page, world, f"household={world.g2_households[0]}")
    assert "暂无诉求记录" in panel


def test_case_panel_names_the_department_not_its_code(page: Any, world: Any) -> None:
    panel = _open(page, world, f"case={world.handled_case}")  # opened by link: no map feature
    assert "水务局" in panel
    assert "WATER" not in panel


def test_case_panel_shows_every_flag_of_the_report_in_words(page: Any, world: Any,
                                                             client: Any) -> None:
    doubtful, stray = add_flagged_reports(client, world)
    _open(page, world, f"case={doubtful}")
    flags = " ".join(page.locator("#detail .badge-flag").all_inner_texts())
    assert "照片拍摄点距上报位置 300 米" in flags  # location_mismatch, with the distance
    assert "照片早于上报 72 小时拍摄" in flags  # stale_photo, with the hours
    assert f"疑似与事件 #{world.handled_case} 重复" in flags  # possible_duplicate, linked
    screenshot(page, "panel-case-flags", "#detail")
    page.click("#detail .flag-possible_duplicate a")  # opens the other case in place
    page.wait_for_selector(f"#detail-title:text('#{world.handled_case}')")
    page.wait_for_selector("#case-timeline li")
    assert page.locator("#detail .badge-flag").count() == 0
    wait_centred(page)
    page.goto(f"/app/map?case={stray}")
    wait_map_ready(page)
    page.wait_for_selector("#detail .flag-outside_grid")
    wait_centred(page)
    assert page.inner_text("#detail .flag-outside_grid") == "不在任何网格内"


def test_case_flags_read_in_english(page: Any, world: Any, client: Any) -> None:
    doubtful, _stray = add_flagged_reports(client, world)
    page.goto("/app/login")
    page.click("#locale-switch")
    page.wait_for_selector("html[lang='en']")
    _open(page, world, f"case={doubtful}")
    flags = page.locator("#detail .badge-flag").all_inner_texts()
    assert "Photo taken 300 m from the reported place" in flags
    assert "Photo taken 72 h before the report" in flags
    assert f"Possible duplicate of case #{world.handled_case} (0 m away)" in flags
