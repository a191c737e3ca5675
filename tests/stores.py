"""The three persistence adapters, for tests that must hold on every one of them.

``any_store`` is parametrized over memory, SQLite and Postgres (a fresh database in the session's
throwaway cluster, tests/pg_cluster.py); ``make_store(kind)`` builds an unopened one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from runtime import MemoryStore, SQLiteStore
from runtime.store.base import SessionStore

STORE_KINDS = ["memory", "sqlite", "postgres"]

StoreFactory = Callable[[str], SessionStore]


@pytest.fixture
def make_store(tmp_path: Path, request: pytest.FixtureRequest) -> StoreFactory:
    def make(kind: str) -> SessionStore:
        if kind == "memory":
            return MemoryStore()
        if kind == "sqlite":
            return SQLiteStore(tmp_path / f"store-{kind}.db")
        if kind == "postgres":
            from runtime.store.postgres import PostgresStore

            # Requested only here, so a machine without Postgres skips just these cases.
            return PostgresStore(request.getfixturevalue("postgres_url"))
        raise ValueError(kind)

    return make


@pytest.fixture(params=STORE_KINDS)
async def any_store(request: pytest.FixtureRequest, make_store: StoreFactory) -> AsyncIterator[SessionStore]:
    store = make_store(request.param)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
