"""ETags of repository and proxy resources, and what a request's ``If-Match`` asks for (RFC 9110 §13.1.1).

A repository's ETag is ``"<id>.<revision>"``: the store adds one to ``revision`` at every change of the
repository or its proxies, so any change gives a new ETag, and a repository deleted and created again
never takes an old one back. A proxy's is ``"<repository id>.<revision>.<proxy id>"``. ``If-Match`` is
honoured on every change: it names the version the client read, ``expected_revision`` turns it into the
revision the store must still find under its lock (``PreconditionFailedError``, 412, when it does not).
``*`` matches any current version; weak ETags never match (strong comparison).
"""

from __future__ import annotations

import re
from typing import Final

from cargohold.errors import PreconditionFailedError
from cargohold.models import Proxy, Repository

_ETAG: Final = re.compile(r'"(\d{1,18})\.(\d{1,18})(?:\.(\d{1,18}))?"')
_MAX_IF_MATCH: Final = 1024


def repository_etag(repository: Repository) -> str:
    return f'"{repository.id}.{repository.revision}"'


def proxy_etag(repository: Repository, proxy: Proxy) -> str:
    return f'"{repository.id}.{repository.revision}.{proxy.id}"'


def expected_revision(if_match: str | None, repository: Repository, proxy: Proxy | None = None) -> int | None:
    """The revision an ``If-Match`` header expects of ``repository`` (None: no header, or ``*``).

    For a change of one proxy, the ETag of that proxy or of its repository (which covers every proxy) is
    accepted; for a change of the repository only the repository's. PreconditionFailedError when the header
    names no version of this resource at all."""
    if if_match is None:
        return None
    candidates = [part.strip() for part in if_match[:_MAX_IF_MATCH].split(",")]
    if "*" in candidates:
        return None
    for candidate in candidates:
        match = _ETAG.fullmatch(candidate)
        if match is None or int(match[1]) != repository.id:
            continue
        if match[3] is None or (proxy is not None and int(match[3]) == proxy.id):
            return int(match[2])
    raise PreconditionFailedError(
        f"If-Match does not name a version of {_what(repository, proxy)}: read it again and retry"
    )


def _what(repository: Repository, proxy: Proxy | None) -> str:
    if proxy is None:
        return f"repository {repository.name!r}"
    return f"proxy {proxy.name!r} of repository {repository.name!r}"
