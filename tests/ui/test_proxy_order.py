"""The web UI end to end: create a repository, add two proxies through the form, reorder them (once with
the up/down buttons from the keyboard, once by drag and drop) and deactivate one, and see each change decide
which real Distribution upstream answers the next pull. Saves screenshots of the main pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.proxy_e2e.upstreams import manifest, seed_upstream
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.server import CargoholdServer
from tests.ui.browser import PHONE, horizontal_overflow, proxy_order, screenshot, sign_in

pytestmark = pytest.mark.clients


def pulled_from(server: CargoholdServer) -> tuple[str, str]:
    answer = manifest(server, "mirror/team/app", "1.0")
    assert answer.status == 200, answer.body[:300]
    return answer.headers["Docker-Content-Digest"], answer.headers["Cargohold-Upstream"]


def add_proxy(page: Page, name: str, url: str) -> None:
    page.get_by_role("link", name="Add proxy").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("URL", exact=True).fill(url)
    page.get_by_role("button", name="Add proxy").click()
    expect(page.get_by_role("status")).to_contain_text(f"Proxy {name} added")


def test_reordering_and_deactivating_proxies_in_the_ui_changes_which_upstream_serves_the_next_pull(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
    page: Page,
) -> None:
    first = distribution_factory(name="first")
    second = distribution_factory(name="second")
    in_first = seed_upstream(container_tools, first, tmp_path / "a", "team/app", "1.0", seed=61)
    in_second = seed_upstream(container_tools, second, tmp_path / "b", "team/app", "1.0", seed=62)
    assert in_first.digest != in_second.digest
    server = cargohold_factory([], name="ui")

    sign_in(page, server.url)
    page.goto(f"{server.url}/ui/")
    page.get_by_role("link", name="New repository").first.click()
    page.get_by_label("Name", exact=True).fill("mirror")
    page.get_by_label("Tag TTL (seconds)").fill("0")  # every pull revalidates the tag with the proxies
    page.get_by_role("button", name="Create repository").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("mirror")

    add_proxy(page, "first", first.url)
    add_proxy(page, "second", second.url)
    assert proxy_order(page) == ["first", "second"]
    assert pulled_from(server) == (in_first.digest, "first")
    page.goto(f"{server.url}/ui/repositories/mirror/images")
    expect(page.locator(".image-name")).to_have_text("team/app")
    expect(page.locator(".tags tbody tr").first).to_contain_text("Cached via first")
    screenshot(page, "images-1280")

    # keyboard: focus "Move second up" and press Enter; focus comes back to the row's move buttons
    page.goto(f"{server.url}/ui/repositories/mirror")
    page.get_by_role("button", name="Move second up").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert proxy_order(page) == ["second", "first"]
    expect(page.get_by_role("button", name="Move second down")).to_be_focused()
    expect(page.get_by_role("status")).to_contain_text("Proxy second moved to priority 1")
    assert pulled_from(server) == (in_second.digest, "second")

    # drag and drop: pick "first" up by its handle and drop it above "second"
    handle = page.locator("#proxy-first [data-drag-handle]").bounding_box()
    target = page.locator("#proxy-second").bounding_box()
    assert handle is not None
    assert target is not None
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(target["x"] + 40, target["y"] + 4, steps=12)
    with page.expect_navigation():
        page.mouse.up()
    assert proxy_order(page) == ["first", "second"]
    expect(page.get_by_role("status")).to_contain_text("Proxy first moved to priority 1")
    assert pulled_from(server) == (in_first.digest, "first")

    # deactivate "first" with its switch: it keeps its place but is skipped
    switch = page.get_by_role("switch", name="Active: first")
    expect(switch).to_have_attribute("aria-checked", "true")
    with page.expect_navigation():
        switch.click()
    expect(page.get_by_role("switch", name="Active: first")).to_have_attribute("aria-checked", "false")
    expect(page.get_by_role("switch", name="Active: first")).to_be_focused()
    assert proxy_order(page) == ["first", "second"]
    assert pulled_from(server) == (in_second.digest, "second")

    page.locator("#proxy-second").get_by_role("button", name="Test").click()
    expect(page.locator("#proxy-second .probe")).to_contain_text("Connection test passed")
    screenshot(page, "repository-1280")
    page.goto(f"{server.url}/ui/")
    expect(page.get_by_role("link", name="mirror")).to_be_visible()
    screenshot(page, "repositories-1280")

    page.set_viewport_size(PHONE)
    for path, name in (("/ui/", "repositories-390"), ("/ui/repositories/mirror", "repository-390")):
        page.goto(server.url + path)
        assert horizontal_overflow(page) <= 0, f"{path} scrolls sideways at 390px"
        screenshot(page, name)
    page.goto(f"{server.url}/ui/repositories/mirror/images")
    assert horizontal_overflow(page) <= 0
    screenshot(page, "images-390")
