"""Contract: the management changes to one repository at a time — settings, delete, and its proxy list
(add at a position, edit, rename, remove, move) — with priorities 1..n without gaps, also when many moves
run at once, and refusals for repositories the config file manages."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from cargohold.errors import (
    ManagedByConfigError,
    NameUnknownError,
    PreconditionFailedError,
    ProxyUnknownError,
    RepositoryExistsError,
    ValidationFailedError,
)
from cargohold.metadata.sql import Metadata
from cargohold.models import (
    ContentSource,
    Digest,
    ManifestRecord,
    ManifestReferences,
    MediaType,
    Proxy,
    ProxyChanges,
    Repository,
    RepositoryChanges,
    Upload,
    Visibility,
)


def proxy(name: str, **settings: object) -> Proxy:
    return Proxy(name=name, url=f"https://{name}.example.com", **settings)  # type: ignore[arg-type]


async def repository_with(metadata: Metadata, *names: str, name: str = "hub") -> int:
    created = await metadata.repositories.create_repository(Repository(name=name), [proxy(n) for n in names])
    assert created.id is not None
    return created.id


async def order(metadata: Metadata, repository_id: int) -> list[tuple[str, int]]:
    return [(p.name, p.priority) for p in await metadata.repositories.list_proxies(repository_id)]


# --- repositories ---------------------------------------------------------------------------------------


async def test_change_repository_changes_only_what_is_given(metadata: Metadata) -> None:
    created = await metadata.repositories.create_repository(
        Repository(name="hub", hosts=("docker.io",), tag_ttl_seconds=60), [proxy("a")]
    )
    other = await metadata.repositories.create_repository(Repository(name="other", default=True))
    changed = await metadata.repositories.change_repository(
        "hub", RepositoryChanges(visibility=Visibility.PRIVATE)
    )
    assert (changed.visibility, changed.hosts, changed.tag_ttl_seconds, changed.default) == (
        Visibility.PRIVATE,
        ("docker.io",),
        60,
        False,
    )
    assert changed.created_at == created.created_at
    changed = await metadata.repositories.change_repository(
        "hub", RepositoryChanges(default=True, hosts=("quay.io",), tag_ttl_seconds=0)
    )
    assert (changed.visibility, changed.hosts, changed.tag_ttl_seconds, changed.default) == (
        Visibility.PRIVATE,
        ("quay.io",),
        0,
        True,
    )
    assert (await metadata.repositories.get_repository(other.name) or other).default is False
    assert (await metadata.repositories.repository_for_host("quay.io") or other).name == "hub"
    assert [p.name for p in await metadata.repositories.list_proxies(changed.id or 0)] == ["a"]


async def test_change_or_delete_of_unknown_repository(metadata: Metadata) -> None:
    with pytest.raises(NameUnknownError):
        await metadata.repositories.change_repository("ghost", RepositoryChanges(default=True))
    with pytest.raises(NameUnknownError):
        await metadata.repositories.delete_unmanaged_repository("ghost")


async def test_delete_unmanaged_repository_removes_its_content(metadata: Metadata) -> None:
    repository_id = await repository_with(metadata, "a")
    kept = await repository_with(metadata, "a", name="kept")
    digest = Digest.of(b"manifest")
    for where in (repository_id, kept):
        await metadata.content.link_blob(where, "app", Digest.of(b"layer"), 5, ContentSource.CACHED, "a")
        await metadata.content.put_manifest(
            where,
            "app",
            ManifestRecord(digest, MediaType.OCI_MANIFEST, 8),
            ManifestReferences(blobs=(Digest.of(b"layer"),)),
            tag="v1",
        )
        await metadata.content.create_upload(Upload(id=f"up-{where}", repository_id=where, image="app"))
    await metadata.repositories.delete_unmanaged_repository("hub")
    assert await metadata.repositories.get_repository("hub") is None
    assert await metadata.content.get_upload(f"up-{repository_id}") is None
    assert (await metadata.content.catalog(None, None)).items == ["kept/app"]
    assert await metadata.content.get_tag(kept, "app", "v1") is not None


# --- config-managed repositories refuse every change ------------------------------------------------------


async def test_managed_repository_refuses_every_change(metadata: Metadata) -> None:
    await metadata.repositories.sync_declared_repositories(
        [(Repository(name="hub"), [proxy("a"), proxy("b")])]
    )
    hub = await metadata.repositories.get_repository("hub")
    assert hub is not None
    assert hub.id is not None
    before = await metadata.repositories.list_proxies(hub.id)
    attempts = [
        metadata.repositories.change_repository("hub", RepositoryChanges(visibility=Visibility.PRIVATE)),
        metadata.repositories.delete_unmanaged_repository("hub"),
        metadata.repositories.add_proxy("hub", proxy("c")),
        metadata.repositories.update_proxy("hub", "a", ProxyChanges(active=False)),
        metadata.repositories.remove_proxy("hub", "a"),
        metadata.repositories.move_proxy("hub", "b", 1),
    ]
    for attempt in attempts:
        with pytest.raises(ManagedByConfigError):
            await attempt
    assert await metadata.repositories.get_repository("hub") == hub
    assert await metadata.repositories.list_proxies(hub.id) == before


# --- adding ---------------------------------------------------------------------------------------------


async def test_add_proxy_at_the_end_and_at_positions(metadata: Metadata) -> None:
    repository_id = await repository_with(metadata, "a", "b")
    added = await metadata.repositories.add_proxy(
        "hub", proxy("c", username="me", password="secret", active=False)
    )
    assert (added.name, added.priority, added.username, added.password, added.active) == (
        "c",
        3,
        "me",
        "secret",
        False,
    )
    await metadata.repositories.add_proxy("hub", proxy("first"), position=1)
    await metadata.repositories.add_proxy("hub", proxy("middle"), position=3)
    await metadata.repositories.add_proxy("hub", proxy("last"), position=6)
    assert await order(metadata, repository_id) == [
        ("first", 1),
        ("a", 2),
        ("middle", 3),
        ("b", 4),
        ("c", 5),
        ("last", 6),
    ]


async def test_add_proxy_refusals_change_nothing(metadata: Metadata) -> None:
    repository_id = await repository_with(metadata, "a", "b")
    with pytest.raises(RepositoryExistsError):
        await metadata.repositories.add_proxy("hub", proxy("a"))
    with pytest.raises(ValidationFailedError) as error:
        await metadata.repositories.add_proxy("hub", proxy("c"), position=4)
    assert error.value.field == "position"
    with pytest.raises(ValidationFailedError):
        await metadata.repositories.add_proxy("hub", proxy("c"), position=0)
    with pytest.raises(NameUnknownError):
        await metadata.repositories.add_proxy("ghost", proxy("c"))
    assert await order(metadata, repository_id) == [("a", 1), ("b", 2)]


async def test_the_same_proxy_name_in_two_repositories_is_fine(metadata: Metadata) -> None:
    await repository_with(metadata, "a")
    other = await repository_with(metadata, name="other")
    await metadata.repositories.add_proxy("other", proxy("a"))
    assert await order(metadata, other) == [("a", 1)]


# --- editing --------------------------------------------------------------------------------------------


async def test_update_proxy_keeps_the_password_unless_told(metadata: Metadata) -> None:
    await metadata.repositories.create_repository(
        Repository(name="hub"), [proxy("a", username="me", password="secret"), proxy("b")]
    )
    updated = await metadata.repositories.update_proxy(
        "hub",
        "a",
        ProxyChanges(url="https://new.example.com", connection_timeout_ms=900, ssl_validation=False),
    )
    assert (updated.url, updated.connection_timeout_ms, updated.ssl_validation) == (
        "https://new.example.com",
        900,
        False,
    )
    assert (updated.username, updated.password, updated.priority, updated.active) == ("me", "secret", 1, True)
    updated = await metadata.repositories.update_proxy("hub", "a", ProxyChanges(password="another"))
    assert updated.password == "another"
    updated = await metadata.repositories.update_proxy(
        "hub", "a", ProxyChanges(clear_password=True, username="")
    )
    assert (updated.username, updated.password) == (None, None)
    unchanged = await metadata.repositories.update_proxy("hub", "b", ProxyChanges())
    assert unchanged == proxy("b", priority=2, id=unchanged.id)


async def test_rename_takes_cached_content_records_along(metadata: Metadata) -> None:
    repository_id = await repository_with(metadata, "a", "b")
    digest = Digest.of(b"manifest")
    layer = Digest.of(b"layer")
    await metadata.content.link_blob(repository_id, "app", layer, 5, ContentSource.CACHED, "a")
    await metadata.content.put_manifest(
        repository_id,
        "app",
        ManifestRecord(digest, MediaType.OCI_MANIFEST, 8, source=ContentSource.CACHED, proxy_name="a"),
        ManifestReferences(blobs=(layer,)),
        tag="v1",
    )
    renamed = await metadata.repositories.update_proxy("hub", "a", ProxyChanges(name="renamed"))
    assert (renamed.name, renamed.priority) == ("renamed", 1)
    assert (
        await metadata.content.get_manifest(repository_id, "app", digest) or ManifestRecord(digest, "", 0)
    ).proxy_name == ("renamed")
    tag = await metadata.content.get_tag(repository_id, "app", "v1")
    assert tag is not None
    assert tag.proxy_name == "renamed"
    link = await metadata.content.get_blob_link(repository_id, "app", layer)
    assert link is not None
    assert link.proxy_name == "renamed"
    with pytest.raises(RepositoryExistsError):
        await metadata.repositories.update_proxy("hub", "renamed", ProxyChanges(name="b"))
    with pytest.raises(ProxyUnknownError):
        await metadata.repositories.update_proxy("hub", "a", ProxyChanges(active=False))
    assert await order(metadata, repository_id) == [("renamed", 1), ("b", 2)]


# --- removing and moving ---------------------------------------------------------------------------------


async def test_remove_proxy_closes_the_gap(metadata: Metadata) -> None:
    repository_id = await repository_with(metadata, "a", "b", "c", "d")
    await metadata.repositories.remove_proxy("hub", "b")
    assert await order(metadata, repository_id) == [("a", 1), ("c", 2), ("d", 3)]
    await metadata.repositories.remove_proxy("hub", "a")
    assert await order(metadata, repository_id) == [("c", 1), ("d", 2)]
    with pytest.raises(ProxyUnknownError):
        await metadata.repositories.remove_proxy("hub", "a")
    with pytest.raises(NameUnknownError):
        await metadata.repositories.remove_proxy("ghost", "c")


@pytest.mark.parametrize(
    ("name", "position", "expected"),
    [
        ("d", 1, ["d", "a", "b", "c"]),
        ("a", 4, ["b", "c", "d", "a"]),
        ("b", 3, ["a", "c", "b", "d"]),
        ("c", 2, ["a", "c", "b", "d"]),
        ("b", 2, ["a", "b", "c", "d"]),
    ],
)
async def test_move_proxy_shifts_the_others(
    metadata: Metadata, name: str, position: int, expected: list[str]
) -> None:
    repository_id = await repository_with(metadata, "a", "b", "c", "d")
    moved = await metadata.repositories.move_proxy("hub", name, position)
    assert [(p.name, p.priority) for p in moved] == [(n, i) for i, n in enumerate(expected, start=1)]
    assert await order(metadata, repository_id) == [(p.name, p.priority) for p in moved]


async def test_move_proxy_refusals(metadata: Metadata) -> None:
    repository_id = await repository_with(metadata, "a", "b")
    with pytest.raises(ValidationFailedError) as error:
        await metadata.repositories.move_proxy("hub", "a", 3)
    assert error.value.field == "position"
    with pytest.raises(ProxyUnknownError):
        await metadata.repositories.move_proxy("hub", "ghost", 1)
    with pytest.raises(NameUnknownError):
        await metadata.repositories.move_proxy("ghost", "a", 1)
    assert await order(metadata, repository_id) == [("a", 1), ("b", 2)]


async def test_concurrent_changes_keep_priorities_without_gaps(metadata: Metadata) -> None:
    names = [f"p{i}" for i in range(6)]
    repository_id = await repository_with(metadata, *names)
    # Targets stay within 1..5: the list never holds fewer than five proxies,
    # so every move to an existing proxy is in range whatever the interleaving.
    moves = [metadata.repositories.move_proxy("hub", names[i % 6], (i * 3) % 5 + 1) for i in range(24)]
    adds = [metadata.repositories.add_proxy("hub", proxy(f"new{i}"), position=1) for i in range(4)]
    removal = metadata.repositories.remove_proxy("hub", "p5")
    results = await asyncio.gather(*moves, *adds, removal, return_exceptions=True)
    # A move of p5 may come after its removal; everything else succeeds.
    for result in results:
        if isinstance(result, BaseException):
            assert isinstance(result, ProxyUnknownError)
    listed = await metadata.repositories.list_proxies(repository_id)
    assert [p.priority for p in listed] == list(range(1, 10))
    assert sorted(p.name for p in listed) == sorted([*names[:5], "new0", "new1", "new2", "new3"])


# --- revisions (ETag / If-Match) ------------------------------------------------------------------------


async def test_every_change_adds_one_to_the_revision_and_a_stale_one_is_refused(metadata: Metadata) -> None:
    store = metadata.repositories
    await repository_with(metadata, "a", "b")
    first = await store.get_repository("hub")
    assert first is not None
    read = first.revision
    await store.move_proxy("hub", "b", 1, expect_revision=read)
    after = await store.get_repository("hub")
    assert after is not None
    assert after.revision == read + 1
    stale = {"expect_revision": read}
    changes: dict[str, Callable[[], Awaitable[object]]] = {
        "repository": lambda: store.change_repository("hub", RepositoryChanges(tag_ttl_seconds=1), **stale),
        "add": lambda: store.add_proxy("hub", proxy("c"), None, **stale),
        "update": lambda: store.update_proxy("hub", "a", ProxyChanges(active=False), **stale),
        "move": lambda: store.move_proxy("hub", "a", 1, **stale),
        "remove": lambda: store.remove_proxy("hub", "a", **stale),
        "delete": lambda: store.delete_unmanaged_repository("hub", **stale),
    }
    for name, change in changes.items():
        with pytest.raises(PreconditionFailedError):
            await change()
        assert (await store.get_repository("hub")) == after, name
    assert await order(metadata, after.id or 0) == [("b", 1), ("a", 2)]


async def test_racing_changes_with_one_revision_only_one_applies(metadata: Metadata) -> None:
    store = metadata.repositories
    await repository_with(metadata, "a", "b", "c")
    read = (await store.get_repository("hub")).revision  # type: ignore[union-attr]
    outcomes = await asyncio.gather(
        *(store.move_proxy("hub", name, 1, expect_revision=read) for name in ("c", "b", "c", "b")),
        return_exceptions=True,
    )
    applied = [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]
    assert len(applied) == 1
    assert all(isinstance(outcome, PreconditionFailedError) for outcome in outcomes if outcome not in applied)
    assert (await store.get_repository("hub")).revision == read + 1  # type: ignore[union-attr]
