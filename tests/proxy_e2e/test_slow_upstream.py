"""A trickling upstream is cut off: a blob body that keeps coming, one byte at a time, fails its proxy for
that blob once its average rate over the window is below the floor, and the next proxy answers in the
same request. The trickling upstream is a fake on purpose (tests/support/fake_upstream.py): a real
registry does not send one byte at a time. cargohold itself is the real server."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.proxy_e2e.test_misbehaving_upstreams import LAYER, LAYER_DIGEST, stored_blobs
from tests.proxy_e2e.upstreams import fetch, log_lines, proxy, repository
from tests.support.fake_upstream import Answer, FakeUpstream, RawUpstream, trickle
from tests.support.fixtures import CargoholdFactory

pytestmark = pytest.mark.clients

FLOOR = {"upstream": {"min_bytes_per_second": 4096, "throughput_window_seconds": 1.0}}


async def test_a_trickling_proxy_is_cut_off_and_the_next_one_serves_the_blob(
    cargohold_factory: CargoholdFactory,
) -> None:
    async with RawUpstream(trickle(len(LAYER), every=0.05)) as slow, FakeUpstream() as honest:
        honest.blobs["team/app"] = Answer(body=LAYER)
        server = await asyncio.to_thread(
            cargohold_factory,
            [repository("hub", [proxy("slow", slow.url), proxy("honest", honest.url)])],
            extra_config=FLOOR,
        )
        started = time.monotonic()
        answer = await asyncio.to_thread(fetch, f"{server.url}/v2/hub/team/app/blobs/{LAYER_DIGEST}")
        elapsed = time.monotonic() - started
    assert answer.status == 200
    assert answer.body == LAYER
    assert elapsed < 30, (
        f"the trickle ({len(LAYER) * 0.05:.0f} s at its pace) was waited on for {elapsed:.0f} s"
    )
    assert log_lines(server, "proxy slow of repository hub failed (timeout)")
    assert "crawls" in server.service.log_text()
    assert len(stored_blobs(server)) == 1
