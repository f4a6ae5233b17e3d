"""Web UI forms against a real ``cargohold serve``, signed in as ``admin``: validation messages next to the
field, passwords that are never sent back, CSRF refusals, config-managed repositories shown read-only, the
step-by-step connection test, and reordering that works with JavaScript turned off."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from tests.proxy_e2e.upstreams import closed_port, proxy, repository
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.server import CargoholdServer
from tests.ui.browser import browser_context, post_form, proxy_order, screenshot, sign_in

SECRET = "pa55-never-shown-7f3c"


def new_repository(page: Page, server: CargoholdServer, name: str) -> None:
    page.goto(f"{server.url}/ui/repositories/new")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Create repository").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)


def test_bad_input_is_shown_next_to_its_field_and_the_password_is_never_sent_back(
    cargohold_factory: CargoholdFactory, page: Page
) -> None:
    server = cargohold_factory([])
    sign_in(page, server.url)
    new_repository(page, server, "team")
    page.get_by_role("link", name="Add proxy").click()
    page.get_by_label("Name", exact=True).fill("private")
    page.get_by_label("URL", exact=True).fill("registry.example.com")  # no scheme
    page.get_by_label("Username").fill("robot")
    page.get_by_label("Password or access token").fill(SECRET)
    page.get_by_role("button", name="Add proxy").click()

    url = page.get_by_label("URL", exact=True)
    expect(url).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#url-error")).to_be_visible()
    assert url.get_attribute("aria-describedby") is not None
    assert "url-error" in (url.get_attribute("aria-describedby") or "")
    expect(page.get_by_role("alert")).to_be_visible()  # the summary links to the field
    expect(page.get_by_label("Username")).to_have_value("robot")
    expect(page.get_by_label("Password or access token")).to_have_value("")
    expect(page.get_by_text("The password you typed is not sent back")).to_be_visible()
    assert SECRET not in page.content()
    screenshot(page, "proxy-form-errors-1280")

    page.get_by_label("URL", exact=True).fill("https://registry.example.com")
    page.get_by_label("Connection timeout (ms)").fill("-5")
    page.get_by_label("Password or access token").fill(SECRET)
    page.get_by_role("button", name="Add proxy").click()
    expect(page.locator("#connection_timeout_ms-error")).to_be_visible()
    expect(page.locator("#url-error")).to_have_count(0)

    page.get_by_label("Connection timeout (ms)").fill("3000")
    page.get_by_label("Password or access token").fill(SECRET)
    page.get_by_role("button", name="Add proxy").click()
    expect(page.get_by_role("status")).to_contain_text("Proxy private added")
    expect(page.locator("#proxy-private")).to_contain_text("password set")
    assert SECRET not in page.content()

    page.locator("#proxy-private").get_by_role("link", name="Edit").click()
    password = page.get_by_label("New password")
    expect(password).to_have_value("")
    assert SECRET not in page.content()
    # saving without typing a password keeps the stored one; "clear" removes it
    page.get_by_role("button", name="Save proxy").click()
    expect(page.locator("#proxy-private")).to_contain_text("password set")
    page.locator("#proxy-private").get_by_role("link", name="Edit").click()
    page.get_by_label("Clear the stored password").check()
    page.get_by_role("button", name="Save proxy").click()
    expect(page.locator("#proxy-private")).not_to_contain_text("password set")


def test_a_post_without_the_session_token_is_refused(cargohold_factory: CargoholdFactory, page: Page) -> None:
    server = cargohold_factory([])
    sign_in(page, server.url)
    new_repository(page, server, "team")
    url = f"{server.url}/ui/repositories/team/settings"
    fields = {"visibility": "private", "tag_ttl_seconds": "60"}

    assert post_form(url, fields)[0] == 403
    cookies = {c["name"]: c for c in page.context.cookies()}
    cookie = cookies["cargohold_csrf"]
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    signed_in = cookies["cargohold_session"]["value"]
    # the right token without a session is sent to sign in, and changes nothing
    status, _ = post_form(
        url, {**fields, "csrf_token": cookie["value"]}, cookie=f"cargohold_csrf={cookie['value']}"
    )
    assert status == 303
    page.goto(url)
    expect(page.get_by_label("Public")).to_be_checked()
    session = f"cargohold_csrf={cookie['value']}; cargohold_session={signed_in}"
    assert post_form(url, {**fields, "csrf_token": "x" * 43}, cookie=session)[0] == 403
    assert post_form(url, fields, cookie=session)[0] == 403
    assert post_form(url, {**fields, "csrf_token": cookie["value"]}, cookie=session)[0] == 303

    page.goto(f"{server.url}/ui/repositories/team/settings")
    expect(page.get_by_label("Private")).to_be_checked()
    expect(page.get_by_label("Tag TTL (seconds)")).to_have_value("60")
    hidden = page.locator('form input[name="csrf_token"]')
    assert hidden.count() >= 2
    assert {hidden.nth(i).get_attribute("value") for i in range(hidden.count())} == {cookie["value"]}


def test_a_repository_from_the_config_file_is_shown_read_only(
    cargohold_factory: CargoholdFactory, page: Page
) -> None:
    declared = repository("hub", [proxy("upstream", "https://registry.example.com", username="bot")])
    server = cargohold_factory([declared])
    sign_in(page, server.url)
    page.goto(f"{server.url}/ui/")
    row = page.get_by_role("row").filter(has_text="hub")
    expect(row).to_contain_text("managed by config")
    expect(row).to_contain_text("1")
    row.get_by_role("link", name="hub").click()

    expect(page.get_by_role("note")).to_contain_text("Managed by the configuration file")
    expect(page.locator("#proxy-upstream")).to_contain_text("https://registry.example.com")
    expect(page.get_by_role("link", name="Add proxy")).to_have_count(0)
    expect(page.get_by_role("switch")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^Move"))).to_have_count(0)
    expect(page.locator("[data-sortable]")).to_have_count(0)
    page.get_by_role("link", name="Settings").click()
    expect(page.locator("form[action$='/settings']")).to_have_count(0)
    expect(page.locator(".settings-list")).to_contain_text("upstream")
    screenshot(page, "settings-config-managed-1280")

    status, _ = post_form(f"{server.url}/ui/repositories/hub/proxies/upstream/move", {"position": "1"})
    assert status == 403  # no token: refused before anything else


def test_the_connection_test_shows_each_step(
    cargohold_factory: CargoholdFactory, distribution_factory: DistributionFactory, page: Page
) -> None:
    upstream = distribution_factory()
    server = cargohold_factory(
        [repository("hub", [proxy("good", upstream.url), proxy("down", f"http://127.0.0.1:{closed_port()}")])]
    )
    sign_in(page, server.url)
    page.goto(f"{server.url}/ui/repositories/hub")
    page.locator("#proxy-good").get_by_role("button", name="Test").click()
    good = page.locator("#proxy-good .probe")
    expect(good).to_contain_text("Connection test passed")
    expect(good.locator(".step-ok").first).to_contain_text("✓")
    expect(good.locator(".step-ms").first).to_contain_text("ms")

    page.locator("#proxy-down").get_by_role("button", name="Test").click()
    down = page.locator("#proxy-down .probe")
    expect(down).to_contain_text("Connection test failed")
    expect(down.locator(".step-fail")).to_have_count(1)  # the first step fails, the rest are not run
    expect(down.locator(".step-fail")).to_contain_text("✗")
    expect(down.locator(".step-skip").first).to_contain_text("not run")


def test_reordering_and_switching_work_without_javascript(
    cargohold_factory: CargoholdFactory, tmp_path: Path
) -> None:
    server = cargohold_factory([])
    with browser_context(tmp_path / "no-js", javascript=False) as context:
        page = new_page(context)
        sign_in(page, server.url)  # the sign-in form works without JavaScript too
        new_repository(page, server, "plain")
        for name in ("one", "two", "three"):
            page.get_by_role("link", name="Add proxy").click()
            page.get_by_label("Name", exact=True).fill(name)
            page.get_by_label("URL", exact=True).fill(f"https://{name}.example.com")
            page.get_by_role("button", name="Add proxy").click()
        assert proxy_order(page) == ["one", "two", "three"]
        page.get_by_role("button", name="Move three up").click()
        assert proxy_order(page) == ["one", "three", "two"]
        page.get_by_role("button", name="Move one down").click()
        assert proxy_order(page) == ["three", "one", "two"]
        page.get_by_role("switch", name="Active: two").click()
        expect(page.get_by_role("switch", name="Active: two")).to_have_attribute("aria-checked", "false")
        expect(page.locator("#proxy-two")).to_contain_text("inactive")


def new_page(context: BrowserContext) -> Page:
    return context.new_page()
