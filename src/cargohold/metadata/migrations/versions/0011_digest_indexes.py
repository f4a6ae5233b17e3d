"""Indexes of manifests and manifest references by digest alone: garbage collection asks, for every stored
blob file, whether any repository's manifest is or references that digest.

Revision ID: 0011
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_manifests_digest", "manifests", ["digest"])
    op.create_index("ix_manifest_references_child_digest", "manifest_references", ["child_digest"])


def downgrade() -> None:
    op.drop_index("ix_manifest_references_child_digest", table_name="manifest_references")
    op.drop_index("ix_manifests_digest", table_name="manifests")
