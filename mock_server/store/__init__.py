"""Stores: where the emulator's state lives (``EVOLINK_MOCK_STORE`` / ``--store``).

``memory`` (the default) keeps it in this process. Only the core's service
talks to a store (an import rule checked by ``make test``).
"""
from __future__ import annotations

from .port import Store


def open_store(url: str) -> Store:
    """The store a URL names; ValueError naming the setting for anything else."""
    if url == "memory":
        from .memory import MemoryStore

        return MemoryStore()
    raise ValueError(f"EVOLINK_MOCK_STORE: unsupported store {url!r}; use 'memory'")


__all__ = ["Store", "open_store"]
