"""Warnings about a repository's settings that are allowed but easy to regret (docs/security.md).

Today one: a **public** repository with a proxy that has **credentials**. Anyone, signed in or not, may pull
through a public repository, so anonymous users can pull whatever the proxy's credentials can read upstream
(a private registry's images, a paid Docker Hub account's pull quota). That is by design, but it must not
happen unnoticed: the management API (``warnings`` on the repository resource), the CLI (``repo show``,
``proxy add``), the web UI (a notice on the repository page) and ``cargohold config check`` all show these.
"""

from __future__ import annotations

from collections.abc import Sequence

from cargohold.models import Proxy, Repository, Visibility


def repository_warnings(repository: Repository, proxies: Sequence[Proxy]) -> tuple[str, ...]:
    """The warnings of ``repository`` with ``proxies``, one sentence each (never naming a password)."""
    if repository.visibility is not Visibility.PUBLIC:
        return ()
    return tuple(
        f"Repository {repository.name} is public and its proxy {proxy.name} has credentials: anyone, "
        f"even without signing in, can pull through it what those credentials can read from {proxy.url}. "
        "Make the repository private, or remove the proxy's credentials."
        for proxy in proxies
        if proxy.username is not None or proxy.password is not None
    )
