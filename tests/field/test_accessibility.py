"""axe-core (npm, the version frontend/field/package-lock.json pins) on the field app's
screens at the phone profile: no serious or critical violation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from client_sync.testing import LiveServer
from tests.field.conftest import FieldWatch, FieldWorld, login, open_app, phone_options

AXE = Path(__file__).resolve().parents[2] / "frontend/field/node_modules/axe-core/axe.min.js"


def _violations(page: Any) -> list[str]:
    found = page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ['violations']});
        return result.violations.filter(v => ['serious', 'critical'].includes(v.impact))
            .map(v => `${v.impact} ${v.id}: ${v.nodes.map(n => n.target.join(' ')).join(', ')}`);
    }""")
    return list(found)


def test_no_serious_or_critical_violation_on_the_field_screens(
        browser: Any, live_server: LiveServer, field_world: FieldWorld,
        watch: FieldWatch) -> None:
    assert AXE.is_file(), "axe-core is missing: run make field-app (npm ci in frontend/field)"
    # The app's CSP allows no injected script; axe is injected for the test only.
    context = browser.new_context(**phone_options(live_server.url, service_workers="block",
                                                  bypass_csp=True))
    context.set_default_timeout(20_000)
    try:
        page = open_app(context, watch)
        page.add_script_tag(path=str(AXE))
        found = {"login": _violations(page)}
        login(page, "zhou")
        screens = {"agenda": "#/agenda", "visit": f"#/visit/{field_world.households[0]}",
                   "report": "#/report", "outbox": "#/outbox", "cases": "#/cases"}
        for name, hash_ in screens.items():
            page.goto(f"/field/{hash_}")
            page.wait_for_selector(f'body[data-ready="{hash_}"]', state="attached")
            if name == "visit":
                page.click("#add-need")
            found[name] = _violations(page)
            # Chinese by default: no English word on any screen (the switch names itself).
            latin = set(re.findall(r"[A-Za-z]{3,}", page.inner_text("body"))) - {"English"}
            assert not latin, f"{name}: {latin}"
    finally:
        context.close()
    assert not any(found.values()), found
    assert not watch.problems, "\n".join(watch.problems)


# The largest text size Android offers scales the root font by about 1.3; test beyond it.
_LAYOUT = """() => {
    const tooNarrow = document.documentElement.scrollWidth > window.innerWidth;
    const targets = [...document.querySelectorAll('.tabs a, .action button, .choice')]
        .filter((e) => e.offsetParent !== null)
        .map((e) => e.getBoundingClientRect())
        .filter((r) => r.height < 44 || r.width < 44).length;
    const action = document.querySelector('.action button');
    const box = action && action.getBoundingClientRect();
    const tabs = document.querySelector('.tabs').getBoundingClientRect();
    return {tooNarrow, smallTargets: targets,
            actionAboveTabs: !box || (box.bottom <= tabs.top + 1 && box.top >= 0)};
}"""


def test_small_phone_with_large_text_keeps_targets_big_and_the_action_at_the_bottom(
        browser: Any, live_server: LiveServer, field_world: FieldWorld,
        watch: FieldWatch) -> None:
    context = browser.new_context(**phone_options(
        live_server.url, service_workers="block", viewport={"width": 360, "height": 640}))
    context.set_default_timeout(20_000)
    try:
        page = open_app(context, watch)
        login(page, "zhou")
        page.evaluate("document.documentElement.style.fontSize = '150%'")
        found = {}
        for hash_ in ("#/agenda", f"#/visit/{field_world.households[0]}", "#/report",
                      "#/outbox"):
            page.goto(f"/field/{hash_}")
            page.wait_for_selector(f'body[data-ready="{hash_}"]', state="attached")
            found[hash_] = page.evaluate(_LAYOUT)
    finally:
        context.close()
    assert all(v == {"tooNarrow": False, "smallTargets": 0, "actionAboveTabs": True}
               for v in found.values()), found
    assert not watch.problems, "\n".join(watch.problems)
