"""Storage you can see through /api/v1 and /metrics: bytes per repository (local and cached; a blob shared by
images of one repository counted once, by two repositories in each and once in the store's total), the
disk's free space, a repository's biggest and least recently pulled images; and the cache policy fields of a
repository (validated like every other field)."""

from __future__ import annotations

from tests.oci.helpers import Registry, push_blob, push_image

from .conftest import ManagementApi
from .test_metrics import sample


async def test_storage_counts_pushed_bytes_per_repository_and_each_blob_once_in_the_total(
    api: ManagementApi,
) -> None:
    await api.create_repository("one")
    await api.create_repository("two")
    registry = Registry(api.client, api.authorization)
    first = await push_image(registry, "one/app", "1")
    size = len(first.manifest) + len(first.config) + len(first.layer)
    await push_blob(registry, "one/other", first.layer)  # the same layer in a second image of one
    await push_blob(registry, "two/copy", first.layer)  # and in another repository

    one = (await api.ok("GET", "repositories/one"))["storage"]
    assert one == {"repository": "one", "local_bytes": size, "cached_bytes": 0, "total_bytes": size}
    listed = {repo["name"]: repo["storage"] for repo in await api.ok("GET", "repositories")}
    assert listed["one"] == one
    assert listed["two"]["local_bytes"] == len(first.layer)

    store = await api.ok("GET", "storage")
    assert store["total_bytes"] == size  # the layer two holds is the same bytes
    by_name = {repo["repository"]: repo for repo in store["repositories"]}
    assert by_name["two"]["total_bytes"] == len(first.layer)
    assert store["disk_total_bytes"] > 0
    assert 0 < store["disk_free_bytes"] <= store["disk_total_bytes"]

    text = (await api.get("/metrics")).body.decode()
    assert sample(text, "cargohold_repository_storage_bytes", repository="one", kind="local") == size
    assert sample(text, "cargohold_repository_storage_bytes", repository="one", kind="cached") == 0
    assert sample(text, "cargohold_store_bytes") == size
    assert sample(text, "cargohold_disk_free_bytes") > 0


async def test_a_repository_breakdown_lists_its_biggest_and_least_recently_pulled_images(
    api: ManagementApi,
) -> None:
    await api.create_repository("team")
    registry = Registry(api.client, api.authorization)
    await push_image(registry, "team/small", "1")
    await push_image(registry, "team/big", "1")
    await push_blob(registry, "team/big", b"x" * 5000)
    await push_image(registry, "team/big", "2")  # two manifests: the bigger image
    pulled = await registry.get("/v2/team/small/manifests/1")
    assert pulled.status == 200

    breakdown = await api.ok("GET", "repositories/team/storage")
    assert breakdown["storage"]["local_bytes"] > 0
    assert [image["name"] for image in breakdown["biggest_images"]] == ["big", "small"]
    least = breakdown["least_recently_pulled"]
    assert least[0]["name"] == "big"
    assert least[0]["last_pulled_at"] is None
    assert least[1]["name"] == "small"
    assert least[1]["last_pulled_at"] is not None
    assert (await api.get("repositories/nothing/storage")).status == 404


async def test_only_a_global_admin_sees_the_whole_store(api: ManagementApi) -> None:
    anonymous = api.as_(None)
    assert (await anonymous.get("storage")).status == 401


async def test_the_cache_policy_is_set_shown_and_validated(api: ManagementApi) -> None:
    created = await api.create_repository(
        "cache", max_cached_bytes="100MiB", evict_unused_after_days=30, pins=["library/alpine:3.*", "tools"]
    )
    assert created["max_cached_bytes"] == 100 * 1024 * 1024
    assert created["evict_unused_after_days"] == 30
    assert created["pins"] == ["library/alpine:3.*", "tools"]
    changed = await api.ok("PATCH", "repositories/cache", {"max_cached_bytes": 0, "pins": []})
    assert (changed["max_cached_bytes"], changed["evict_unused_after_days"], changed["pins"]) == (0, 30, [])
    for field, value in (
        ("max_cached_bytes", "lots"),
        ("max_cached_bytes", -1),
        ("evict_unused_after_days", True),
        ("evict_unused_after_days", 99999),
        ("pins", ["bad pin with spaces"]),
        ("pins", [""]),
    ):
        answer = await api.request("PATCH", "repositories/cache", {field: value})
        assert answer.status == 422, (field, value, str(answer))
        assert answer.error["field"].split(".")[0] == field
