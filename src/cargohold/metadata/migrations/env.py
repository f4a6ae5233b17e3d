"""Alembic environment of the metadata store: online only, on the connection the caller hands over.

``cargohold.metadata.migrate`` opens the transaction (holding the migration lock) and passes its
connection in ``config.attributes["connection"]``; no ``alembic.ini`` and no URL are involved.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from cargohold.metadata.schema import metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("cargohold migrations run programmatically: use cargohold.metadata.migrate")
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("cargohold migrations have no offline (SQL script) mode")
run_migrations_online()
