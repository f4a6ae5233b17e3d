"""Per-proxy name rules: which image names a proxy is asked for (docs/security.md).

A proxy's ``include`` and ``exclude`` are glob patterns on the image name inside the repository, as clients
pull it (``company/app``, ``nginx``): ``*`` and ``?`` stay within one path component, ``[abc]`` is a set
(``[!abc]`` its complement), and a whole component ``**`` spans any number of components, none included
(``company/**`` matches ``company``, ``company/app`` and ``company/team/app``). A proxy is asked for a name
when no ``include`` is given or one matches, and no ``exclude`` matches, like Nexus routing rules and
Artifactory include/exclude patterns.

Matching is component by component: ``fnmatch`` within a component, and a memoised walk over (pattern
component, name component) pairs for ``**``, so its cost is bounded by their product whatever the pattern.
(wcmatch's ``globmatch`` was tried first: it translates ``**`` into a backtracking regular expression, and an
admin's pattern ``**/a/**/a/**/a/**/a/b`` took 18 s against one 255-character name, on the request path.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fnmatch import fnmatchcase
from functools import cache
from typing import Final

from cargohold.models import Proxy

MAX_PATTERNS: Final = 64
MAX_PATTERN_CHARS: Final = 255
PATTERN_CHARACTERS: Final = r"^[a-z0-9._/*?\[\]!-]+$"
GLOBSTAR: Final = "**"


def check_pattern(pattern: str) -> str:
    """``pattern`` if it is a usable name rule; ValueError saying why not."""
    if not pattern or len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"a name pattern is 1 to {MAX_PATTERN_CHARS} characters")
    if not re.match(PATTERN_CHARACTERS, pattern):
        raise ValueError(
            f"{pattern[:80]!r}: use lowercase image-name characters and the wildcards * ** ? [ ]"
        )
    components = pattern.split("/")
    if "" in components:
        raise ValueError(f"{pattern!r}: no empty path components")
    if any(GLOBSTAR in part and part != GLOBSTAR for part in components):
        raise ValueError(f"{pattern!r}: ** stands alone between slashes (company/**, **/app)")
    return pattern


def matches(image: str, pattern: str) -> bool:
    """True when ``image`` matches the glob ``pattern`` (see the module docstring)."""
    return _match(tuple(pattern.split("/")), tuple(image.split("/")))


def _match(pattern: tuple[str, ...], name: tuple[str, ...]) -> bool:
    @cache
    def walk(p: int, n: int) -> bool:
        if p == len(pattern):
            return n == len(name)
        if pattern[p] == GLOBSTAR:  # none, or one more component, under the same **
            return walk(p + 1, n) or (n < len(name) and walk(p, n + 1))
        return n < len(name) and fnmatchcase(name[n], pattern[p]) and walk(p + 1, n + 1)

    return walk(0, 0)


def allowed(image: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """True when the rules let ``image`` be asked for."""
    if include and not any(matches(image, pattern) for pattern in include):
        return False
    return not any(matches(image, pattern) for pattern in exclude)


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
