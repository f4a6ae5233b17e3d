"""The web UI shows storage and takes the cache policy, against a real ``cargohold serve`` signed in as
``admin``: the repositories list has each repository's size and cache hit rate, a repository's page its
storage breakdown with its biggest and least recently pulled images, and the settings form the quota, the
age limit and the pins (a bad quota is shown next to its field)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.gc.test_gc_e2e import push
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory
from tests.support.images import write_image
from tests.ui.browser import sign_in
from tests.ui.test_forms import new_repository


def test_sizes_hit_rates_the_storage_breakdown_and_the_cache_policy(
    cargohold_factory: CargoholdFactory, container_tools: ContainerTools, page: Page, tmp_path: Path
) -> None:
    server = cargohold_factory([])
    sign_in(page, server.url)
    new_repository(page, server, "team")
    image = write_image(tmp_path / "app", tag="1", seed=3, layer_sizes=(2 * 1024 * 1024,))
    push(container_tools, server, image, "team/app")

    page.goto(f"{server.url}/ui/")
    row = page.get_by_role("row").filter(has_text="team")
    expect(row.locator("[data-label=Size]")).to_contain_text("2.0 MiB")
    expect(row.locator("[data-label='Hit rate']")).to_be_visible()

    page.goto(f"{server.url}/ui/repositories/team")
    storage = page.locator("section", has=page.get_by_role("heading", name="Storage"))
    expect(storage.get_by_test_id("storage-local")).to_contain_text("2.0 MiB")
    expect(storage.get_by_test_id("storage-cached")).to_contain_text("0 B")
    expect(storage.get_by_role("heading", name="Biggest images")).to_be_visible()
    expect(storage.get_by_role("row").filter(has_text="app").first).to_contain_text("never")

    page.goto(f"{server.url}/ui/repositories/team/settings")
    page.get_by_label("Cache quota").fill("lots")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#max_cached_bytes-error")).to_be_visible()
    page.get_by_label("Cache quota").fill("50GiB")
    page.get_by_label("Evict unused after (days)").fill("30")
    page.get_by_label("Pinned images").fill("library/alpine:3.*, tools")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("Settings saved")
    expect(page.get_by_label("Cache quota")).to_have_value(str(50 << 30))
    expect(page.get_by_label("Evict unused after (days)")).to_have_value("30")
    expect(page.get_by_label("Pinned images")).to_have_value("library/alpine:3.*, tools")
