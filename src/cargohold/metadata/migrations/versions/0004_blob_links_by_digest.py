"""An index of blob links by digest: whether a repository may reuse stored bytes asks which repositories
link a digest, and so will the garbage collector.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_blob_links_digest", "blob_links", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_blob_links_digest", table_name="blob_links")
