"""The handler of ``POST /api/v1/repositories/{repo}/warm``: fetch images into the cache ahead of time
(``cargohold.proxy.warm``), answered as a stream of events while it runs."""

from __future__ import annotations

from collections.abc import AsyncIterator

from cargohold.api.management.errors import ApiError
from cargohold.api.management.operation import Call, EventStream
from cargohold.api.management.warm_schemas import WarmEvent, WarmRequest
from cargohold.proxy.warm import WarmTarget


async def warm(call: Call) -> EventStream:
    warmer = call.services.warmer
    if warmer is None:
        raise ApiError(503, "this server does not warm caches")
    request = call.body_as(WarmRequest)
    repository = await warmer.repository(call.param("repo"))  # 404 before the stream starts
    targets = [WarmTarget.parse(image) for image in request.images]

    async def events() -> AsyncIterator[WarmEvent]:
        async for event in warmer.warm(repository, targets, request.platforms):
            yield WarmEvent.model_validate(event)

    return EventStream(events())
