"""Handlers of the storage operations: the whole store's usage and the disk (a global admin), and one
repository's breakdown (whoever manages it)."""

from __future__ import annotations

from cargohold.api.management.errors import ApiError
from cargohold.api.management.operation import Call
from cargohold.registry.accounting import RepositoryBreakdown, StorageAccounting, StoreStorage


def _accounting(call: Call) -> StorageAccounting:
    if call.services.storage is None:
        raise ApiError(503, "this server keeps no storage accounts")
    return call.services.storage


async def store(call: Call) -> StoreStorage:
    return await _accounting(call).store()


async def repository(call: Call) -> RepositoryBreakdown:
    return await _accounting(call).repository(call.param("repo"))
