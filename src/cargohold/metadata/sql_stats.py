"""Usage counters in the SQL metadata store: per repository (proxy name ``''``) and per proxy, each a named
64-bit count in ``stats_counters``, added to with ``INSERT … ON CONFLICT DO UPDATE SET value = value +
excluded.value`` — an increment the database applies atomically, so worker processes flushing at the same
time all count. Rows are written in one sorted order (no deadlocks between flushers on PostgreSQL), and
deltas for a repository deleted meanwhile are dropped (its rows are locked ``FOR KEY SHARE`` first, so it
cannot vanish half-way).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select

from cargohold.metadata.schema import repositories, stats_counters
from cargohold.metadata.sql_repositories import SqlRepositoryStore


class SqlStatsStore(SqlRepositoryStore):
    """The counters half of ``SqlMetadataStore``."""

    async def add_to_counters(self, deltas: Mapping[tuple[int, str, str], int]) -> None:
        keys = sorted(key for key, delta in deltas.items() if delta)
        if not keys:
            return
        ids = sorted({key[0] for key in keys})
        insert = self._insert(stats_counters)
        upsert = insert.on_conflict_do_update(
            index_elements=["repository_id", "proxy_name", "counter"],
            set_={"value": stats_counters.c.value + insert.excluded.value},
        )
        async with self._write() as connection:
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
        async with self._read() as connection:
            result = await connection.execute(query)
            return {(row.proxy_name, row.counter): int(row.value) for row in result}
