"""Guards: whether a global admin set a proxy's URL (so it may lead to private addresses), and when an
upload session last received bytes (idle sessions expire and stop counting toward the caps), and each
proxy's answer timeout (time to the response headers; 5000 ms for the proxies that exist).

Proxies that exist before this revision count as approved: they were saved before the rule existed, and
refusing them now would silently break working repositories (docs/security.md says to review them).

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types of this revision (schema.py may move on; this file must not).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "proxies",
        sa.Column("private_networks_approved", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(sa.text("UPDATE proxies SET private_networks_approved = :yes").bindparams(yes=True))
    op.add_column("uploads", sa.Column("updated_at", TIMESTAMP, nullable=True))
    op.add_column(
        "proxies",
        sa.Column("answer_timeout_ms", sa.Integer(), nullable=False, server_default=sa.text("5000")),
    )


def downgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("updated_at")
    with op.batch_alter_table("proxies") as batch:
        batch.drop_column("answer_timeout_ms")
        batch.drop_column("private_networks_approved")
