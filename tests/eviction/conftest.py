"""The metadata backends of the contract suite (SQLite, and PostgreSQL in a schema of its own) for the
eviction tests that must hold on both."""

from tests.contract.conftest import backend

__all__ = ["backend"]
