"""Management: when each manifest was last pulled, and the usage counters of repositories and proxies.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types of this revision (schema.py may move on; this file must not).
NAME = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("manifests", sa.Column("last_pulled_at", TIMESTAMP, nullable=True))
    op.create_table(
        "stats_counters",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("proxy_name", NAME, nullable=False),
        sa.Column("counter", sa.Text(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("repository_id", "proxy_name", "counter"),
        sa.ForeignKeyConstraint(["repository_id"], ["repositories.id"], ondelete="CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("stats_counters")
    with op.batch_alter_table("manifests") as batch:
        batch.drop_column("last_pulled_at")
