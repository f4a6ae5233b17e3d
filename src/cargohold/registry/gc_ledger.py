"""What garbage collection has done on this node, kept in ``<data_dir>/gc.json`` so that every worker
process reports the same figures (``/metrics``): the number of collections, what they removed and freed in
all, and when the last one ran and how long it took.

Only the collector holding the collection lock writes the file (``GarbageCollector.collect``), by writing a
new file and renaming it over the old one, so a reader never sees half of it. A missing or unreadable file
reads as nothing collected yet.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

LEDGER_FILE: Final = "gc.json"


@dataclass(frozen=True, slots=True)
class GcTotals:
    runs: int = 0
    """Collections that removed things (dry runs are not counted)."""
    freed_bytes: int = 0
    removed: dict[str, int] = field(default_factory=dict)
    """Items removed by kind: blob, upload, spool, work."""
    last_run_timestamp: float = 0.0
    """When the last collection ended, seconds since the epoch (0: never)."""
    last_duration_seconds: float = 0.0


class GcLedger:
    def __init__(self, path: Path) -> None:
        self._path = path

    def read(self) -> GcTotals:
        """The totals so far (zeros when nothing was recorded or the file cannot be read)."""
        try:
            document = json.loads(self._path.read_text())
            removed = {str(kind): int(count) for kind, count in dict(document.get("removed", {})).items()}
            return GcTotals(
                runs=int(document["runs"]),
                freed_bytes=int(document["freed_bytes"]),
                removed=removed,
                last_run_timestamp=float(document["last_run_timestamp"]),
                last_duration_seconds=float(document["last_duration_seconds"]),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return GcTotals()

    def record(self, removed: dict[str, int], freed_bytes: int, ended: float, seconds: float) -> None:
        """Add one collection (called by the collector that holds the collection lock)."""
        before = self.read()
        kinds = dict(before.removed)
        for kind, count in removed.items():
            kinds[kind] = kinds.get(kind, 0) + count
        totals = GcTotals(before.runs + 1, before.freed_bytes + freed_bytes, kinds, ended, seconds)
        descriptor, spool = tempfile.mkstemp(dir=self._path.parent, prefix=".gc-", suffix=".json")
        with os.fdopen(descriptor, "w") as file:
            json.dump(asdict(totals), file)
        os.replace(spool, self._path)
