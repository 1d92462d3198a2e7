"""The suite's one headless Chromium: Debian's, never a browser Playwright downloads.

The ``browser`` fixture lives in the root ``tests/conftest.py`` so the pages' tests, the field
app's and the Enketo test share one Playwright: a second sync Playwright started while the
first runs fails ("Sync API inside the asyncio loop").
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--lang=zh-CN"]


def chromium_path() -> str | None:
    """Debian's chromium (or ``GRIDWORK_CHROMIUM``); never a browser Playwright downloads."""
    configured = os.environ.get("GRIDWORK_CHROMIUM")
    if configured:
        return configured
    return shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def launch_browser() -> Iterator[Any]:
    """One headless Chromium (the body of the session fixture ``browser``)."""
    path = chromium_path()
    if path is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()
