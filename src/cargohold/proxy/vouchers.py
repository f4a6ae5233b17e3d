"""Which proxy vouched for a blob in an image: an in-memory record of the manifests fetched just now.

A blob is fetched for an image only when something vouches that the image's own proxies serve it (a cached
manifest of the image naming it, or a HEAD). The metadata store answers that question too; this bounded
memory of the manifests this process fetched answers it without a database round trip, which matters on a
cold pull, where every layer asks it right after the manifest was fetched. A voucher never goes stale in a
way that matters: the proxy did serve a manifest of this image naming the blob.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Final

from cargohold.models import Digest

MAX_VOUCHERS: Final = 65_536  # (repository, image, blob) entries kept, least recently vouched dropped first

_Key = tuple[int, str, Digest]


class Vouchers:
    """Bounded memory of (repository id, image, blob digest) -> the proxy whose manifest named the blob."""

    def __init__(self, capacity: int = MAX_VOUCHERS) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[_Key, str] = OrderedDict()

    def record(self, repository_id: int, image: str, digests: Iterable[Digest], proxy_name: str) -> None:
        """``proxy_name`` served a manifest of ``image`` that names each of ``digests``."""
        for digest in digests:
            key = (repository_id, image, digest)
            self._entries[key] = proxy_name
            self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def proxy_for(self, repository_id: int, image: str, digest: Digest) -> str | None:
        """The proxy that vouched for the blob in this image, if this process remembers one."""
        return self._entries.get((repository_id, image, digest))
