"""The web UI's security settings against a real ``cargohold serve``, signed in as ``admin``: a proxy's name
rules set in the proxy form (and a bad pattern shown next to its field), the notice on the repository page
when a public repository has a proxy with credentials, and two admins (two browsers) whose edits of the same
proxy list would overwrite each other: the later one is refused and shown the list as it is now."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, expect

from tests.support.fixtures import CargoholdFactory
from tests.ui.browser import proxy_order, screenshot, sign_in
from tests.ui.test_forms import new_repository

SECRET = "pa55-never-shown-9d1e"


def test_name_rules_are_set_in_the_proxy_form(cargohold_factory: CargoholdFactory, page: Page) -> None:
    server = cargohold_factory([])
    sign_in(page, server.url)
    new_repository(page, server, "team")
    page.get_by_role("link", name="Add proxy").click()
    page.get_by_label("Name", exact=True).fill("company")
    page.get_by_label("URL", exact=True).fill("https://docker.example.com")
    page.get_by_label("Only for names matching").fill("Company/**")
    page.get_by_role("button", name="Add proxy").click()
    expect(page.locator("#include-error")).to_contain_text("use lowercase image-name characters")

    page.get_by_label("Only for names matching").fill("company/** base/*")
    page.get_by_label("Never for names matching").fill("company/legacy")
    screenshot(page, "proxy-form-name-rules")
    page.get_by_role("button", name="Add proxy").click()
    row = page.locator("#proxy-company")
    expect(row).to_contain_text("names: company/**, base/* except company/legacy")

    row.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Only for names matching")).to_have_value("company/** base/*")
    page.get_by_label("Only for names matching").fill("")
    page.get_by_label("Never for names matching").fill("")
    page.get_by_role("button", name="Save proxy").click()
    expect(page.locator("#proxy-company")).not_to_contain_text("names:")


def test_a_public_repository_with_a_credentialed_proxy_shows_a_warning(
    cargohold_factory: CargoholdFactory, page: Page
) -> None:
    server = cargohold_factory([])
    sign_in(page, server.url)
    new_repository(page, server, "open")
    notice = page.locator("[data-repository-warnings]")
    expect(notice).to_have_count(0)
    page.get_by_role("link", name="Add proxy").click()
    page.get_by_label("Name", exact=True).fill("company")
    page.get_by_label("URL", exact=True).fill("https://docker.example.com")
    page.get_by_label("Username").fill("robot")
    page.get_by_label("Password or access token").fill(SECRET)
    page.get_by_role("button", name="Add proxy").click()
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Repository open is public and its proxy company has credentials")
    screenshot(page, "repository-public-with-credentials")
    assert SECRET not in page.content()


def add_proxy(page: Page, name: str, url: str) -> None:
    page.get_by_role("link", name="Add proxy").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("URL", exact=True).fill(url)
    page.get_by_role("button", name="Add proxy").click()
    expect(page.get_by_role("status")).to_contain_text(f"Proxy {name} added")


def test_two_admins_editing_the_same_proxy_list_do_not_overwrite_each_other(
    cargohold_factory: CargoholdFactory, browser: BrowserContext, second_browser: BrowserContext
) -> None:
    server = cargohold_factory([])
    alice, bob = browser.new_page(), second_browser.new_page()
    sign_in(alice, server.url)
    sign_in(bob, server.url)
    new_repository(alice, server, "team")
    add_proxy(alice, "first", "https://first.example")
    add_proxy(alice, "second", "https://second.example")

    # both open the edit form of the same proxy; bob saves first
    edit_url = f"{server.url}/ui/repositories/team/proxies/first/edit"
    alice.goto(edit_url)
    bob.goto(edit_url)
    bob.get_by_label("URL", exact=True).fill("https://bob.example")
    bob.get_by_role("button", name="Save proxy").click()
    expect(bob.get_by_role("status")).to_contain_text("Proxy first saved")
    alice.get_by_label("URL", exact=True).fill("https://alice.example")
    alice.get_by_role("button", name="Save proxy").click()
    expect(alice.locator("[data-conflict]")).to_contain_text("Someone else changed this proxy")
    expect(alice.get_by_label("URL", exact=True)).to_have_value("https://bob.example")
    screenshot(alice, "proxy-form-changed-meanwhile")
    # saved again on the form as it is now, alice's change goes through
    alice.get_by_label("URL", exact=True).fill("https://alice.example")
    alice.get_by_role("button", name="Save proxy").click()
    expect(alice.locator("#proxy-first")).to_contain_text("https://alice.example")

    # both look at the list; bob reorders it; alice's move of the list she saw changes nothing
    alice.goto(f"{server.url}/ui/repositories/team")
    bob.goto(f"{server.url}/ui/repositories/team")
    bob.get_by_role("button", name="Move second up").click()
    expect(bob.get_by_role("status")).to_contain_text("Proxy second moved to priority 1")
    assert proxy_order(bob) == ["second", "first"]
    alice.get_by_role("button", name="Move first down").click()
    expect(alice.get_by_role("status")).to_contain_text("The proxies changed since this page was loaded")
    assert proxy_order(alice) == ["second", "first"]
