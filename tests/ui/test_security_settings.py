"""The web UI's security settings against a real ``cargohold serve``, signed in as ``admin``: a proxy's name
rules set in the proxy form (and a bad pattern shown next to its field), and the notice on the repository
page when a public repository has a proxy with credentials."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.support.fixtures import CargoholdFactory
from tests.ui.browser import sign_in
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
    assert SECRET not in page.content()
