"""Reading request bodies under /v2: streamed in chunks, and cut off when the client stops sending.

A client that sends no body bytes for ``BODY_IDLE_TIMEOUT`` seconds (60 by default; an application may
set another with ``BODY_IDLE_TIMEOUT_KEY``) is answered 408 instead of holding a connection, a lock on its
upload session and a spool file open forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Final

from aiohttp import web

from cargohold.errors import RegistryError

CHUNK_SIZE: Final = 1 << 20
BODY_IDLE_TIMEOUT: Final = 60.0
BODY_IDLE_TIMEOUT_KEY: Final = web.AppKey("oci_body_idle_timeout", float)


class BodyTimeoutError(RegistryError):
    """the client sent no body bytes for too long"""


async def request_body(request: web.Request, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive; BodyTimeoutError when none comes for the idle timeout."""
    idle = request.config_dict.get(BODY_IDLE_TIMEOUT_KEY, BODY_IDLE_TIMEOUT)
    stream = request.content
    while True:
        try:
            async with asyncio.timeout(idle):
                chunk = await stream.read(chunk_size)
        except TimeoutError:
            raise BodyTimeoutError(f"no body bytes arrived for {idle:g} seconds") from None
        if not chunk:
            return
        yield chunk
