"""The Redis store keeps what a poll read until the server says it changed (client-side caching).

The store suite shows that every change, from any handle, reaches the next poll; here: that an
unchanged poll costs no round trip, and that what the server can no longer vouch for (after a
FLUSHDB, or once the connection that tracked the keys is gone) is read again. Against the suite's
private redis-server (conftest.py).
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from mock_server.store import open_store
from mock_server.store.redis import RedisStore
from tests.test_store import KEY, funded, reserve, task


@pytest.fixture
def admin(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as client:
        yield client


@pytest.fixture
def stores(redis_url: str) -> Iterator[tuple[RedisStore, RedisStore]]:
    """A writer and a poller: two workers' handles onto one database."""
    writer, poller = open_store(redis_url), open_store(redis_url)
    assert isinstance(writer, RedisStore) and isinstance(poller, RedisStore)
    funded(writer)
    writer.create_task(task(1), reserve(task(1)))
    yield writer, poller
    writer.close()
    poller.close()


def _mget_calls(admin: redis.Redis) -> int:
    return int(admin.info("commandstats").get("cmdstat_mget", {}).get("calls", 0))


def test_polling_an_unchanged_task_again_costs_no_round_trip(stores: tuple[RedisStore, RedisStore],
                                                              admin: redis.Redis) -> None:
    writer, poller = stores
    first = poller.snapshot(KEY, task(1).id)
    read = _mget_calls(admin)
    assert [poller.snapshot(KEY, task(1).id) for _ in range(5)] == [first] * 5
    assert _mget_calls(admin) == read
    writer.advance_clock(1)  # a change to one of the keys: the next poll reads again
    assert poller.snapshot(KEY, task(1).id)[2] == 1
    assert _mget_calls(admin) == read + 1


def test_a_flushed_database_is_read_again(stores: tuple[RedisStore, RedisStore], admin: redis.Redis) -> None:
    _, poller = stores
    assert poller.snapshot(KEY, task(1).id)[1] == task(1)
    admin.flushdb()  # the server tells trackers to forget everything (a push naming no key)
    assert poller.snapshot(KEY, task(1).id) == (None, None, 0.0, False)


def test_a_lost_connection_forgets_what_it_kept(stores: tuple[RedisStore, RedisStore], admin: redis.Redis) -> None:
    """While the connection is gone no invalidation can reach it; the poll after reconnecting reads afresh."""
    writer, poller = stores
    assert poller.snapshot(KEY, task(1).id)[2] == 0
    polling = [client["id"] for client in admin.client_list() if client["cmd"] == "mget"]
    assert len(polling) == 1  # the poller's connection (the writer's last command was a script)
    admin.client_kill_filter(_id=polling[0])
    writer.advance_clock(42)
    assert poller.snapshot(KEY, task(1).id)[2] == 42
