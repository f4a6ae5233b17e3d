"""``RepositoryAdmin``: what a user managing repositories and proxies sees — every bad value refused with
the field and the reason, passwords that go in but never come out, config-managed repositories that
refuse changes, and proxy lists that stay in a gapless priority order."""

from __future__ import annotations

import dataclasses

import pytest

from cargohold.errors import (
    ManagedByConfigError,
    NameUnknownError,
    ProxyUnknownError,
    RepositoryExistsError,
    ValidationFailedError,
)
from cargohold.metadata.sql import Metadata
from cargohold.models import (
    Digest,
    ManifestRecord,
    ManifestReferences,
    MediaType,
    Proxy,
    Repository,
    Visibility,
)
from cargohold.registry.repositories import (
    ProxyChanges,
    ProxySettings,
    RepositoryAdmin,
    RepositoryChanges,
    RepositorySettings,
)
from cargohold.registry.values import MAX_TAG_TTL_SECONDS

SECRET = "pa55-w0rd-never-shown"


@pytest.fixture
def admin(metadata: Metadata) -> RepositoryAdmin:
    return RepositoryAdmin(metadata.repositories)


def hub_proxy(**changes: object) -> ProxySettings:
    return ProxySettings(**{"name": "docker-hub", "url": "https://registry-1.docker.io"} | changes)


async def test_create_and_show_a_repository_with_proxies(admin: RepositoryAdmin) -> None:
    created = await admin.create(
        RepositorySettings(
            name="hub", visibility=Visibility.PRIVATE, default=True, hosts=("Docker.IO",), tag_ttl_seconds=60
        ),
        [
            hub_proxy(),
            ProxySettings(name="company", url="https://docker.example.com/", username="me", password=SECRET),
        ],
    )
    assert (created.name, created.visibility, created.default, created.hosts, created.tag_ttl_seconds) == (
        "hub",
        Visibility.PRIVATE,
        True,
        ("docker.io",),
        60,
    )
    assert not created.managed_by_config
    assert created.created_at is not None
    assert [(p.name, p.priority, p.password_set) for p in created.proxies] == [
        ("docker-hub", 1, False),
        ("company", 2, True),
    ]
    assert created.proxies[1].url == "https://docker.example.com"
    assert await admin.get("hub") == created
    assert [r.name for r in await admin.list()] == ["hub"]
    with pytest.raises(NameUnknownError):
        await admin.get("ghost")


async def test_the_password_never_comes_out(admin: RepositoryAdmin) -> None:
    settings = hub_proxy(username="me", password=SECRET)
    assert SECRET not in repr(settings)
    await admin.create(RepositorySettings(name="hub"), [settings])
    shown = [await admin.get("hub"), *(await admin.list())]
    assert all(SECRET not in repr(view) for view in shown)
    assert all(SECRET not in str(dataclasses.asdict(view)) for view in shown)
    assert "password" not in {f.name for f in dataclasses.fields(shown[0].proxies[0])}
    assert SECRET not in repr(ProxyChanges(password=SECRET))


