"""The configuration: server settings and the declarative ``repositories:`` section, from flags, the
``CARGOHOLD_*`` environment, the YAML file and defaults (README.md, "Configuration").

This package re-exports what the rest of cargohold uses (``cargohold.app``, ``cargohold.cli``, tests):

- ``settings``      ``Settings``, ``UpstreamSettings``, ``load_settings`` (precedence, problem lists),
                    ``declared_repositories``, ``builtin_repositories``, ``redact_url``
- ``repositories``  ``RepositoryConfig``, ``ProxyConfig``: the ``repositories:`` section and its defaults
- ``serving``       ``TlsSettings`` and the ``trusted_proxies`` list: how the server meets the network
- ``file``          reading the YAML file: duplicate keys, ``${VAR}`` references, problem lines

Values are checked with the registry's own grammars (``cargohold.registry.addresses``, ``cargohold.models``):
configuration depends on the domain, never the other way round.
"""

from cargohold.config.repositories import ProxyConfig, RepositoryConfig
from cargohold.config.settings import (
    Settings,
    TlsSettings,
    UpstreamSettings,
    builtin_repositories,
    declared_repositories,
    load_settings,
    redact_url,
)

__all__ = [
    "ProxyConfig",
    "RepositoryConfig",
    "Settings",
    "TlsSettings",
    "UpstreamSettings",
    "builtin_repositories",
    "declared_repositories",
    "load_settings",
    "redact_url",
]
