"""Contract: repositories, hosts, the default repository, proxies, and syncing the declared repositories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cargohold.errors import ConfigError, NameUnknownError, RepositoryExistsError
from cargohold.metadata.sql import SqlMetadataStore
from cargohold.models import (
    ContentSource,
    Digest,
    ManifestRecord,
    ManifestReferences,
    MediaType,
    Proxy,
    Repository,
    Upload,
    Visibility,
)

HUB = Proxy(name="docker-hub", url="https://registry-1.docker.io")
COMPANY = Proxy(
    name="company",
    url="https://docker.example.com",
    username="me",
    password="encrypted-secret",
    ssl_validation=False,
    connection_timeout_ms=1500,
    active=False,
)


async def test_create_and_get_repository(store: SqlMetadataStore) -> None:
    before = datetime.now(UTC)
    created = await store.create_repository(
        Repository(
            name="hub",
            visibility=Visibility.PRIVATE,
            hosts=("Docker.IO", "index.docker.io"),
            tag_ttl_seconds=60,
        ),
        [HUB, COMPANY],
    )
    assert created.id is not None
    assert created.created_at is not None
    assert created.created_at.tzinfo is not None
    assert created.created_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=5) <= created.created_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert created.visibility is Visibility.PRIVATE
    assert created.hosts == ("docker.io", "index.docker.io")
    assert created.tag_ttl_seconds == 60
    assert not created.default
    assert not created.managed_by_config
    assert await store.get_repository("hub") == created
    assert await store.get_repository("nope") is None


async def test_duplicate_repository_name_is_refused(store: SqlMetadataStore) -> None:
    await store.create_repository(Repository(name="hub"), [HUB])
    with pytest.raises(RepositoryExistsError):
        await store.create_repository(Repository(name="hub", visibility=Visibility.PRIVATE))
    repositories = await store.list_repositories()
    assert [r.visibility for r in repositories] == [Visibility.PUBLIC]
    assert len(await store.list_proxies(repositories[0].id or 0)) == 1


async def test_duplicate_proxy_name_is_refused_and_nothing_is_created(store: SqlMetadataStore) -> None:
    with pytest.raises(RepositoryExistsError):
        await store.create_repository(Repository(name="hub"), [HUB, Proxy(name=HUB.name, url="https://x")])
    assert await store.get_repository("hub") is None


async def test_proxies_are_listed_in_priority_order_with_every_setting(store: SqlMetadataStore) -> None:
    repository = await store.create_repository(Repository(name="hub"), [COMPANY, HUB])
    assert repository.id is not None
    listed = await store.list_proxies(repository.id)
    assert [(p.name, p.priority) for p in listed] == [("company", 1), ("docker-hub", 2)]
    company = listed[0]
    assert company.id is not None
    assert (company.url, company.username, company.password) == (COMPANY.url, "me", "encrypted-secret")
    assert (company.ssl_validation, company.connection_timeout_ms, company.active) == (False, 1500, False)
    hub = listed[1]
    assert (hub.username, hub.password, hub.ssl_validation, hub.connection_timeout_ms, hub.active) == (
        None,
        None,
        True,
        5000,
        True,
    )
    assert await store.list_proxies(repository.id + 1000) == []


async def test_list_repositories_in_name_order(store: SqlMetadataStore) -> None:
    for name in ("zeta", "alpha", "mid-1", "mid"):
        await store.create_repository(Repository(name=name))
    assert [r.name for r in await store.list_repositories()] == ["alpha", "mid", "mid-1", "zeta"]


async def test_one_default_at_most(store: SqlMetadataStore) -> None:
    assert await store.default_repository() is None
    await store.create_repository(Repository(name="first", default=True))
    assert (await store.default_repository() or Repository("x")).name == "first"
    await store.create_repository(Repository(name="second", default=True))
    assert (await store.default_repository() or Repository("x")).name == "second"
    first = await store.update_repository(Repository(name="first", default=True))
    assert first.default
    assert {r.name: r.default for r in await store.list_repositories()} == {"first": True, "second": False}
    await store.update_repository(Repository(name="first", default=False))
    assert await store.default_repository() is None


async def test_repository_for_host_is_case_insensitive(store: SqlMetadataStore) -> None:
    await store.create_repository(Repository(name="hub", hosts=("docker.io",)))
    await store.create_repository(Repository(name="quay", hosts=("Quay.io",)))
    assert (await store.repository_for_host("DOCKER.io") or Repository("x")).name == "hub"
    assert (await store.repository_for_host("quay.io") or Repository("x")).name == "quay"
    assert await store.repository_for_host("ghcr.io") is None


async def test_update_repository_replaces_settings_not_proxies_or_content(store: SqlMetadataStore) -> None:
    created = await store.create_repository(Repository(name="hub", hosts=("docker.io",)), [HUB])
    assert created.id is not None
    digest = Digest.of(b"blob")
    await store.link_blob(created.id, "library/nginx", digest, 4)
    updated = await store.update_repository(
        Repository(name="hub", visibility=Visibility.PRIVATE, hosts=("mirror.gcr.io",), tag_ttl_seconds=5)
    )
    assert (updated.id, updated.created_at) == (created.id, created.created_at)
    assert (updated.visibility, updated.hosts, updated.tag_ttl_seconds) == (
        Visibility.PRIVATE,
        ("mirror.gcr.io",),
        5,
    )
    assert await store.repository_for_host("docker.io") is None
    assert (await store.repository_for_host("mirror.gcr.io") or Repository("x")).name == "hub"
    assert [p.name for p in await store.list_proxies(created.id)] == ["docker-hub"]
    assert await store.linked_blob_size(created.id, "library/nginx", digest) == 4


async def test_update_unknown_repository_is_a_domain_error(store: SqlMetadataStore) -> None:
    with pytest.raises(NameUnknownError):
        await store.update_repository(Repository(name="ghost"))


async def test_delete_repository_removes_everything_of_it(store: SqlMetadataStore) -> None:
    doomed = await store.create_repository(Repository(name="doomed", hosts=("doomed.io",)), [HUB])
    kept = await store.create_repository(Repository(name="kept"), [HUB])
    assert doomed.id is not None
    assert kept.id is not None
    digest = Digest.of(b"manifest")
    for repository_id in (doomed.id, kept.id):
        await store.link_blob(repository_id, "app", Digest.of(b"layer"), 5)
        await store.put_manifest(
            repository_id,
            "app",
            ManifestRecord(digest, MediaType.OCI_MANIFEST, 8),
            ManifestReferences(blobs=(Digest.of(b"layer"),)),
            tag="v1",
        )
        await store.create_upload(
            Upload(id=f"upload-{repository_id}", repository_id=repository_id, image="app")
        )

    assert await store.delete_repository("doomed")
    assert not await store.delete_repository("doomed")
    assert await store.get_repository("doomed") is None
    assert await store.repository_for_host("doomed.io") is None
    assert await store.list_proxies(doomed.id) == []
    assert not await store.image_exists(doomed.id, "app")
    assert await store.get_tag(doomed.id, "app", "v1") is None
    assert await store.get_upload(f"upload-{doomed.id}") is None
    assert (await store.catalog(None, None)).items == ["kept/app"]
    # The other repository is untouched.
    assert await store.get_tag(kept.id, "app", "v1") is not None
    assert await store.get_upload(f"upload-{kept.id}") is not None
    assert [p.name for p in await store.list_proxies(kept.id)] == ["docker-hub"]

    # The name is free again and the new repository starts empty.
    again = await store.create_repository(Repository(name="doomed"))
    assert again.id is not None
    assert (await store.list_tags(again.id, "app", None, None)).items == []


# --- declared repositories ------------------------------------------------------------------------


async def test_sync_creates_declared_repositories_managed_by_config(store: SqlMetadataStore) -> None:
    await store.sync_declared_repositories(
        [
            (Repository(name="hub", default=True, hosts=("docker.io",), tag_ttl_seconds=300), [HUB, COMPANY]),
            (Repository(name="private", visibility=Visibility.PRIVATE), []),
        ]
    )
    hub = await store.get_repository("hub")
    private = await store.get_repository("private")
    assert hub is not None
    assert private is not None
    assert hub.id is not None
    assert hub.managed_by_config
    assert private.managed_by_config
    assert hub.default
    assert not private.default
    assert hub.hosts == ("docker.io",)
    assert private.visibility is Visibility.PRIVATE
    assert [(p.name, p.priority) for p in await store.list_proxies(hub.id)] == [
        ("docker-hub", 1),
        ("company", 2),
    ]


async def test_sync_updates_settings_and_replaces_the_proxy_list_in_order(store: SqlMetadataStore) -> None:
    mirror = Proxy(name="mirror", url="https://mirror.example.com")
    await store.sync_declared_repositories([(Repository(name="hub", hosts=("docker.io",)), [HUB, COMPANY])])
    hub = await store.get_repository("hub")
    assert hub is not None
    assert hub.id is not None
    ids = {p.name: p.id for p in await store.list_proxies(hub.id)}
    await store.link_blob(hub.id, "library/nginx", Digest.of(b"kept"), 4)

    changed_company = Proxy(name="company", url="https://new.example.com", password="new-secret")
    await store.sync_declared_repositories(
        [
            (
                Repository(
                    name="hub", visibility=Visibility.PRIVATE, hosts=("index.docker.io",), tag_ttl_seconds=9
                ),
                [changed_company, mirror],
            )
        ]
    )
    updated = await store.get_repository("hub")
    assert updated is not None
    assert (updated.id, updated.created_at) == (hub.id, hub.created_at)
    assert (updated.visibility, updated.hosts, updated.tag_ttl_seconds) == (
        Visibility.PRIVATE,
        ("index.docker.io",),
        9,
    )
    listed = await store.list_proxies(hub.id)
    assert [(p.name, p.priority) for p in listed] == [("company", 1), ("mirror", 2)]
    assert listed[0].id == ids["company"]  # the same proxy, edited in place
    assert (listed[0].url, listed[0].password, listed[0].username) == (
        "https://new.example.com",
        "new-secret",
        None,
    )
    # Content is kept.
    assert await store.linked_blob_size(hub.id, "library/nginx", Digest.of(b"kept")) == 4


async def test_sync_takes_over_an_existing_repository_and_moves_the_default(store: SqlMetadataStore) -> None:
    await store.create_repository(Repository(name="api-made", default=True))
    await store.create_repository(Repository(name="hub"))
    await store.sync_declared_repositories([(Repository(name="hub", default=True), [HUB])])
    by_name = {r.name: r for r in await store.list_repositories()}
    assert by_name["hub"].default
    assert by_name["hub"].managed_by_config
    assert not by_name["api-made"].default
    assert not by_name["api-made"].managed_by_config


async def test_sync_releases_repositories_no_longer_declared(store: SqlMetadataStore) -> None:
    await store.sync_declared_repositories([(Repository(name="old"), [HUB]), (Repository(name="hub"), [])])
    old = await store.get_repository("old")
    assert old is not None
    assert old.id is not None
    await store.link_blob(old.id, "app", Digest.of(b"x"), 1, ContentSource.CACHED, "docker-hub")
    await store.sync_declared_repositories([(Repository(name="hub"), [])])
    released = await store.get_repository("old")
    assert released is not None
    assert not released.managed_by_config
    assert await store.linked_blob_size(old.id, "app", Digest.of(b"x")) == 1
    await store.sync_declared_repositories([])
    assert not any(r.managed_by_config for r in await store.list_repositories())


async def test_sync_is_idempotent(store: SqlMetadataStore) -> None:
    declared = [(Repository(name="hub", default=True, hosts=("docker.io",)), [HUB, COMPANY])]
    await store.sync_declared_repositories(declared)
    hub = await store.get_repository("hub")
    assert hub is not None
    assert hub.id is not None
    first = (await store.list_repositories(), await store.list_proxies(hub.id))
    await store.sync_declared_repositories(declared)
    assert (await store.list_repositories(), await store.list_proxies(hub.id)) == first


@pytest.mark.parametrize(
    ("declared", "error"),
    [
        ([(Repository(name="a"), []), (Repository(name="a"), [])], ConfigError),
        ([(Repository(name="a", default=True), []), (Repository(name="b", default=True), [])], ConfigError),
        ([(Repository(name="a"), [HUB, HUB])], RepositoryExistsError),
    ],
    ids=["name-twice", "two-defaults", "proxy-twice"],
)
async def test_sync_refuses_contradictions_and_changes_nothing(
    store: SqlMetadataStore, declared: list[tuple[Repository, list[Proxy]]], error: type[Exception]
) -> None:
    await store.create_repository(Repository(name="a", visibility=Visibility.PRIVATE))
    with pytest.raises(error):
        await store.sync_declared_repositories(declared)
    assert [(r.name, r.visibility, r.managed_by_config) for r in await store.list_repositories()] == [
        ("a", Visibility.PRIVATE, False)
    ]
