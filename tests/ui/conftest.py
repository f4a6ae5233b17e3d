"""Fixtures of the web UI tests: a headless Chromium context per test (see ``tests/ui/browser.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.ui.browser import browser_context


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    with browser_context(tmp_path / "chromium-profile") as context:
        yield context


@pytest.fixture
def page(browser: BrowserContext) -> Page:
    return browser.new_page()
