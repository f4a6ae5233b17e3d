"""What the /api/v1 handlers (and the web UI) need from the layers below, gathered by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.auth.users import UserAdmin
from cargohold.proxy.probe import ProxyProbe
from cargohold.proxy.stats import StatsReader
from cargohold.proxy.warm import Warmer
from cargohold.registry.accounting import StorageAccounting
from cargohold.registry.gc import GarbageCollector
from cargohold.registry.inventory import Inventory
from cargohold.registry.repositories import RepositoryAdmin


@dataclass(frozen=True)
class ManagementServices:
    repositories: RepositoryAdmin
    """Repositories and their proxies: list, create, edit, delete, reorder (config-managed ones refuse)."""
    inventory: Inventory
    """Images and tags of a repository; deleting them and purging cached content."""
    probe: ProxyProbe
    """Tests a proxy (saved or not): reach, TLS, auth flow, latency, optionally one image."""
    stats: StatsReader
    """Counters per repository and proxy, with the serving process's health view."""
    users: UserAdmin
    """Users, their grants and access tokens."""
    gc: GarbageCollector | None = None
    """Garbage collection on demand (None: this server offers none)."""
    warmer: Warmer | None = None
    """Fetches images into a repository's cache ahead of time (None: this server offers none)."""
    storage: StorageAccounting | None = None
    """Bytes held per repository (local and cached), the store's total and the disk (None: not offered)."""
