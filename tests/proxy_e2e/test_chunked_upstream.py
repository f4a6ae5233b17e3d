"""An upstream that sends a blob with chunked transfer encoding and no Content-Length works for every client,
also one that falls far behind the download; when a HEAD gives the size, clients get a Content-Length.
The upstream is a fake on purpose (tests/support/fake_upstream.py): Distribution always sends a length.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import os

from tests.proxy_e2e.upstreams import fetch, proxy, repository
from tests.support.fake_upstream import Answer, FakeUpstream
from tests.support.fixtures import CargoholdFactory

BLOB = os.urandom(24 * 1024 * 1024)
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


def read_late(connection: http.client.HTTPConnection) -> tuple[int, dict[str, str], bytes]:
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


async def test_a_chunked_blob_reaches_a_client_that_falls_behind_the_download(
    cargohold_factory: CargoholdFactory,
) -> None:
    async with FakeUpstream() as upstream:
        upstream.blobs["team/app"] = Answer(body=BLOB, chunked=True)
        server = await asyncio.to_thread(cargohold_factory, [repository("hub", [proxy("up", upstream.url)])])
        laggard = http.client.HTTPConnection("127.0.0.1", server.service.port, timeout=120)
        # The laggard asks first and reads nothing until the other client has the whole blob: its feed
        # falls behind the in-memory window and finishes from the spool and the stored file.
        await asyncio.to_thread(laggard.request, "GET", f"/v2/hub/team/app/blobs/{DIGEST}")
        first = await asyncio.to_thread(fetch, f"{server.url}/v2/hub/team/app/blobs/{DIGEST}")
        status, headers, body = await asyncio.to_thread(read_late, laggard)
        blob_gets = [seen for seen in upstream.seen if seen.method == "GET" and DIGEST in seen.path]
    assert first.status == 200
    assert first.body == BLOB
    assert status == 200
    assert body == BLOB
    assert "Content-Length" not in headers  # nobody said how long it is: chunked to the client as well
    assert len(blob_gets) == 1
    log = server.service.log_text()
    assert "unhandled error" not in log
    assert "Traceback" not in log


async def test_a_chunked_blob_gets_its_length_from_a_head(cargohold_factory: CargoholdFactory) -> None:
    async with FakeUpstream() as upstream:
        upstream.blobs["team/app"] = Answer(body=BLOB, chunked=True, head_length=True)
        server = await asyncio.to_thread(cargohold_factory, [repository("hub", [proxy("up", upstream.url)])])
        answer = await asyncio.to_thread(fetch, f"{server.url}/v2/hub/team/app/blobs/{DIGEST}")
    assert answer.status == 200
    assert answer.headers["Content-Length"] == str(len(BLOB))
    assert answer.body == BLOB


async def test_a_chunked_blob_that_does_not_match_its_digest_is_never_served_whole_nor_kept(
    cargohold_factory: CargoholdFactory,
) -> None:
    async with FakeUpstream() as upstream:
        upstream.blobs["team/app"] = Answer(body=BLOB + b"trailing junk", chunked=True)
        server = await asyncio.to_thread(cargohold_factory, [repository("hub", [proxy("up", upstream.url)])])
        try:
            answer = await asyncio.to_thread(fetch, f"{server.url}/v2/hub/team/app/blobs/{DIGEST}")
            outcome: bytes | str = answer.body if answer.status == 200 else f"status {answer.status}"
        except Exception as error:  # the connection is dropped when the body fails verification
            outcome = f"dropped: {error!r}"
    assert outcome != BLOB
    assert not [path for path in (server.data_dir / "blobs").rglob("*") if path.is_file()]
