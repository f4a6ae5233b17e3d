"""Fixtures of the web UI tests: a headless Chromium context per test, and a second one with its own cookies
for a second user in the same test (see ``tests/ui/browser.py``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright

from tests.ui.browser import launch


@pytest.fixture
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture
def browser(playwright: Playwright, tmp_path: Path) -> Iterator[BrowserContext]:
    context = launch(playwright, tmp_path / "chromium-profile")
    yield context
    context.close()
    shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


@pytest.fixture
def second_browser(playwright: Playwright, tmp_path: Path) -> Iterator[BrowserContext]:
    """Another browser (own profile, own cookies): a second person using the UI at the same time."""
    context = launch(playwright, tmp_path / "chromium-profile-2")
    yield context
    context.close()
    shutil.rmtree(tmp_path / "chromium-profile-2", ignore_errors=True)


@pytest.fixture
def page(browser: BrowserContext) -> Page:
    return browser.new_page()
