"""The upstream client pool: one client per proxy setting, and the client of a proxy's previous settings is
retired, its HTTP session closed once nothing uses it (an edit of a proxy used to leak a session). The
upstream is a fake (tests/support/fake_upstream.py): only what the pool does with its clients matters."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace

from cargohold.models import Digest, Proxy
from cargohold.proxy.resolver import UpstreamPool
from tests.support.fake_upstream import Answer, FakeUpstream

BLOB = b"a blob the old client still streams " * 1000
DIGEST = Digest("sha256", hashlib.sha256(BLOB).hexdigest())


async def until(condition: object) -> None:
    """Let the loop run the close task the pool scheduled (bounded)."""
    for _ in range(100):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0)


async def test_an_edited_proxy_gets_a_new_client_and_the_old_one_closes_once_its_body_is_read() -> None:
    pool = UpstreamPool(read_timeout=10)
    async with FakeUpstream() as upstream:
        upstream.blobs["team/app"] = Answer(body=BLOB)
        proxy = Proxy(name="up", url=upstream.url, id=7)
        first = pool.client(proxy)
        assert pool.client(proxy) is first
        response = await first.open_blob("team/app", DIGEST)

        edited = pool.client(replace(proxy, username="someone", password="new-secret"))
        assert edited is not first
        assert pool.client(replace(proxy, username="someone", password="new-secret")) is edited
        assert not first.closed, "a body is still being read through it"
        body = b"".join([chunk async for chunk in response.iter_chunks()])
        await response.close()
        await until(lambda: first.closed)
        assert first.closed
        assert body == BLOB

        renamed = pool.client(replace(proxy, name="renamed"))
        await until(lambda: edited.closed)
        assert edited.closed, "an idle client is closed at once"
        assert not renamed.closed
        await pool.close()
