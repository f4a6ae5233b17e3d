"""The SQL tables of the metadata store, as SQLAlchemy Core ``Table`` objects, and the two column types
they share: ``NameText`` (text compared byte by byte on every backend) and ``UtcDateTime`` (timezone-aware
UTC in and out, on SQLite too).

These definitions are what the queries in ``cargohold.metadata.sql`` are written against; the schema in
a database is created and changed only by the Alembic migrations under ``migrations/``, which must agree
with this module (``tests/contract/test_metadata_contract_migrations.py`` compares them).

Images are addressed by ``(repository_id, image)``; a manifest is keyed by ``(repository_id, image,
digest)`` and its tags and reference rows hang off that key with ``ON DELETE CASCADE``, as everything of a
repository hangs off ``repositories.id``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.types import TypeEngine

# SQLite compares text with BINARY (memcmp of UTF-8) by default; PostgreSQL needs the "C" collation for the
# same byte order, whatever the database's default collation is.
NameText: TypeEngine[str] = Text().with_variant(Text(collation="C"), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # cargohold keeps time in UTC; a naive value means UTC
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData()

repositories = Table(
    "repositories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", NameText, nullable=False),
    Column("visibility", Text, nullable=False),
    Column("is_default", Boolean, nullable=False),
    Column("tag_ttl_seconds", Integer, nullable=False),
    Column("managed_by_config", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # Revision 0005: the cache policy (0: no quota, never by age; pins a JSON list of patterns or NULL)
    Column("max_cached_bytes", BigInteger, nullable=False, server_default=text("0")),
    Column("evict_unused_after_days", Integer, nullable=False, server_default=text("0")),
    Column("pins", JSON(none_as_null=True), nullable=True),
    # every management change of the repository or its proxies adds one (its ETag; If-Match compares it)
    Column("revision", Integer, nullable=False, server_default="1"),
    UniqueConstraint("name", name="repositories_name_key"),
    # At most one default repository, enforced by the database as well as by the store.
    Index(
        "uq_repositories_one_default",
        "is_default",
        unique=True,
        sqlite_where=text("is_default"),
        postgresql_where=text("is_default"),
    ),
)

repository_hosts = Table(
    "repository_hosts",
    metadata,
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("host", Text, nullable=False),  # lower-cased
    PrimaryKeyConstraint("repository_id", "host"),
    Index("ix_repository_hosts_host", "host"),
)

proxies = Table(
    "proxies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("name", NameText, nullable=False),
    Column("url", Text, nullable=False),
    Column("username", Text, nullable=True),
    Column("password", Text, nullable=True),
    Column("ssl_validation", Boolean, nullable=False),
    Column("connection_timeout_ms", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("name_include", JSON, nullable=False, server_default="[]"),  # name rules: glob patterns
    Column("name_exclude", JSON, nullable=False, server_default="[]"),
    # Revision 0010: a global admin (or the config file) set the URL: it may lead to private addresses.
    Column("private_networks_approved", Boolean, nullable=False, server_default=false()),
    Column("answer_timeout_ms", Integer, nullable=False, server_default=text("5000")),  # revision 0010
    UniqueConstraint("repository_id", "name", name="uq_proxies_repository_name"),
    Index("ix_proxies_repository_priority", "repository_id", "priority"),
)

blob_links = Table(
    "blob_links",
    metadata,
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("image", NameText, nullable=False),
    Column("digest", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("source", Text, nullable=False),
    Column("proxy_name", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_pulled_at", UtcDateTime, nullable=True),  # revision 0005; written in batches
    PrimaryKeyConstraint("repository_id", "image", "digest"),
    Index("ix_blob_links_digest", "digest"),
)

manifests = Table(
    "manifests",
    metadata,
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("image", NameText, nullable=False),
    Column("digest", Text, nullable=False),
    Column("media_type", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("artifact_type", Text, nullable=True),
    Column("subject", Text, nullable=True),
    Column("annotations", JSON(none_as_null=True), nullable=True),
    Column("source", Text, nullable=False),
    Column("proxy_name", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_pulled_at", UtcDateTime, nullable=True),  # revision 0002; written in batches
    PrimaryKeyConstraint("repository_id", "image", "digest"),
    Index("ix_manifests_subject", "repository_id", "image", "subject"),
    Index("ix_manifests_digest", "digest"),  # revision 0005: gc's reference checks
)

manifest_references = Table(
    "manifest_references",
    metadata,
    Column("repository_id", Integer, nullable=False),
    Column("image", NameText, nullable=False),
    Column("manifest_digest", Text, nullable=False),
    Column("kind", Text, nullable=False),  # 'blob' | 'manifest'
    Column("child_digest", Text, nullable=False),
    PrimaryKeyConstraint("repository_id", "image", "manifest_digest", "kind", "child_digest"),
    ForeignKeyConstraint(
        ["repository_id", "image", "manifest_digest"],
        ["manifests.repository_id", "manifests.image", "manifests.digest"],
        ondelete="CASCADE",
    ),
    Index("ix_manifest_references_child", "repository_id", "image", "child_digest"),
    Index("ix_manifest_references_child_digest", "child_digest"),  # revision 0005: gc's reference checks
)

tags = Table(
    "tags",
    metadata,
    Column("repository_id", Integer, nullable=False),
    Column("image", NameText, nullable=False),
    Column("tag", NameText, nullable=False),
    Column("digest", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("proxy_name", Text, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("repository_id", "image", "tag"),
    ForeignKeyConstraint(
        ["repository_id", "image", "digest"],
        ["manifests.repository_id", "manifests.image", "manifests.digest"],
        ondelete="CASCADE",
    ),
    Index("ix_tags_digest", "repository_id", "image", "digest"),
)

uploads = Table(
    "uploads",
    metadata,
    Column("id", Text, primary_key=True),
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("image", NameText, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("owner", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=True),  # revision 0010: the last byte received (None: none)
    Index("ix_uploads_repository", "repository_id"),
)

# Revision 0002: usage counters, added up across worker processes. ``proxy_name`` is '' for the counters of
# the repository itself; ``counter`` is a name such as 'requests' or 'failures.timeout'.
stats_counters = Table(
    "stats_counters",
    metadata,
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("proxy_name", NameText, nullable=False),
    Column("counter", Text, nullable=False),
    Column("value", BigInteger, nullable=False),
    PrimaryKeyConstraint("repository_id", "proxy_name", "counter"),
)

# Revision 0003: users, their grants on repositories, and their personal access tokens.
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", NameText, nullable=False),
    Column("password_hash", Text, nullable=False),  # argon2id, PHC string
    Column("is_admin", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("name", name="users_name_key"),
)

user_grants = Table(
    "user_grants",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("permission", Text, nullable=False),  # 'read' | 'write' | 'admin'
    PrimaryKeyConstraint("user_id", "repository_id"),
    Index("ix_user_grants_repository", "repository_id"),
)

# A token is found by the sha256 of its secret; its name is unique among the user's tokens not revoked.
access_tokens = Table(
    "access_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", NameText, nullable=False),
    Column("token_hash", Text, nullable=False),  # sha256 hex of the whole secret
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("last_used_at", UtcDateTime, nullable=True),
    UniqueConstraint("token_hash", name="uq_access_tokens_hash"),
    Index(
        "uq_access_tokens_user_live_name",
        "user_id",
        "name",
        unique=True,
        sqlite_where=text("revoked_at IS NULL"),
        postgresql_where=text("revoked_at IS NULL"),
    ),
)
