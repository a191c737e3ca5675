"""Session leases in Postgres: one row per owned session, renewed by its node, taken when expired.

Time is the database's (``now()``), never a node's clock, so nodes with skewed clocks agree on
who owns what. A node that cannot renew (it died, or lost Postgres) stops owning its sessions
``ttl`` seconds after its last renewal; the store's high-water check refuses any write it might
still attempt, so the log stays gapless whatever the timing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..store.postgres import PostgresStore


@dataclass(frozen=True)
class Lease:
    session_id: str
    node_id: str
    node_url: str
    live: bool


class LeaseTable:
    def __init__(self, store: PostgresStore, node_id: str, node_url: str, ttl_s: float) -> None:
        self.store = store
        self.node_id = node_id
        self.node_url = node_url
        self.ttl_s = ttl_s

    @property
    def _pool(self) -> Any:
        return self.store.pool

    async def take_new(self, session_id: str) -> None:
        """Own a session this node just created."""
        await self._pool.execute(
            "INSERT INTO session_leases VALUES ($1, $2, $3, now() + make_interval(secs => $4)) "
            "ON CONFLICT (session_id) DO NOTHING",
            session_id,
            self.node_id,
            self.node_url,
            self.ttl_s,
        )

    async def renew(self) -> set[str]:
        """Extend every lease this node holds; returns the sessions it still owns."""
        rows = await self._pool.fetch(
            "UPDATE session_leases SET expires_at = now() + make_interval(secs => $2) "
            "WHERE node_id = $1 AND expires_at > now() RETURNING session_id",
            self.node_id,
            self.ttl_s,
        )
        return {r[0] for r in rows}

    async def claim(self, limit: int, only: str | None = None) -> list[str]:
        """Take up to ``limit`` sessions nobody owns (no lease, or an expired one).

        ``SKIP LOCKED`` + random order: nodes claiming at the same moment split the orphans
        instead of queueing on the same rows.
        """
        rows = await self._pool.fetch(
            """
            WITH orphans AS (
                SELECT s.session_id FROM sessions s
                LEFT JOIN session_leases l ON l.session_id = s.session_id
                WHERE (l.session_id IS NULL OR l.expires_at <= now())
                  AND ($4::text IS NULL OR s.session_id = $4)
                ORDER BY random() LIMIT $5
            )
            INSERT INTO session_leases (session_id, node_id, node_url, expires_at)
            SELECT session_id, $1, $2, now() + make_interval(secs => $3) FROM orphans
            ON CONFLICT (session_id) DO UPDATE
                SET node_id = EXCLUDED.node_id, node_url = EXCLUDED.node_url, expires_at = EXCLUDED.expires_at
                WHERE session_leases.expires_at <= now()
            RETURNING session_id
            """,
            self.node_id,
            self.node_url,
            self.ttl_s,
            only,
            limit,
        )
        return [r[0] for r in rows]

    async def owner(self, session_id: str) -> Lease | None:
        row = await self._pool.fetchrow(
            "SELECT node_id, node_url, expires_at > now() FROM session_leases WHERE session_id = $1",
            session_id,
        )
        return Lease(session_id, row[0], row[1], bool(row[2])) if row else None

    async def release(self, session_id: str) -> None:
        await self._pool.execute(
            "DELETE FROM session_leases WHERE session_id = $1 AND node_id = $2", session_id, self.node_id
        )

    async def release_all(self) -> None:
        await self._pool.execute("DELETE FROM session_leases WHERE node_id = $1", self.node_id)

    async def counts(self) -> dict[str, int]:
        rows = await self._pool.fetch(
            "SELECT node_url, count(*) FROM session_leases WHERE expires_at > now() GROUP BY node_url"
        )
        return {r[0]: int(r[1]) for r in rows}
