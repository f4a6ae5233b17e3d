"""The cache policy of a repository (``max_cached_bytes``, ``evict_unused_after_days``, ``pins``), when a blob
was last pulled through an image (``blob_links.last_pulled_at``, written in batches), and two
indexes by digest alone, which garbage collection and eviction ask whether anything still references a digest.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "repositories", sa.Column("max_cached_bytes", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.add_column(
        "repositories",
        sa.Column("evict_unused_after_days", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("repositories", sa.Column("pins", sa.JSON(none_as_null=True), nullable=True))
    op.add_column("blob_links", sa.Column("last_pulled_at", TIMESTAMP, nullable=True))
    op.create_index("ix_manifests_digest", "manifests", ["digest"])
    op.create_index("ix_manifest_references_child_digest", "manifest_references", ["child_digest"])


def downgrade() -> None:
    op.drop_index("ix_manifest_references_child_digest", table_name="manifest_references")
    op.drop_index("ix_manifests_digest", table_name="manifests")
    with op.batch_alter_table("blob_links") as batch:
        batch.drop_column("last_pulled_at")
    with op.batch_alter_table("repositories") as batch:
        batch.drop_column("pins")
        batch.drop_column("evict_unused_after_days")
        batch.drop_column("max_cached_bytes")