async def test_duplicates_are_conflicts(admin: RepositoryAdmin) -> None:
    await admin.create(RepositorySettings(name="hub"), [hub_proxy()])
    with pytest.raises(RepositoryExistsError):
        await admin.create(RepositorySettings(name="hub"))
    with pytest.raises(RepositoryExistsError):
        await admin.create(RepositorySettings(name="two"), [hub_proxy(), hub_proxy()])
    with pytest.raises(RepositoryExistsError):
        await admin.add_proxy("hub", hub_proxy(url="https://other.example.com"))
    assert [r.name for r in await admin.list()] == ["hub"]


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"name": "Hub"}, "name"),
        ({"name": "a/b"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": "hub", "tag_ttl_seconds": -1}, "tag_ttl_seconds"),
        ({"name": "hub", "tag_ttl_seconds": 2**40}, "tag_ttl_seconds"),
        ({"name": "hub", "tag_ttl_seconds": 99999999999999}, "tag_ttl_seconds"),
        ({"name": "hub", "tag_ttl_seconds": MAX_TAG_TTL_SECONDS + 1}, "tag_ttl_seconds"),
        ({"name": "hub", "tag_ttl_seconds": True}, "tag_ttl_seconds"),
        ({"name": "hub", "hosts": ("not a host",)}, "hosts"),
        ({"name": "hub", "hosts": ("docker.io:99999",)}, "hosts"),
        ({"name": "hub", "visibility": "secret"}, "visibility"),
        ({"name": "hub", "default": "yes"}, "default"),
    ],
)
async def test_bad_repository_settings_name_the_field(
    admin: RepositoryAdmin, settings: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationFailedError) as error:
        await admin.create(RepositorySettings(**settings))
    assert error.value.field == field
    assert error.value.reason
    assert await admin.list() == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"url": "registry.example.com"}, "url"),
        ({"url": "ftp://registry.example.com"}, "url"),
        ({"url": "https://me:pw@registry.example.com"}, "url"),
        ({"url": "https://registry.example.com/?x=1"}, "url"),
        ({"url": "https://registry.example.com/some/../path"}, "url"),
        ({"url": "https://registry.example.com/some path"}, "url"),
        ({"name": "-bad"}, "name"),
        ({"name": "has space"}, "name"),
        ({"connection_timeout_ms": 0}, "connection_timeout_ms"),
        ({"connection_timeout_ms": -5}, "connection_timeout_ms"),
        ({"connection_timeout_ms": 600_001}, "connection_timeout_ms"),
        ({"username": "me:you"}, "username"),
        ({"username": "me\x07"}, "username"),
        ({"username": "x" * 257}, "username"),
        ({"password": "line\nbreak"}, "password"),
        ({"password": "tab\there"}, "password"),
        ({"password": "nul\x00"}, "password"),
        ({"ssl_validation": "no"}, "ssl_validation"),
    ],
)
async def test_bad_proxy_settings_name_the_field(
    admin: RepositoryAdmin, changes: dict[str, object], field: str
) -> None:
    await admin.create(RepositorySettings(name="hub"))
    with pytest.raises(ValidationFailedError) as error:
        await admin.add_proxy("hub", hub_proxy(**changes))
    assert error.value.field == field
    with pytest.raises(ValidationFailedError) as error:
        await admin.create(RepositorySettings(name="other"), [hub_proxy(**changes)])
    assert error.value.field == field
    assert (await admin.get("hub")).proxies == ()
    assert [r.name for r in await admin.list()] == ["hub"]


async def test_timeout_limits_are_inclusive(admin: RepositoryAdmin) -> None:
    await admin.create(RepositorySettings(name="hub"))
    fast = await admin.add_proxy("hub", hub_proxy(name="fast", connection_timeout_ms=1))
    slow = await admin.add_proxy("hub", hub_proxy(name="slow", connection_timeout_ms=600_000))
    assert (fast.connection_timeout_ms, slow.connection_timeout_ms) == (1, 600_000)


async def test_a_host_selects_one_repository(admin: RepositoryAdmin) -> None:
    await admin.create(RepositorySettings(name="hub", hosts=("docker.io",)))
    with pytest.raises(ValidationFailedError) as error:
        await admin.create(RepositorySettings(name="other", hosts=("DOCKER.IO",)))
    assert error.value.field == "hosts"
    assert "hub" in error.value.reason
    await admin.create(RepositorySettings(name="other"))
    with pytest.raises(ValidationFailedError):
        await admin.update("other", RepositoryChanges(hosts=("docker.io",)))
    # Naming its own host again is fine.
    assert (await admin.update("hub", RepositoryChanges(hosts=("docker.io", "quay.io")))).hosts == (
        "docker.io",
        "quay.io",
    )


