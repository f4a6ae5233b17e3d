"""The answer timeout: how long a request may wait for its response headers once they were sent, apart from
connecting (``connection_timeout_ms``) and from a body that stalls (``upstream.read_timeout_seconds``).

aiohttp has no timeout for this phase alone, so ``answered`` runs the request under an ``asyncio.timeout``
with no deadline and ``answer_trace`` (a ``TraceConfig`` of the session) sets the deadline when the request's
headers have gone out: connecting and waiting for a pooled connection do not count, the answer does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from contextvars import ContextVar

import aiohttp

__all__ = ["AnswerTimeoutError", "answer_trace", "answered"]


class AnswerTimeoutError(TimeoutError):
    """No response headers within the answer timeout."""


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.timeout: asyncio.Timeout | None = None

    def start(self) -> None:
        if self.timeout is not None:
            self.timeout.reschedule(asyncio.get_running_loop().time() + self.seconds)


_CURRENT: ContextVar[_Deadline | None] = ContextVar("cargohold_answer_deadline", default=None)


async def answered(request: Awaitable[aiohttp.ClientResponse], seconds: float) -> aiohttp.ClientResponse:
    """Await ``request`` (a request of a session made with ``answer_trace``); AnswerTimeoutError when its
    headers were sent and no response headers came within ``seconds``."""
    deadline = _Deadline(seconds)
    token = _CURRENT.set(deadline)
    try:
        async with asyncio.timeout(None) as deadline.timeout:
            return await request
    except TimeoutError:
        if deadline.timeout is not None and deadline.timeout.expired():
            raise AnswerTimeoutError(f"no answer within {seconds:g} s") from None
        raise
    finally:
        _CURRENT.reset(token)


def answer_trace() -> aiohttp.TraceConfig:
    """Starts the current request's answer deadline when its headers have been sent."""
    trace = aiohttp.TraceConfig()

    async def headers_sent(*_: object) -> None:
        deadline = _CURRENT.get()
        if deadline is not None:
            deadline.start()

    trace.on_request_headers_sent.append(headers_sent)
    return trace
