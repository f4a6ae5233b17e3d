"""Usage counters in the SQL metadata store: per repository (proxy name ``''``) and per proxy, each a named
64-bit count in ``stats_counters``, added to with ``INSERT … ON CONFLICT DO UPDATE SET value = value +
excluded.value`` — an increment the database applies atomically, so worker processes flushing at the same
time all count. Rows are written in one sorted order (no deadlocks between flushers on PostgreSQL), and
deltas for a repository deleted meanwhile are dropped (its rows are locked ``FOR KEY SHARE`` first, so it
cannot vanish half-way). Pulls of manifests and blobs are written in batches too, each keeping its latest
``last_pulled_at``: ``SqlStatsStore``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Table, and_, bindparam, case, select, update

from cargohold.metadata.database import Database
from cargohold.metadata.schema import blob_links, manifests, repositories, stats_counters
from cargohold.models import Digest


class SqlStatsStore:
    """``StatsStore`` on a ``Database``."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def add_to_counters(self, deltas: Mapping[tuple[int, str, str], int]) -> None:
        keys = sorted(key for key, delta in deltas.items() if delta)
        if not keys:
            return
        ids = sorted({key[0] for key in keys})
        insert = self._database.insert(stats_counters)
        upsert = insert.on_conflict_do_update(
            index_elements=["repository_id", "proxy_name", "counter"],
            set_={"value": stats_counters.c.value + insert.excluded.value},
        )
        async with self._database.write() as connection:
            existing = set(
                await connection.scalars(
                    select(repositories.c.id)
                    .where(repositories.c.id.in_(ids))
                    .order_by(repositories.c.id)
                    .with_for_update(key_share=True)
                )
            )
            kept = [
                {"repository_id": key[0], "proxy_name": key[1], "counter": key[2], "value": deltas[key]}
                for key in keys
                if key[0] in existing
            ]
            if kept:
                await connection.execute(upsert, kept)

    async def counters(self, repository_id: int) -> dict[tuple[str, str], int]:
        query = select(stats_counters.c.proxy_name, stats_counters.c.counter, stats_counters.c.value).where(
            stats_counters.c.repository_id == repository_id
        )
        async with self._database.read() as connection:
            result = await connection.execute(query)
            return {(row.proxy_name, row.counter): int(row.value) for row in result}

    async def record_pulls(self, pulls: Sequence[tuple[int, str, Digest, datetime]]) -> None:
        await self._record(manifests, pulls)

    async def record_blob_pulls(self, pulls: Sequence[tuple[int, str, Digest, datetime]]) -> None:
        await self._record(blob_links, pulls)

    async def _record(self, table: Table, pulls: Sequence[tuple[int, str, Digest, datetime]]) -> None:
        """Set ``last_pulled_at`` of the rows of ``table`` keyed by (repository, image, digest), keeping the
        later time."""
        latest: dict[tuple[int, str, str], datetime] = {}
        for repository_id, image, digest, when in pulls:
            key = (repository_id, image, str(digest))
            if key not in latest or latest[key] < when:
                latest[key] = when
        if not latest:
            return
        column = table.c.last_pulled_at
        pulled = bindparam("b_when", type_=column.type)
        statement = (
            update(table)
            .where(
                table.c.repository_id == bindparam("b_repository"),
                table.c.image == bindparam("b_image"),
                table.c.digest == bindparam("b_digest"),
            )
            .values(last_pulled_at=case((and_(column.is_not(None), column >= pulled), column), else_=pulled))
        )
        values = [
            {"b_repository": key[0], "b_image": key[1], "b_digest": key[2], "b_when": at}
            for key, at in sorted(latest.items())  # one order for every process: no deadlocks
        ]
        async with self._database.write() as connection:
            await connection.execute(statement, values)