async def test_update_a_repository(admin: RepositoryAdmin) -> None:
    await admin.create(RepositorySettings(name="old", default=True))
    await admin.create(RepositorySettings(name="hub", tag_ttl_seconds=60), [hub_proxy()])
    updated = await admin.update("hub", RepositoryChanges(default=True, visibility=Visibility.PRIVATE))
    assert (updated.default, updated.visibility, updated.tag_ttl_seconds) == (True, Visibility.PRIVATE, 60)
    assert [p.name for p in updated.proxies] == ["docker-hub"]
    assert not (await admin.get("old")).default
    with pytest.raises(ValidationFailedError) as error:
        await admin.update("hub", RepositoryChanges(tag_ttl_seconds=-1))
    assert error.value.field == "tag_ttl_seconds"
    with pytest.raises(ValidationFailedError) as error:
        await admin.update("hub", RepositoryChanges(tag_ttl_seconds=99999999999999))
    assert error.value.reason == f"Input should be less than or equal to {MAX_TAG_TTL_SECONDS}"
    assert (await admin.get("hub")).tag_ttl_seconds == 60
    longest = await admin.update("hub", RepositoryChanges(tag_ttl_seconds=MAX_TAG_TTL_SECONDS))
    assert longest.tag_ttl_seconds == MAX_TAG_TTL_SECONDS == 10 * 365 * 24 * 3600
    with pytest.raises(NameUnknownError):
        await admin.update("ghost", RepositoryChanges(default=False))


async def test_delete_removes_the_repository_and_its_content(
    admin: RepositoryAdmin, metadata: Metadata
) -> None:
    created = await admin.create(RepositorySettings(name="hub"), [hub_proxy()])
    repository = await metadata.repositories.get_repository("hub")
    assert repository is not None
    assert repository.id is not None
    digest = Digest.of(b"{}")
    await metadata.content.put_manifest(
        repository.id,
        "app",
        ManifestRecord(digest, MediaType.OCI_MANIFEST, 2),
        ManifestReferences(),
        tag="v1",
    )
    await admin.delete("hub")
    with pytest.raises(NameUnknownError):
        await admin.get("hub")
    with pytest.raises(NameUnknownError):
        await admin.delete("hub")
    again = await admin.create(RepositorySettings(name="hub"))
    assert again.proxies == ()
    assert again.created_at is not None
    assert created.created_at is not None
    fresh = await metadata.repositories.get_repository("hub")
    assert fresh is not None
    assert fresh.id is not None
    assert not await metadata.content.image_exists(fresh.id, "app")


async def test_a_repository_from_the_config_file_refuses_changes(
    admin: RepositoryAdmin, metadata: Metadata
) -> None:
    await metadata.repositories.sync_declared_repositories(
        [(Repository(name="hub"), [Proxy(name="docker-hub", url="https://registry-1.docker.io")])]
    )
    before = await admin.get("hub")
    assert before.managed_by_config
    attempts = [
        admin.update("hub", RepositoryChanges(visibility=Visibility.PRIVATE)),
        admin.delete("hub"),
        admin.add_proxy("hub", hub_proxy(name="more")),
        admin.update_proxy("hub", "docker-hub", ProxyChanges(connection_timeout_ms=100)),
        admin.set_active("hub", "docker-hub", False),
        admin.move_proxy("hub", "docker-hub", 1),
        admin.remove_proxy("hub", "docker-hub"),
    ]
    for attempt in attempts:
        with pytest.raises(ManagedByConfigError):
            await attempt
    assert await admin.get("hub") == before


async def test_editing_a_proxy_keeps_the_password_unless_told(
    admin: RepositoryAdmin, metadata: Metadata
) -> None:
    await admin.create(RepositorySettings(name="hub"), [hub_proxy(username="me", password=SECRET)])

    async def stored_password() -> str | None:
        repository = await metadata.repositories.get_repository("hub")
        assert repository is not None
        assert repository.id is not None
        return (await metadata.repositories.list_proxies(repository.id))[0].password

    edited = await admin.update_proxy("hub", "docker-hub", ProxyChanges(connection_timeout_ms=1500))
    assert (edited.connection_timeout_ms, edited.password_set) == (1500, True)
    assert await stored_password() == SECRET
    # An empty password field (a web form left blank) also keeps it.
    await admin.update_proxy("hub", "docker-hub", ProxyChanges(password=""))
    assert await stored_password() == SECRET
    await admin.update_proxy("hub", "docker-hub", ProxyChanges(password="new-one"))
    assert await stored_password() == "new-one"
    with pytest.raises(ValidationFailedError) as error:
        await admin.update_proxy("hub", "docker-hub", ProxyChanges(password="x", clear_password=True))
    assert error.value.field == "clear_password"
    cleared = await admin.update_proxy("hub", "docker-hub", ProxyChanges(clear_password=True))
    assert not cleared.password_set
    assert await stored_password() is None


