"""Per-proxy name rules: which image names a proxy is asked for (docs/security.md).

A proxy's ``include`` and ``exclude`` are glob patterns on the image name inside the repository, as clients
pull it (``company/app``, ``nginx``): ``*`` and ``?`` stay within one path component, ``**`` spans any
number of them (``company/**`` matches ``company/app`` and ``company/team/app``), ``[abc]`` is a set. A
proxy is asked for a name when no ``include`` is given or one matches, and no ``exclude`` matches, like
Nexus routing rules and Artifactory include/exclude patterns. Matching is ``wcmatch``'s ``globmatch``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from wcmatch.glob import GLOBSTAR, globmatch, translate

from cargohold.models import Proxy

MAX_PATTERNS: Final = 64
MAX_PATTERN_CHARS: Final = 255
PATTERN_CHARACTERS: Final = r"^[a-z0-9._/*?\[\]!-]+$"
_FLAGS: Final = GLOBSTAR


def check_pattern(pattern: str) -> str:
    """``pattern`` if it is a usable name rule; ValueError saying why not."""
    if not pattern or len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"a name pattern is 1 to {MAX_PATTERN_CHARS} characters")
    if not re.match(PATTERN_CHARACTERS, pattern):
        raise ValueError(
            f"{pattern[:80]!r}: use lowercase image-name characters and the wildcards * ** ? [ ]"
        )
    if pattern.startswith("/") or pattern.endswith("/") or "//" in pattern:
        raise ValueError(f"{pattern!r}: no empty path components")
    try:
        translate(pattern, flags=_FLAGS)
    except (ValueError, re.error) as error:
        raise ValueError(f"{pattern!r} is not a valid pattern: {error}") from None
    return pattern


def allowed(image: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """True when the rules let ``image`` be asked for."""
    if include and not globmatch(image, list(include), flags=_FLAGS):
        return False
    return not (exclude and globmatch(image, list(exclude), flags=_FLAGS))


def proxy_allows(proxy: Proxy, image: str) -> bool:
    """True when ``proxy``'s name rules let it be asked for ``image``."""
    return allowed(image, proxy.include, proxy.exclude)


def describe_rules(proxy: Proxy) -> str:
    """The rules of ``proxy`` in one line, for messages: ``include company/**; exclude company/old``."""
    parts = []
    if proxy.include:
        parts.append("include " + ", ".join(proxy.include))
    if proxy.exclude:
        parts.append("exclude " + ", ".join(proxy.exclude))
    return "; ".join(parts) or "no rules"
