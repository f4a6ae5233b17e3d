"""The initial metadata schema: repositories, their hosts and proxies, blob links, manifests with their
references, tags, and upload sessions.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types of this revision (schema.py may move on; this file must not).
NAME = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def _repository_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["repository_id"], ["repositories.id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "repositories",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", NAME, nullable=False),
        sa.Column("visibility", sa.Text(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("tag_ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("managed_by_config", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("name", name="repositories_name_key"),
    )
    op.create_index(
        "uq_repositories_one_default",
        "repositories",
        ["is_default"],
        unique=True,
        sqlite_where=sa.text("is_default"),
        postgresql_where=sa.text("is_default"),
    )

    op.create_table(
        "repository_hosts",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("host", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("repository_id", "host"),
        _repository_fk(),
    )
    op.create_index("ix_repository_hosts_host", "repository_hosts", ["host"])

    op.create_table(
        "proxies",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=True),
        sa.Column("password", sa.Text(), nullable=True),
        sa.Column("ssl_validation", sa.Boolean(), nullable=False),
        sa.Column("connection_timeout_ms", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.UniqueConstraint("repository_id", "name", name="uq_proxies_repository_name"),
        _repository_fk(),
    )
    op.create_index("ix_proxies_repository_priority", "proxies", ["repository_id", "priority"])

    op.create_table(
        "blob_links",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("image", NAME, nullable=False),
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("proxy_name", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("repository_id", "image", "digest"),
        _repository_fk(),
    )

    op.create_table(
        "manifests",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("image", NAME, nullable=False),
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("media_type", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("artifact_type", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("annotations", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("proxy_name", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("repository_id", "image", "digest"),
        _repository_fk(),
    )
    op.create_index("ix_manifests_subject", "manifests", ["repository_id", "image", "subject"])

    op.create_table(
        "manifest_references",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("image", NAME, nullable=False),
        sa.Column("manifest_digest", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("child_digest", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("repository_id", "image", "manifest_digest", "kind", "child_digest"),
        sa.ForeignKeyConstraint(
            ["repository_id", "image", "manifest_digest"],
            ["manifests.repository_id", "manifests.image", "manifests.digest"],
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_manifest_references_child", "manifest_references", ["repository_id", "image", "child_digest"]
    )

    op.create_table(
        "tags",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("image", NAME, nullable=False),
        sa.Column("tag", NAME, nullable=False),
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("proxy_name", sa.Text(), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("repository_id", "image", "tag"),
        sa.ForeignKeyConstraint(
            ["repository_id", "image", "digest"],
            ["manifests.repository_id", "manifests.image", "manifests.digest"],
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_tags_digest", "tags", ["repository_id", "image", "digest"])

    op.create_table(
        "uploads",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("image", NAME, nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        _repository_fk(),
    )
    op.create_index("ix_uploads_repository", "uploads", ["repository_id"])


def downgrade() -> None:
    for table in (
        "uploads",
        "tags",
        "manifest_references",
        "manifests",
        "blob_links",
        "proxies",
        "repository_hosts",
        "repositories",
    ):
        op.drop_table(table)