async def test_edit_every_field_and_rename(admin: RepositoryAdmin) -> None:
    await admin.create(RepositorySettings(name="hub"), [hub_proxy(), hub_proxy(name="second")])
    edited = await admin.update_proxy(
        "hub",
        "docker-hub",
        ProxyChanges(
            name="renamed",
            url="http://mirror.example.com:5000",
            username="bob",
            ssl_validation=False,
            connection_timeout_ms=42,
            answer_timeout_ms=4321,
            active=False,
            include=("team/**",),
            exclude=("team/old",),
        ),
    )
    assert edited.etag.startswith('"')
    assert dataclasses.astuple(dataclasses.replace(edited, etag="")) == (
        "renamed",
        "http://mirror.example.com:5000",
        "bob",
        False,
        False,
        42,
        False,
        1,
        ("team/**",),
        ("team/old",),
        False,  # private_networks_approved: the URL was set without trust (no policy in this admin)
        4321,
        "",
    )
    with pytest.raises(RepositoryExistsError):
        await admin.update_proxy("hub", "renamed", ProxyChanges(name="second"))
    with pytest.raises(ProxyUnknownError):
        await admin.update_proxy("hub", "docker-hub", ProxyChanges(active=True))
    with pytest.raises(ValidationFailedError) as error:
        await admin.update_proxy("hub", "renamed", ProxyChanges(url="mirror.example.com"))
    assert error.value.field == "url"
    assert (await admin.update_proxy("hub", "renamed", ProxyChanges(username=""))).username is None


async def test_activate_and_deactivate(admin: RepositoryAdmin) -> None:
    await admin.create(RepositorySettings(name="hub"), [hub_proxy()])
    assert not (await admin.set_active("hub", "docker-hub", False)).active
    assert not (await admin.get("hub")).proxies[0].active
    assert (await admin.set_active("hub", "docker-hub", True)).active
    with pytest.raises(ProxyUnknownError):
        await admin.set_active("hub", "ghost", True)


async def test_order_changes_keep_priorities_one_to_n(admin: RepositoryAdmin) -> None:
    await admin.create(RepositorySettings(name="hub"), [hub_proxy(name=n) for n in ("a", "b", "c")])
    added = await admin.add_proxy("hub", hub_proxy(name="first"), position=1)
    assert added.priority == 1
    assert await admin.add_proxy("hub", hub_proxy(name="end"), position=5)
    moved = await admin.move_proxy("hub", "end", 2)
    assert [(p.name, p.priority) for p in moved] == [("first", 1), ("end", 2), ("a", 3), ("b", 4), ("c", 5)]
    await admin.remove_proxy("hub", "a")
    shown = (await admin.get("hub")).proxies
    assert [(p.name, p.priority) for p in shown] == [("first", 1), ("end", 2), ("b", 3), ("c", 4)]


@pytest.mark.parametrize("position", [0, -1, 5])
async def test_move_beyond_the_list_is_refused(admin: RepositoryAdmin, position: int) -> None:
    await admin.create(RepositorySettings(name="hub"), [hub_proxy(name=n) for n in ("a", "b", "c", "d")])
    with pytest.raises(ValidationFailedError) as error:
        await admin.move_proxy("hub", "a", position)
    assert error.value.field == "position"
    with pytest.raises(ValidationFailedError):
        await admin.add_proxy(
            "hub", hub_proxy(name="e"), position=position + 1 if position == 5 else position
        )
    assert [p.name for p in (await admin.get("hub")).proxies] == ["a", "b", "c", "d"]


async def test_on_change_hears_about_proxy_changes(admin: RepositoryAdmin, metadata: Metadata) -> None:
    heard: list[int] = []
    watched = RepositoryAdmin(metadata.repositories, on_change=heard.append)
    await watched.create(RepositorySettings(name="hub"), [hub_proxy()])
    await watched.set_active("hub", "docker-hub", False)
    await watched.move_proxy("hub", "docker-hub", 1)
    repository = await metadata.repositories.get_repository("hub")
    assert repository is not None
    assert heard == [repository.id, repository.id, repository.id]  # create, deactivate, move
