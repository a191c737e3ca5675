"""Persistence adapters (SPEC §7)."""

from .base import SessionRecord, SessionStore
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = ["MemoryStore", "SQLiteStore", "SessionRecord", "SessionStore"]
