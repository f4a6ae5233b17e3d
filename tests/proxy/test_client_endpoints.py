"""Where ``UpstreamClient`` sends requests: Docker Hub's aliases and ``library/``, path prefixes, origins,
and ``Retry-After`` arithmetic; plus a proxy whose URL cannot be used failing like any other proxy.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from yarl import URL

from cargohold.errors import ConfigError, FailureKind, UpstreamFailedError
from cargohold.models import Proxy, Reference
from cargohold.proxy.client import UpstreamClient
from cargohold.proxy.endpoints import Endpoint, same_origin
from cargohold.proxy.failures import Redactor, parse_retry_after


@pytest.mark.parametrize(
    "url",
    [
        "https://docker.io",
        "https://index.docker.io/",
        "https://registry.docker.io",
        "https://registry-1.docker.io",
    ],
)
def test_docker_hub_aliases_go_to_registry_1(url: str) -> None:
    endpoint = Endpoint(url)
    assert endpoint.is_docker_hub
    assert (
        str(endpoint.url("nginx", "manifests", "1.27"))
        == "https://registry-1.docker.io/v2/library/nginx/manifests/1.27"
    )
    assert endpoint.pull_scope("nginx") == "repository:library/nginx:pull"
    assert endpoint.image_name("bitnami/redis") == "bitnami/redis"


def test_other_registries_keep_one_component_names() -> None:
    endpoint = Endpoint("http://127.0.0.1:5001")
    assert not endpoint.is_docker_hub
    assert (
        str(endpoint.url("nginx", "blobs", "sha256:ab")) == "http://127.0.0.1:5001/v2/nginx/blobs/sha256:ab"
    )


def test_path_prefix_trailing_v2_and_userinfo() -> None:
    endpoint = Endpoint("https://user:secret@artifactory.example/api/docker/remote/v2/")
    assert (
        str(endpoint.url("a/b", "manifests", "t"))
        == "https://artifactory.example/api/docker/remote/v2/a/b/manifests/t"
    )
    assert "secret" not in str(endpoint.base)


@pytest.mark.parametrize("url", ["ftp://host", "registry.example", "", "http://"])
def test_unusable_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        Endpoint(url)


async def test_a_proxy_with_an_unusable_url_fails_like_a_proxy() -> None:
    async with UpstreamClient(Proxy("broken", "ftp://nowhere")) as client:
        with pytest.raises(UpstreamFailedError) as error:
            await client.get_manifest("a", Reference(tag="1"))
    assert error.value.kind is FailureKind.PROTOCOL
    assert error.value.proxy_name == "broken"


def test_same_origin_is_scheme_host_and_port() -> None:
    base = URL("https://registry.example")
    assert same_origin(base, URL("https://REGISTRY.example:443/v2/x"))
    assert not same_origin(base, URL("http://registry.example/v2/x"))
    assert not same_origin(base, URL("https://registry.example:8443/v2/x"))
    assert not same_origin(base, URL("https://cdn.registry.example/blob"))


def test_retry_after_seconds_dates_and_garbage() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("30") == 30
    assert parse_retry_after("Wed, 01 Jan 2025 12:01:00 GMT", now=now) == 60
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("99999999999") == 24 * 3600


def test_redactor_keeps_the_password_and_the_latest_tokens() -> None:
    redact = Redactor()
    redact.add("the-password", permanent=True)
    for n in range(Redactor.KEEP_TOKENS + 10):
        redact.add(f"token-{n:04d}")
    newest = f"token-{Redactor.KEEP_TOKENS + 9:04d}"
    assert redact(f"x the-password {newest} y") == "x *** *** y"
    assert redact("token-0000") == "token-0000", "the oldest tokens are forgotten, so memory stays bounded"
