"""Headless Chromium for the web UI tests: Debian's ``/usr/bin/chromium`` driven by Playwright (which never
downloads a browser here), a fresh empty profile per test, and helpers the tests share (signing in through the
sign-in page, screenshots under ``artifacts/ui/`` of the checkout, the proxy order as shown, a raw form POST
for CSRF checks).
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from playwright.sync_api import BrowserContext, Page, Playwright, expect, sync_playwright

from tests.support.server import ADMIN_PASSWORD

CHROMIUM: Final = "/usr/bin/chromium"
CHROMIUM_ARGS: Final = (
    "--no-sandbox",  # the tests run as root in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
LAPTOP: Final = {"width": 1280, "height": 800}
PHONE: Final = {"width": 390, "height": 844}
ARTIFACTS: Final = Path(__file__).resolve().parents[2] / "artifacts" / "ui"


def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError("no chromium: run scripts/install-test-deps (it apt-installs it)")
    return CHROMIUM


def launch(playwright: Playwright, profile: Path, *, javascript: bool = True) -> BrowserContext:
    """A headless Chromium with an empty profile directory at ``profile`` (close it when done)."""
    profile.mkdir(parents=True, exist_ok=True)
    context = playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=chromium_path(),
        headless=True,
        args=list(CHROMIUM_ARGS),
        viewport=LAPTOP,
        java_script_enabled=javascript,
    )
    context.set_default_timeout(30_000)
    return context


@contextmanager
def browser_context(profile: Path, *, javascript: bool = True) -> Iterator[BrowserContext]:
    """A headless Chromium with an empty profile directory at ``profile``."""
    with sync_playwright() as playwright:
        context = launch(playwright, profile, javascript=javascript)
        try:
            yield context
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


def sign_in(page: Page, server_url: str, user: str = "admin", password: str = ADMIN_PASSWORD) -> None:
    """Sign in through the sign-in page as ``user`` (the test servers' ``admin`` by default)."""
    page.goto(f"{server_url}/ui/signin")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("[data-signed-in]")).to_have_text(user)


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as a test artefact and print where it went."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def proxy_order(page: Page) -> list[str]:
    """Proxy names in the order the repository page lists them."""
    rows = page.locator(".proxy-list > li")
    names: list[str] = rows.evaluate_all("items => items.map(i => i.dataset.proxy)")
    return names


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the viewport (0 when nothing scrolls sideways)."""
    overflow: int = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    return overflow


def post_form(url: str, fields: Mapping[str, str], *, cookie: str | None = None) -> tuple[int, str]:
    """POST an urlencoded form without following redirects; return status and body."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if cookie is not None:
        headers["Cookie"] = cookie
    data = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)  # noqa: S310
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
