"""Contract: repositories, hosts, the default repository, proxies, and syncing the declared repositories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cargohold.errors import ConfigError, NameUnknownError, RepositoryExistsError
from cargohold.metadata.sql import Metadata
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


async def test_create_and_get_repository(metadata: Metadata) -> None:
    before = datetime.now(UTC)
    created = await metadata.repositories.create_repository(
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
    assert await metadata.repositories.get_repository("hub") == created
    assert await metadata.repositories.get_repository("nope") is None


async def test_duplicate_repository_name_is_refused(metadata: Metadata) -> None:
    await metadata.repositories.create_repository(Repository(name="hub"), [HUB])
    with pytest.raises(RepositoryExistsError):
        await metadata.repositories.create_repository(Repository(name="hub", visibility=Visibility.PRIVATE))
    repositories = await metadata.repositories.list_repositories()
    assert [r.visibility for r in repositories] == [Visibility.PUBLIC]
    assert len(await metadata.repositories.list_proxies(repositories[0].id or 0)) == 1


async def test_duplicate_proxy_name_is_refused_and_nothing_is_created(metadata: Metadata) -> None:
    with pytest.raises(RepositoryExistsError):
        await metadata.repositories.create_repository(
            Repository(name="hub"), [HUB, Proxy(name=HUB.name, url="https://x")]
        )
    assert await metadata.repositories.get_repository("hub") is None


async def test_proxies_are_listed_in_priority_order_with_every_setting(metadata: Metadata) -> None:
    repository = await metadata.repositories.create_repository(Repository(name="hub"), [COMPANY, HUB])
    assert repository.id is not None
    listed = await metadata.repositories.list_proxies(repository.id)
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
    assert await metadata.repositories.list_proxies(repository.id + 1000) == []


async def test_list_repositories_in_name_order(metadata: Metadata) -> None:
    for name in ("zeta", "alpha", "mid-1", "mid"):
        await metadata.repositories.create_repository(Repository(name=name))
    assert [r.name for r in await metadata.repositories.list_repositories()] == [
        "alpha",
        "mid",
        "mid-1",
        "zeta",
    ]


async def defaults(metadata: Metadata) -> list[str]:
    return [r.name for r in await metadata.repositories.list_repositories() if r.default]


async def test_one_default_at_most(metadata: Metadata) -> None:
    await metadata.repositories.create_repository(Repository(name="first", default=True))
    assert await defaults(metadata) == ["first"]
    await metadata.repositories.create_repository(Repository(name="second", default=True))
    assert await defaults(metadata) == ["second"]
    first = await metadata.repositories.update_repository(Repository(name="first", default=True))
    assert first.default
    assert await defaults(metadata) == ["first"]
    await metadata.repositories.update_repository(Repository(name="first", default=False))
    assert await defaults(metadata) == []


async def test_repository_for_host_is_case_insensitive(metadata: Metadata) -> None:
    await metadata.repositories.create_repository(Repository(name="hub", hosts=("docker.io",)))
    await metadata.repositories.create_repository(Repository(name="quay", hosts=("Quay.io",)))
    assert (await metadata.repositories.repository_for_host("DOCKER.io") or Repository("x")).name == "hub"
    assert (await metadata.repositories.repository_for_host("quay.io") or Repository("x")).name == "quay"
    assert await metadata.repositories.repository_for_host("ghcr.io") is None


async def test_update_repository_replaces_settings_not_proxies_or_content(metadata: Metadata) -> None:
    created = await metadata.repositories.create_repository(
        Repository(name="hub", hosts=("docker.io",)), [HUB]
    )
    assert created.id is not None
    digest = Digest.of(b"blob")
    await metadata.content.link_blob(created.id, "library/nginx", digest, 4)
    updated = await metadata.repositories.update_repository(
        Repository(name="hub", visibility=Visibility.PRIVATE, hosts=("mirror.gcr.io",), tag_ttl_seconds=5)
    )
    assert (updated.id, updated.created_at) == (created.id, created.created_at)
    assert (updated.visibility, updated.hosts, updated.tag_ttl_seconds) == (
        Visibility.PRIVATE,
        ("mirror.gcr.io",),
        5,
    )
    assert await metadata.repositories.repository_for_host("docker.io") is None
    assert (await metadata.repositories.repository_for_host("mirror.gcr.io") or Repository("x")).name == "hub"
    assert [p.name for p in await metadata.repositories.list_proxies(created.id)] == ["docker-hub"]
    assert await metadata.content.linked_blob_size(created.id, "library/nginx", digest) == 4


async def test_update_unknown_repository_is_a_domain_error(metadata: Metadata) -> None:
    with pytest.raises(NameUnknownError):
        await metadata.repositories.update_repository(Repository(name="ghost"))


async def test_delete_repository_removes_everything_of_it(metadata: Metadata) -> None:
    doomed = await metadata.repositories.create_repository(
        Repository(name="doomed", hosts=("doomed.io",)), [HUB]
    )
    kept = await metadata.repositories.create_repository(Repository(name="kept"), [HUB])
    assert doomed.id is not None
    assert kept.id is not None
    digest = Digest.of(b"manifest")
    for repository_id in (doomed.id, kept.id):
        await metadata.content.link_blob(repository_id, "app", Digest.of(b"layer"), 5)
        await metadata.content.put_manifest(
            repository_id,
            "app",
            ManifestRecord(digest, MediaType.OCI_MANIFEST, 8),
            ManifestReferences(blobs=(Digest.of(b"layer"),)),
            tag="v1",
        )
        await metadata.content.create_upload(
            Upload(id=f"upload-{repository_id}", repository_id=repository_id, image="app")
        )

    assert await metadata.repositories.delete_repository("doomed")
    assert not await metadata.repositories.delete_repository("doomed")
    assert await metadata.repositories.get_repository("doomed") is None
    assert await metadata.repositories.repository_for_host("doomed.io") is None
    assert await metadata.repositories.list_proxies(doomed.id) == []
    assert not await metadata.content.image_exists(doomed.id, "app")
    assert await metadata.content.get_tag(doomed.id, "app", "v1") is None
    assert await metadata.content.get_upload(f"upload-{doomed.id}") is None
    assert (await metadata.content.catalog(None, None)).items == ["kept/app"]
    # The other repository is untouched.
    assert await metadata.content.get_tag(kept.id, "app", "v1") is not None
    assert await metadata.content.get_upload(f"upload-{kept.id}") is not None
    assert [p.name for p in await metadata.repositories.list_proxies(kept.id)] == ["docker-hub"]

    # The name is free again and the new repository starts empty.
    again = await metadata.repositories.create_repository(Repository(name="doomed"))
    assert again.id is not None
    assert (await metadata.content.list_tags(again.id, "app", None, None)).items == []


# --- declared repositories ------------------------------------------------------------------------


async def test_sync_creates_declared_repositories_managed_by_config(metadata: Metadata) -> None:
    await metadata.repositories.sync_declared_repositories(
        [
            (Repository(name="hub", default=True, hosts=("docker.io",), tag_ttl_seconds=300), [HUB, COMPANY]),
            (Repository(name="private", visibility=Visibility.PRIVATE), []),
        ]
    )
    hub = await metadata.repositories.get_repository("hub")
    private = await metadata.repositories.get_repository("private")
    assert hub is not None
    assert private is not None
    assert hub.id is not None
    assert hub.managed_by_config
    assert private.managed_by_config
    assert hub.default
    assert not private.default
    assert hub.hosts == ("docker.io",)
    assert private.visibility is Visibility.PRIVATE
    assert [(p.name, p.priority) for p in await metadata.repositories.list_proxies(hub.id)] == [
        ("docker-hub", 1),
        ("company", 2),
    ]


async def test_sync_updates_settings_and_replaces_the_proxy_list_in_order(metadata: Metadata) -> None:
    mirror = Proxy(name="mirror", url="https://mirror.example.com")
    await metadata.repositories.sync_declared_repositories(
        [(Repository(name="hub", hosts=("docker.io",)), [HUB, COMPANY])]
    )
    hub = await metadata.repositories.get_repository("hub")
    assert hub is not None
    assert hub.id is not None
    ids = {p.name: p.id for p in await metadata.repositories.list_proxies(hub.id)}
    await metadata.content.link_blob(hub.id, "library/nginx", Digest.of(b"kept"), 4)

    changed_company = Proxy(name="company", url="https://new.example.com", password="new-secret")
    await metadata.repositories.sync_declared_repositories(
        [
            (
                Repository(
                    name="hub", visibility=Visibility.PRIVATE, hosts=("index.docker.io",), tag_ttl_seconds=9
                ),
                [changed_company, mirror],
            )
        ]
    )
    updated = await metadata.repositories.get_repository("hub")
    assert updated is not None
    assert (updated.id, updated.created_at) == (hub.id, hub.created_at)
    assert (updated.visibility, updated.hosts, updated.tag_ttl_seconds) == (
        Visibility.PRIVATE,
        ("index.docker.io",),
        9,
    )
    listed = await metadata.repositories.list_proxies(hub.id)
    assert [(p.name, p.priority) for p in listed] == [("company", 1), ("mirror", 2)]
    assert listed[0].id == ids["company"]  # the same proxy, edited in place
    assert (listed[0].url, listed[0].password, listed[0].username) == (
        "https://new.example.com",
        "new-secret",
        None,
    )
    # Content is kept.
    assert await metadata.content.linked_blob_size(hub.id, "library/nginx", Digest.of(b"kept")) == 4


async def test_sync_takes_over_an_existing_repository_and_moves_the_default(metadata: Metadata) -> None:
    await metadata.repositories.create_repository(Repository(name="api-made", default=True))
    await metadata.repositories.create_repository(Repository(name="hub"))
    await metadata.repositories.sync_declared_repositories([(Repository(name="hub", default=True), [HUB])])
    by_name = {r.name: r for r in await metadata.repositories.list_repositories()}
    assert by_name["hub"].default
    assert by_name["hub"].managed_by_config
    assert not by_name["api-made"].default
    assert not by_name["api-made"].managed_by_config


async def test_sync_releases_repositories_no_longer_declared(metadata: Metadata) -> None:
    await metadata.repositories.sync_declared_repositories(
        [(Repository(name="old"), [HUB]), (Repository(name="hub"), [])]
    )
    old = await metadata.repositories.get_repository("old")
    assert old is not None
    assert old.id is not None
    await metadata.content.link_blob(old.id, "app", Digest.of(b"x"), 1, ContentSource.CACHED, "docker-hub")
    await metadata.repositories.sync_declared_repositories([(Repository(name="hub"), [])])
    released = await metadata.repositories.get_repository("old")
    assert released is not None
    assert not released.managed_by_config
    assert await metadata.content.linked_blob_size(old.id, "app", Digest.of(b"x")) == 1
    await metadata.repositories.sync_declared_repositories([])
    assert not any(r.managed_by_config for r in await metadata.repositories.list_repositories())


async def test_sync_is_idempotent(metadata: Metadata) -> None:
    declared = [(Repository(name="hub", default=True, hosts=("docker.io",)), [HUB, COMPANY])]
    await metadata.repositories.sync_declared_repositories(declared)
    hub = await metadata.repositories.get_repository("hub")
    assert hub is not None
    assert hub.id is not None
    first = (
        await metadata.repositories.list_repositories(),
        await metadata.repositories.list_proxies(hub.id),
    )
    await metadata.repositories.sync_declared_repositories(declared)
    assert (
        await metadata.repositories.list_repositories(),
        await metadata.repositories.list_proxies(hub.id),
    ) == first


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
    metadata: Metadata, declared: list[tuple[Repository, list[Proxy]]], error: type[Exception]
) -> None:
    await metadata.repositories.create_repository(Repository(name="a", visibility=Visibility.PRIVATE))
    with pytest.raises(error):
        await metadata.repositories.sync_declared_repositories(declared)
    assert [
        (r.name, r.visibility, r.managed_by_config) for r in await metadata.repositories.list_repositories()
    ] == [("a", Visibility.PRIVATE, False)]


async def test_declared_repositories_may_not_share_a_host_with_ones_managed_through_the_api(
    metadata: Metadata,
) -> None:
    await metadata.repositories.create_repository(Repository(name="hub", hosts=("docker.io",)))
    with pytest.raises(ConfigError) as hosts:
        await metadata.repositories.sync_declared_repositories(
            [(Repository(name="mirror", hosts=("Docker.io", "ghcr.io")), [])]
        )
    assert "'mirror' and 'hub' both name host docker.io" in hosts.value.message
    assert [r.name for r in await metadata.repositories.list_repositories()] == ["hub"]  # nothing was changed
    await metadata.repositories.sync_declared_repositories(
        [(Repository(name="hub", hosts=("docker.io",)), [])]
    )
    hub = await metadata.repositories.get_repository("hub")
    assert hub is not None
    assert hub.managed_by_config  # declaring the same name takes the repository over: no collision
