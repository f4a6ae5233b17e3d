"""The metadata store contract: every fact but bytes, in narrow protocols by area.

``RepositoryStore``: repositories and their proxies, with the management API's one-at-a-time changes.
``ContentStore``: what images hold (blob links, manifests, tags, referrers, the catalog) and upload sessions.
``InventoryStore``: whole images at once, for the management views (read all, delete one, purge cached).
``UserStore``: users with their grants and access tokens. ``StatsStore``: usage counters and pull times.
``CollectorStore``: what garbage collection asks of the metadata (references, the per-digest guard, locks).
``StorageStore``: bytes held per repository (local and cached) and evicting one cached image version.
A consumer asks for the protocols it uses and nothing else; ``sql.open_metadata`` opens them all on one
database. One method is one transaction: a caller never sees half of a change.
Images are addressed by ``(repository_id, image)``; ``image`` is the OCI name inside the repository
(``library/nginx``). Listings are in lexical (byte) order, as the distribution spec asks of tags.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from cargohold.models import (
    AccessTokenRecord,
    BlobLink,
    ContentSource,
    Digest,
    Holding,
    ImageContent,
    ManifestRecord,
    ManifestReferences,
    Page,
    Proxy,
    ProxyChanges,
    Repository,
    RepositoryChanges,
    StoreUsage,
    TagRecord,
    Upload,
    UploadLimits,
    UserRecord,
)


class RepositoryStore(Protocol):
    """Repositories, their hosts and their proxies (priority = position in the list).

    Every change of a repository or its proxies adds one to its ``revision``; one given ``expect_revision``
    (a request's If-Match) raises PreconditionFailedError when the revision differs, checked under the same
    lock as the change."""

    async def create_repository(self, repository: Repository, proxies: Sequence[Proxy] = ()) -> Repository:
        """Create a repository with its proxies (priority = order). Raises RepositoryExistsError."""
        ...

    async def get_repository(self, name: str) -> Repository | None: ...

    async def repository_for_host(self, host: str) -> Repository | None:
        """The repository whose ``hosts`` names ``host`` (case-insensitive)."""
        ...

    async def list_repositories(self) -> list[Repository]: ...

    async def update_repository(self, repository: Repository) -> Repository:
        """Replace the settings of the repository with this name (not its proxies or content)."""
        ...

    async def delete_repository(self, name: str) -> bool:
        """Remove a repository with its proxies, manifests, tags, links and uploads."""
        ...

    async def sync_declared_repositories(
        self, declared: Sequence[tuple[Repository, Sequence[Proxy]]]
    ) -> None:
        """Make the config file's repositories exist exactly as declared (settings and proxies), marked
        managed by the config; their content is kept. Setting one ``default`` clears it elsewhere."""
        ...

    async def list_proxies(self, repository_id: int) -> list[Proxy]:
        """The repository's proxies in priority order (priority 1..n)."""
        ...

    # --- management: one change to a repository that the config file does not manage ----------------
    # Each raises NameUnknownError for an unknown repository and ManagedByConfigError for one managed by
    # the config file; priorities stay 1..n without gaps, also when changes run concurrently.

    async def change_repository(
        self, name: str, changes: RepositoryChanges, *, expect_revision: int | None = None
    ) -> Repository:
        """Apply the settings in ``changes`` (None: unchanged); setting ``default`` clears it elsewhere."""
        ...

    async def delete_unmanaged_repository(self, name: str, *, expect_revision: int | None = None) -> None:
        """Remove a repository with its proxies, manifests, tags, links, uploads and counters."""
        ...

    async def add_proxy(
        self,
        repository: str,
        proxy: Proxy,
        position: int | None = None,
        *,
        expect_revision: int | None = None,
    ) -> Proxy:
        """Add a proxy at ``position`` (1..n+1; None: last), shifting the others down.
        RepositoryExistsError for a name the repository already has; ValidationFailedError('position')."""
        ...

    async def update_proxy(
        self, repository: str, name: str, changes: ProxyChanges, *, expect_revision: int | None = None
    ) -> Proxy:
        """Change a proxy's settings (None: unchanged; an empty username removes it; the password is kept
        unless a new one is given or ``clear_password``). A rename takes the proxy's cached content records
        and counters with it. ProxyUnknownError; RepositoryExistsError for a name already taken."""
        ...

    async def remove_proxy(self, repository: str, name: str, *, expect_revision: int | None = None) -> None:
        """Remove a proxy and its counters (its cached content stays); the others move up.
        ProxyUnknownError."""
        ...

    async def move_proxy(
        self, repository: str, name: str, position: int, *, expect_revision: int | None = None
    ) -> list[Proxy]:
        """Move a proxy to ``position`` (1..n), the others shift; the new list in priority order.
        ProxyUnknownError; ValidationFailedError('position')."""
        ...


class ContentStore(Protocol):
    """What the images of a repository hold, and the upload sessions that add blobs to them."""

    # --- blobs -------------------------------------------------------------------------------------

    async def link_blob(
        self,
        repository_id: int,
        image: str,
        digest: Digest,
        size: int,
        source: ContentSource = ContentSource.LOCAL,
        proxy_name: str | None = None,
    ) -> None:
        """Make a committed blob readable in an image (idempotent)."""
        ...

    async def linked_blob_size(self, repository_id: int, image: str, digest: Digest) -> int | None:
        """The size of a blob readable in an image, or None when it is not linked there."""
        ...

    async def get_blob_link(self, repository_id: int, image: str, digest: Digest) -> BlobLink | None:
        """The link of a blob into an image (size, local or cached, which proxy), or None."""
        ...

    async def unlink_blob(self, repository_id: int, image: str, digest: Digest) -> bool: ...

    async def blob_readable_through(self, repository_id: int, digest: Digest) -> bool:
        """Whether the repository may serve a stored blob's bytes without fetching them itself: an image of
        it links the blob, or an image of a public repository does (whose content anyone may read)."""
        ...

    # --- manifests and tags ---------------------------------------------------------------------

    async def put_manifest(
        self,
        repository_id: int,
        image: str,
        record: ManifestRecord,
        references: ManifestReferences,
        tag: str | None = None,
    ) -> None:
        """Record a manifest (idempotent by digest), what it references, and point ``tag`` at it."""
        ...

    async def get_manifest(self, repository_id: int, image: str, digest: Digest) -> ManifestRecord | None: ...

    async def get_tag(self, repository_id: int, image: str, tag: str) -> TagRecord | None: ...

    async def manifest_referencing(
        self, repository_id: int, image: str, child: Digest
    ) -> ManifestRecord | None:
        """A manifest of the image that references ``child`` (a blob or a child manifest), cached ones
        first, or None. A pull-through cache uses it to know which proxy vouched for a blob."""
        ...

    async def delete_manifest(self, repository_id: int, image: str, digest: Digest) -> bool:
        """Remove a manifest from an image, with the tags that point to it."""
        ...

    async def delete_tag(self, repository_id: int, image: str, tag: str) -> bool: ...

    async def list_tags(self, repository_id: int, image: str, n: int | None, last: str | None) -> Page:
        """Tags of an image after ``last``, at most ``n`` (all when None)."""
        ...

    async def image_exists(self, repository_id: int, image: str) -> bool:
        """True when the image holds any manifest, tag or blob link."""
        ...

    async def catalog(self, n: int | None, last: str | None) -> Page:
        """Full names ``<repository>/<image>`` of every image holding a manifest, after ``last``."""
        ...

    async def list_referrers(
        self, repository_id: int, image: str, subject: Digest, artifact_type: str | None = None
    ) -> list[ManifestRecord]:
        """Manifests of an image whose ``subject`` is ``subject``, optionally of one artifact type."""
        ...

    # --- uploads -------------------------------------------------------------------------------

    async def create_upload(self, upload: Upload, limits: UploadLimits | None = None) -> None:
        """Record a new session. With ``limits``, in the same transaction: TooManyRequestsError when the
        owner or the repository already has as many live sessions as its cap allows."""
        ...

    async def get_upload(self, upload_id: str) -> Upload | None: ...

    async def set_upload_offset(self, upload_id: str, offset: int) -> None:
        """Record the bytes received so far, and now as the session's last activity."""
        ...

    async def delete_upload(self, upload_id: str) -> None: ...


class InventoryStore(Protocol):
    """Whole images of a repository at once, for the management views."""

    async def image_contents(self, repository_id: int, image: str | None = None) -> list[ImageContent]:
        """Every image of the repository holding a manifest (or just ``image``), by name, with its
        manifests, their references, its tags and blob links, read in one transaction."""
        ...

    async def delete_image(self, repository_id: int, image: str) -> bool:
        """Remove every manifest, tag and blob link of an image; False when it held none."""
        ...

    async def purge_cached(self, repository_id: int, proxy_name: str | None = None) -> tuple[int, int, int]:
        """Remove what was cached from the proxies (or from one proxy): cached tags, the cached manifests
        that no local tag or remaining manifest needs, the cached blob links no remaining manifest
        references. Local content is untouched. Returns (manifests, tags, blob links) removed."""
        ...


class UserStore(Protocol):
    """Users, their grants on repositories and their personal access tokens.

    Users are addressed by name; each method raises UserUnknownError for an unknown user. A user's grants
    map repository names to 'read' | 'write' | 'admin' (the store keeps the text; cargohold.auth checks it).
    """

    async def create_user(self, name: str, password_hash: str, is_admin: bool = False) -> UserRecord:
        """Create a user without grants. RepositoryExistsError when the name is taken."""
        ...

    async def create_first_user(self, name: str, password_hash: str) -> UserRecord | None:
        """Create a global admin only while no user exists at all (first start, also when several
        processes start at once); None when some user already exists."""
        ...

    async def has_users(self) -> bool:
        """True when at least one user exists (a cheap look before hashing a first user's password)."""
        ...

    async def get_user(self, name: str) -> UserRecord | None:
        """The user with its grants, or None."""
        ...

    async def list_users(self) -> list[UserRecord]:
        """Every user with its grants, by name."""
        ...

    async def set_user_password(self, name: str, password_hash: str) -> None: ...

    async def set_user_admin(self, name: str, is_admin: bool) -> UserRecord:
        """ValidationFailedError('is_admin') when this would leave no global admin."""
        ...

    async def delete_user(self, name: str) -> None:
        """Remove a user with its grants and tokens. ValidationFailedError('name') for the last global
        admin."""
        ...

    async def set_grant(self, name: str, repository: str, permission: str | None) -> UserRecord:
        """Grant ``permission`` on a repository (replacing the one held), or revoke it with None.
        NameUnknownError for an unknown repository."""
        ...

    async def create_access_token(
        self, user: str, name: str, token_hash: str, expires_at: datetime | None
    ) -> AccessTokenRecord:
        """Store a token by the sha256 hex of its secret. RepositoryExistsError when the user has a live
        token of that name (revoked ones do not hold their name; an expired one is revoked to give it up)."""
        ...

    async def list_access_tokens(self, user: str) -> list[AccessTokenRecord]:
        """The user's tokens, revoked ones too, by name then creation."""
        ...

    async def revoke_access_token(self, user: str, name: str) -> None:
        """Revoke the user's token of that name (a no-op when it is revoked already). UserUnknownError
        also when the user has no token of that name."""
        ...

    async def find_access_token(self, token_hash: str) -> tuple[AccessTokenRecord, UserRecord] | None:
        """The token stored under this hash, with its user (and grants), whether expired or revoked."""
        ...

    async def record_token_uses(self, uses: Mapping[int, datetime]) -> None:
        """Set ``last_used_at`` of tokens by id (keeping the later time), in one transaction; unknown ids
        are ignored. Meant for batches."""
        ...


class StatsStore(Protocol):
    """Usage: counters per repository and proxy, and when manifests were last pulled."""

    async def add_to_counters(self, deltas: Mapping[tuple[int, str, str], int]) -> None:
        """Add ``{(repository_id, proxy_name, counter): delta}`` to the counters in one transaction, correct
        when several processes add at once. ``proxy_name`` '' holds the repository's own counters. Deltas
        of repositories that no longer exist are dropped."""
        ...

    async def counters(self, repository_id: int) -> dict[tuple[str, str], int]:
        """Every counter of a repository and its proxies, ``{(proxy_name, counter): value}``."""
        ...

    async def record_pulls(self, pulls: Sequence[tuple[int, str, Digest, datetime]]) -> None:
        """Record pulls of manifests, ``(repository_id, image, digest, when)``, in one transaction: each
        manifest keeps its latest ``last_pulled_at``. Unknown manifests are ignored. Meant for batches."""
        ...

    async def record_blob_pulls(self, pulls: Sequence[tuple[int, str, Digest, datetime]]) -> None:
        """The same for blobs read through an image's blob links (unknown links are ignored)."""
        ...


class CollectorStore(Protocol):
    """What garbage collection needs (``cargohold.registry.gc``): which stored digests something still
    references, the removal of one unreferenced blob guarded against a concurrent link of it, the upload
    sessions, and the one-collector-at-a-time lock between nodes; and what ``fsck`` checks stored files
    against (which records hold a digest, and their sizes).

    A digest is *referenced* while a blob link names it, a manifest has it as its own digest, or a recorded
    manifest reference names it as a child. ``ContentStore.link_blob`` and ``put_manifest`` take the same
    per-digest guard as ``collect_blob`` (shared for them, exclusive here), so a link of a digest is either
    seen by ``collect_blob``'s check or made after its removal is done.
    """

    def collector_lock(self) -> AbstractAsyncContextManager[bool]:
        """Try (once, without waiting) to be the only collector among the servers sharing the database;
        yields whether this caller is. A PostgreSQL advisory lock held while the context is open (released
        if the connection dies); on SQLite always True (one node: the file lock between workers decides)."""
        ...

    async def referenced(self, digests: Sequence[Digest]) -> set[Digest]:
        """Those of ``digests`` that something references."""
        ...

    async def collect_blob(self, digest: Digest, remove: Callable[[], Awaitable[int | None]]) -> int | None:
        """In one write transaction holding the digest's guard exclusively: when nothing references
        ``digest``, run ``remove`` (which deletes the bytes and answers how many, or None when it kept them)
        and answer what it answered; None without calling it when the digest is referenced."""
        ...

    async def collect_blobs(
        self, digests: Sequence[Digest], remove: Callable[[Digest], Awaitable[int | None]]
    ) -> dict[Digest, int]:
        """``collect_blob`` for a batch in one write transaction: the guard of every digest taken
        exclusively (in one order, so two collectors never deadlock), one reference check for all, then
        ``remove(digest)`` for each unreferenced one; answers the bytes freed per digest removed."""
        ...

    async def list_uploads(self) -> list[Upload]:
        """Every upload session, oldest first."""
        ...

    async def held_digests(self) -> set[Digest]:
        """Every digest a blob link or a manifest holds (whose bytes must be stored), for ``fsck``."""
        ...

    async def holdings(self, digests: Sequence[Digest]) -> list[Holding]:
        """The blob links and manifests that hold any of ``digests``, with their recorded sizes."""
        ...


class StorageStore(Protocol):
    """Storage accounting and eviction (``cargohold.registry.accounting``, ``cargohold.registry.eviction``).

    A repository *holds* a digest while one of its blob links or manifests names it; sizes are those
    recorded with the link or manifest. Eviction removes metadata only; the garbage collector then removes
    the bytes nothing references any more.
    """

    def eviction_lock(self) -> AbstractAsyncContextManager[bool]:
        """Try (once, without waiting) to be the only evictor among the servers sharing the database; yields
        whether this caller is (as ``CollectorStore.collector_lock``, under a key of its own)."""
        ...

    async def storage_usage(self) -> StoreUsage:
        """Bytes each repository holds, local and cached (each digest once per repository), and the store's
        total (each digest once), read in one transaction. Repositories holding nothing are absent."""
        ...

    async def evict_version(
        self, repository_id: int, image: str, digest: Digest, pulled_at: datetime | None
    ) -> bool:
        """Remove one cached image version: the cached manifest ``digest`` with its tags, the child manifests
        of it nothing else in the image needs, and the cached blob links of the image no remaining manifest
        references. Refused (False, nothing changed) when the manifest is gone, is local, is the target of a
        local tag or a child of another manifest, or was pulled after ``pulled_at`` (the time the caller saw
        when it chose it): a version pulled meanwhile stays."""
        ...
