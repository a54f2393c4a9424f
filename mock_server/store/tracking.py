"""What a poll reads from Redis, kept in the worker until Redis says it changed.

Redis's server-assisted client-side caching
(https://redis.io/docs/latest/develop/reference/client-side-caching/): the connection turns on
``CLIENT TRACKING ON OPTIN`` and sends ``CLIENT CACHING YES`` before each read it keeps; from
then on the server sends an ``invalidate`` push message (RESP3, on the same connection) when
any worker, this one included, changes or deletes one of those keys, and forgets the key. So a
kept value is the stored one up to the pushes not yet read, and :meth:`TrackedReads.values`
reads those first. The writer makes sure they were sent before it answers its own client
(``RedisStore._fence``): the request that follows a change, on any worker, sees the change.

Tracking is one-shot per key: after a push the server forgets the key until this connection
reads it again, so an idle connection receives at most one push per key it read. (Broadcasting
mode, ``BCAST``, would spare the server its table of keys read, bounded by
``tracking-table-max-keys``, but would queue a push for every change to every connection, idle
ones included, without bound.) A reconnect, a ``FLUSHDB`` or an overflow of the server's
tracking table (a push with no keys) forgets everything.

redis-py's own cache (``CacheConfig``) does the same but needs Redis 7.4 or later (Debian 12
ships 7.0) and deep-copies every hit; this keeps the parsed records, which are immutable.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import redis
from redis.connection import AbstractConnection

Parse = Callable[[bytes | None], Any]


class TrackedReads:
    """Parsed values of the keys one connection read with tracking on (at most ``limit`` keys)."""

    def __init__(self, connection: AbstractConnection, limit: int = 4096) -> None:
        self._connection = connection
        self._limit = limit
        self._kept: dict[str, Any] = {}
        connection.register_connect_callback(self._connected)  # type: ignore[no-untyped-call]

    def _connected(self, connection: AbstractConnection) -> None:
        """Each (re)connect: a new connection tracks nothing yet, so nothing kept holds."""
        self._kept.clear()
        connection.send_command("CLIENT", "TRACKING", "ON", "OPTIN")  # type: ignore[no-untyped-call]
        connection.read_response()
        # redis-py has no public way to set a connection's push handler; its own cache does this
        connection._parser.set_invalidation_push_handler(self._invalidated)  # noqa: SLF001

    def _invalidated(self, push: list[Any]) -> None:
        keys: list[bytes] | None = push[1]
        if keys is None:
            self._kept.clear()
        else:
            for key in keys:
                self._kept.pop(key.decode(), None)

    def values(self, keys: Sequence[str], parse: Sequence[Parse]) -> list[Any]:
        """``parse[i]`` of what ``keys[i]`` holds (None bytes for a missing key), in one round trip
        or none (when every key is kept)."""
        connection = self._connection
        try:
            while connection.can_read(0):  # the invalidations that came since the last read
                connection.read_response(push_request=True)
        except redis.ConnectionError:  # closed by the server: pushes may be lost, so nothing kept holds
            self._kept.clear()
            connection.disconnect()  # type: ignore[no-untyped-call]  # the read below reconnects
        kept = self._kept
        try:
            return [kept[key] for key in keys]
        except KeyError:
            pass
        connection.send_packed_command(connection.pack_commands(  # type: ignore[no-untyped-call]
            [("CLIENT", "CACHING", "YES"), ("MGET", *keys)]))
        connection.read_response()
        values = [read(raw) for read, raw in zip(parse, connection.read_response())]
        if len(kept) + len(keys) > self._limit:
            kept.clear()
        kept.update(zip(keys, values))
        return values
