"""Per-proxy name rules: the glob patterns of image names a proxy is asked for (``name_include``) and never
asked for (``name_exclude``), JSON lists that are empty for every existing proxy. And a repository's
``revision``, counting the management changes of it and its proxies: its ETag, which If-Match compares.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("proxies", sa.Column("name_include", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("proxies", sa.Column("name_exclude", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("repositories", sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("repositories") as batch:
        batch.drop_column("revision")
    with op.batch_alter_table("proxies") as batch:
        batch.drop_column("name_exclude")
        batch.drop_column("name_include")
