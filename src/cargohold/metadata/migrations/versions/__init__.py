"""Alembic revision scripts of the SQL metadata store, oldest first (``0001_initial`` …)."""
