"""The handler of ``POST /api/v1/gc``: garbage collection now (``cargohold.registry.gc``), or a dry run."""

from __future__ import annotations

from cargohold.api.management.errors import ApiError
from cargohold.api.management.gc_schemas import GcRequest
from cargohold.api.management.operation import Call
from cargohold.registry.gc import CollectorBusyError, GcReport


async def collect(call: Call) -> GcReport:
    collector = call.services.gc
    if collector is None:
        raise ApiError(503, "this server does not collect garbage")
    request = call.body_as(GcRequest)
    try:
        return await collector.collect(dry_run=request.dry_run)
    except CollectorBusyError as busy:
        raise ApiError(409, busy.message) from None
