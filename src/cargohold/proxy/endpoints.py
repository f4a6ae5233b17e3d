"""Where one upstream registry lives: its base URL, its origin, and the /v2 URLs of images on it.

``docker.io``, ``index.docker.io`` and ``registry.docker.io`` are names for Docker Hub, whose registry API
is served at ``registry-1.docker.io``; on Docker Hub a one-component image name ``nginx`` means
``library/nginx`` (docs/pull-flow.md). Userinfo in a configured URL is dropped (credentials are the proxy's
``username``/``password``); a trailing ``/v2`` is tolerated.
"""

from __future__ import annotations

from typing import Final

from yarl import URL

from cargohold.errors import ConfigError

DOCKER_HUB_REGISTRY: Final = "registry-1.docker.io"
DOCKER_HUB_ALIASES: Final = frozenset(
    {"docker.io", "index.docker.io", "registry.docker.io", DOCKER_HUB_REGISTRY}
)


def same_origin(a: URL, b: URL) -> bool:
    """Same scheme, host and port (RFC 6454 origin), the boundary credentials never cross."""
    return (a.scheme, (a.host or "").lower(), a.port) == (b.scheme, (b.host or "").lower(), b.port)


class Endpoint:
    """The API root of one upstream registry."""

    def __init__(self, url: str) -> None:
        try:
            parsed = URL(url.strip())
        except (TypeError, ValueError) as error:
            raise ConfigError(f"invalid proxy URL {url[:200]!r}") from error
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigError(f"proxy URL must be http(s)://host[:port], not {url[:200]!r}")
        host = parsed.host.lower()
        self.is_docker_hub = host in DOCKER_HUB_ALIASES
        if self.is_docker_hub:
            parsed = parsed.with_host(DOCKER_HUB_REGISTRY)
        path = parsed.path.rstrip("/")
        if path.endswith("/v2"):
            path = path[: -len("/v2")]
        self.base = parsed.with_user(None).with_password(None).with_query(None).with_fragment(None)
        self.base = self.base.with_path(path or "/")
        self._prefix = path

    @property
    def origin(self) -> URL:
        return self.base.origin()

    def image_name(self, image: str) -> str:
        """The name to ask the upstream for: ``library/`` added to one-component names on Docker Hub."""
        if self.is_docker_hub and "/" not in image:
            return f"library/{image}"
        return image

    def url(self, image: str, kind: str, reference: str) -> URL:
        """``<base>/v2/<image>/<kind>/<reference>`` with ``kind`` ``manifests`` or ``blobs``."""
        return self.base.with_path(f"{self._prefix}/v2/{self.image_name(image)}/{kind}/{reference}")

    def pull_scope(self, image: str) -> str:
        """The token scope that allows pulling ``image``."""
        return f"repository:{self.image_name(image)}:pull"
