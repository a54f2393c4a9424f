"""Stores: where the emulator's state lives (``EVOLINK_MOCK_STORE`` / ``--store``).

``memory`` (the default) keeps it in this process; ``sqlite:///FILE`` in a SQLite file
(SQLAlchemy's spelling: ``sqlite:///state.db`` is relative to the working directory,
``sqlite:////var/lib/x.db`` absolute), kept across restarts and shared by the processes
of one machine; ``redis://HOST:PORT/DB`` in a Redis server, shared by processes on any
number of machines. Only the core's service talks to a store (an import rule checked by
``make test``).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from .port import Store

USAGE = "use 'memory', 'sqlite:///FILE' or 'redis://HOST:PORT/DB'"


def open_store(url: str) -> Store:
    """The store a URL names; ValueError naming the setting for anything else."""
    if url == "memory":
        from .memory import MemoryStore

        return MemoryStore()
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = parts.path[1:]  # after the third slash: relative, or (a fourth slash) absolute
        if parts.netloc or not path or parts.query or parts.fragment:
            raise ValueError(f"EVOLINK_MOCK_STORE: {url!r} names no file: use sqlite:///FILE (relative) or "
                             "sqlite:////abs/FILE")
        from .sqlite import SqliteStore

        return SqliteStore(path)
    if parts.scheme in ("redis", "rediss", "unix"):
        from .redis import RedisStore

        return RedisStore(url)
    raise ValueError(f"EVOLINK_MOCK_STORE: unsupported store {url!r}; {USAGE}")


__all__ = ["Store", "open_store"]
