"""A first-priority proxy whose manifests are right but whose blob bodies are corrupt is not asked for those
blobs again: a small blob is verified before its first byte goes out, so the client gets it from the next
proxy in the same request; a large one streams, and the client's retry gets the right bytes. The liar is a
fake on purpose (tests/support/fake_upstream.py); the honest proxy is a real Distribution, and real skopeo
and podman pull through both (a streamed layer may fail their first pull once; their user's retry works).
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from tests.proxy_e2e.upstreams import NO_TLS, fetch, proxy, repository, seed_upstream, upstream_requests
from tests.support.clients import ContainerTools
from tests.support.distribution import DistributionRegistry
from tests.support.fake_upstream import Answer, FakeUpstream
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.images import Image, read_dir_image

pytestmark = pytest.mark.clients

SMALL, LARGE = 200_000, 6 * 1024 * 1024  # below and above the size verified before sending (4 MiB)


def blob_bytes(image: Image, digest: str) -> bytes:
    return (image.layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()


def lying_copy(liar: FakeUpstream, image: Image, name: str) -> None:
    """Serve ``image`` from ``liar``: the right manifest and config, corrupt layers of the same size."""
    manifest = image.manifests[0]
    body = blob_bytes(image, manifest.blob.digest)
    headers = {"Content-Type": manifest.blob.media_type, "Docker-Content-Digest": manifest.blob.digest}
    liar.manifests[name] = Answer(body=body, headers=headers)  # by the tag and by its digest alike
    liar.blobs_by_digest[manifest.config.digest] = Answer(body=blob_bytes(image, manifest.config.digest))
    for layer in manifest.layers:
        right = blob_bytes(image, layer.digest)
        liar.blobs_by_digest[layer.digest] = Answer(body=bytes(byte ^ 0x5A for byte in right))


def seeded(
    distribution_factory: DistributionFactory, tools: ContainerTools, tmp_path: Path
) -> tuple[DistributionRegistry, Image]:
    honest = distribution_factory()
    image = seed_upstream(
        tools, honest, tmp_path / "src", "team/app", "1.0", seed=51, layer_sizes=(SMALL, LARGE)
    )
    return honest, image


def get_or_error(url: str) -> tuple[bytes | str, str | None]:
    try:
        answer = fetch(url)
    except Exception as error:  # a streamed body that fails verification drops the connection
        return f"dropped: {error!r}", None
    if answer.status != 200:
        return f"status {answer.status}", None
    return answer.body, answer.headers.get("Cargohold-Upstream")


@pytest.mark.parametrize("size", ["small", "large"])
async def test_a_corrupt_blob_is_not_asked_of_its_proxy_again(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
    size: str,
) -> None:
    honest, image = await asyncio.to_thread(seeded, distribution_factory, container_tools, tmp_path)
    layer = image.manifests[0].layers[0 if size == "small" else 1]
    right = blob_bytes(image, layer.digest)
    async with FakeUpstream() as liar:
        lying_copy(liar, image, "team/app")
        server = await asyncio.to_thread(
            cargohold_factory, [repository("hub", [proxy("liar", liar.url), proxy("honest", honest.url)])]
        )
        assert (await asyncio.to_thread(fetch, f"{server.url}/v2/hub/team/app/manifests/1.0")).status == 200
        url = f"{server.url}/v2/hub/team/app/blobs/{layer.digest}"
        first = await asyncio.to_thread(get_or_error, url)
        again = await asyncio.to_thread(get_or_error, url)
        liar_gets = [seen.path for seen in liar.seen if seen.method == "GET" and "/blobs/" in seen.path]
    if size == "small":  # verified before its first byte went out: the same request got the right bytes
        assert first == (right, "honest")
    else:  # streamed: the first client saw the failure (a dropped connection), its retry did not
        assert first[0] != right
    assert again == (right, "honest")
    assert liar_gets == [f"/v2/team/app/blobs/{layer.digest}"]
    assert "proxy liar of repository hub failed (bad_content)" in server.service.log_text()


@pytest.mark.parametrize("client", ["skopeo", "podman"])
async def test_clients_pull_an_image_whose_first_proxy_sends_corrupt_layers(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
    client: str,
) -> None:
    honest, image = await asyncio.to_thread(seeded, distribution_factory, container_tools, tmp_path)
    async with FakeUpstream() as liar:
        lying_copy(liar, image, "team/app")
        server = await asyncio.to_thread(
            cargohold_factory, [repository("hub", [proxy("liar", liar.url), proxy("honest", honest.url)])]
        )
        reference = server.docker_ref("hub", "team/app", "1.0")
        if client == "skopeo":
            target = tmp_path / "pulled"
            copy = ("copy", *NO_TLS, "--retry-times", "3", reference, f"dir:{target}")
            # skopeo 1.9 does not count a body that broke off among the errors --retry-times retries: the
            # layer the liar streamed may fail this copy once; the user's next copy must get it right
            first = await asyncio.to_thread(container_tools.skopeo, *copy, check=False)
            if first.returncode != 0:
                await asyncio.to_thread(container_tools.skopeo, *copy)
            pulled = read_dir_image(target)
            assert pulled.manifests[0].layer_digests == image.manifests[0].layer_digests
        else:
            name = reference.removeprefix("docker://")
            # podman 4.3 does not retry a layer whose body broke off; its user's second pull must work
            first = await asyncio.to_thread(
                container_tools.podman, "pull", "--tls-verify=false", name, check=False
            )
            if first.returncode != 0:
                await asyncio.to_thread(container_tools.podman, "pull", "--tls-verify=false", name)
            inspected = await asyncio.to_thread(container_tools.podman_inspect, name)
            assert inspected["Digest"] == image.digest
    for layer in image.manifests[0].layers:
        stored = server.data_dir / "blobs" / "sha256" / layer.digest[7:9] / layer.digest[7:]
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == layer.digest[7:]
    assert upstream_requests(honest, "GET", "/blobs/")
