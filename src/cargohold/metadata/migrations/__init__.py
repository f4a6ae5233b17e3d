"""Alembic migrations of the SQL metadata store, run programmatically by ``cargohold.metadata.migrate``."""
