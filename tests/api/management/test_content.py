"""Content of a repository through /api/v1: images (names hold slashes) and tags with digest, size and
source; deleting a tag or an image; purging cached content; statistics."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from tests.oci.helpers import Registry, push_image

from .conftest import MANAGED, ManagementApi

REPO = "team"


@pytest.fixture
async def registry(api: ManagementApi) -> Registry:
    await api.create_repository(REPO)
    return Registry(api.client, api.authorization)


async def test_images_list_pushed_images_with_their_tags(api: ManagementApi, registry: Registry) -> None:
    assert await api.ok("GET", f"repositories/{REPO}/images") == []
    pushed = await push_image(registry, f"{REPO}/library/app", "1.0")
    await push_image(registry, f"{REPO}/tool", "latest")
    images = {image["name"]: image for image in await api.ok("GET", f"repositories/{REPO}/images")}
    assert set(images) == {"library/app", "tool"}
    app = images["library/app"]
    assert app["source"] == "local"
    assert app["manifests"] == 1
    (tag,) = app["tags"]
    assert tag["tag"] == "1.0"
    assert tag["digest"] == pushed.digest
    assert tag["media_type"] == pushed.media_type
    assert tag["size"] >= len(pushed.manifest) + len(pushed.config) + len(pushed.layer)
    assert tag["source"] == "local"
    assert tag["proxy_name"] is None
    assert app["size"] >= tag["size"]


async def test_an_image_name_with_slashes_is_one_path_parameter(
    api: ManagementApi, registry: Registry
) -> None:
    pushed = await push_image(registry, f"{REPO}/library/app", "1.0")
    plain = await api.ok("GET", f"repositories/{REPO}/images/library/app")
    encoded = await api.ok("GET", f"repositories/{REPO}/images/{quote('library/app', safe='')}")
    assert plain == encoded
    assert plain["name"] == "library/app"
    assert [t["digest"] for t in plain["tags"]] == [pushed.digest]


async def test_delete_a_tag_then_the_image(api: ManagementApi, registry: Registry) -> None:
    await push_image(registry, f"{REPO}/library/app", "1.0")
    await push_image(registry, f"{REPO}/library/app", "2.0")
    assert await api.ok("DELETE", f"repositories/{REPO}/images/library/app/tags/1.0", status=204) is None
    image = await api.ok("GET", f"repositories/{REPO}/images/library/app")
    assert [t["tag"] for t in image["tags"]] == ["2.0"]
    assert (await registry.get(f"/v2/{REPO}/library/app/manifests/1.0")).status == 404
    await api.fails("DELETE", f"repositories/{REPO}/images/library/app/tags/1.0", None, 404, "not_found")
    assert await api.ok("DELETE", f"repositories/{REPO}/images/library/app", status=204) is None
    await api.fails("GET", f"repositories/{REPO}/images/library/app", None, 404, "not_found")
    assert (await registry.get(f"/v2/{REPO}/library/app/manifests/2.0")).status == 404
    assert await api.ok("GET", f"repositories/{REPO}/images") == []


async def test_content_of_a_config_managed_repository_can_be_deleted(
    api: ManagementApi, registry: Registry
) -> None:
    await push_image(registry, f"{MANAGED}/app", "1.0")
    assert await api.ok("DELETE", f"repositories/{MANAGED}/images/app/tags/1.0", status=204) is None
    assert await api.ok("DELETE", f"repositories/{MANAGED}/images/app", status=204) is None


async def test_unknown_image_tag_or_repository_answers_404(api: ManagementApi, registry: Registry) -> None:
    await push_image(registry, f"{REPO}/app", "1.0")
    for method, path in [
        ("GET", "repositories/nothing/images"),
        ("GET", "repositories/nothing/images/app"),
        ("GET", f"repositories/{REPO}/images/nothing"),
        ("GET", f"repositories/{REPO}/images/Not_A_Name"),
        ("DELETE", f"repositories/{REPO}/images/nothing"),
        ("DELETE", f"repositories/{REPO}/images/app/tags/nothing"),
        ("DELETE", f"repositories/{REPO}/images/nothing/tags/1.0"),
        ("GET", "repositories/nothing/stats"),
    ]:
        await api.fails(method, path, None, 404, "not_found")
    await api.fails("POST", "repositories/nothing/purge", {}, 404, "not_found")


async def test_purge_leaves_local_content(api: ManagementApi, registry: Registry) -> None:
    await push_image(registry, f"{REPO}/app", "1.0")
    result = await api.ok("POST", f"repositories/{REPO}/purge")
    assert result == {"manifests": 0, "tags": 0, "blobs": 0}
    assert await api.ok("POST", f"repositories/{REPO}/purge", {}) == result
    assert [i["name"] for i in await api.ok("GET", f"repositories/{REPO}/images")] == ["app"]
    error = await api.fails("POST", f"repositories/{REPO}/purge", {"proxies": "x"}, 422, "invalid")
    assert error["field"] == "proxies"


async def test_purge_by_the_name_of_a_removed_proxy(api: ManagementApi) -> None:
    """A removed proxy's cached content stays until purged by its name."""
    await api.create_repository(REPO, proxies=[{"name": "gone", "url": "https://gone.example"}])
    await api.ok("DELETE", f"repositories/{REPO}/proxies/gone", status=204)
    assert await api.ok("POST", f"repositories/{REPO}/purge", {"proxy": "gone"}) == {
        "manifests": 0,
        "tags": 0,
        "blobs": 0,
    }


async def test_stats_of_a_repository(api: ManagementApi) -> None:
    stats = await api.ok("GET", f"repositories/{MANAGED}/stats")
    assert stats["repository"] == MANAGED
    assert [p["proxy"] for p in stats["proxies"]] == ["origin"]
    origin = stats["proxies"][0]
    assert origin["healthy"] is True
    assert origin["failures"] == {} or all(v == 0 for v in origin["failures"].values())
