"""Fixtures of the runtime unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime.store.sqlite import SQLiteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """A real SQLite store in tmp_path, open."""
    store = SQLiteStore(tmp_path / "unit.db")
    await store.open()
    yield store
    await store.close()
