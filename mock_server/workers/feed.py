"""The live feed behind the dashboard's streams: one tick for every page, each view built once a tick.

Nothing here runs while no page is open: the ticker starts with the first
watcher and stops with the last, and only then listens to the emulator's
changes, so the API's requests pay nothing for a dashboard nobody watches.
While pages are open it ticks every :data:`TICK` wall seconds, and at once when
the emulator reports a change (the clock advanced, a task cancelled, callback
work scheduled). At each tick every watcher gets the value of its view; pages
watching the same view share one computation (the value is cached until the
next tick), so ten pages cost about what one does.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Hashable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core.service import Emulator

TICK = 0.5  # wall seconds between two looks at the state while a page is open


def wake(loop: asyncio.AbstractEventLoop | None, event: asyncio.Event) -> None:
    """Set ``event``, which belongs to ``loop``, from any thread (nothing if the loop is gone)."""
    if loop is None or loop.is_closed():
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        event.set()
    else:
        loop.call_soon_threadsafe(event.set)


class Feed:
    """Ticks for the pages watching one emulator, on the server's event loop."""

    def __init__(self, emulator: Emulator, tick: float = TICK) -> None:
        self.emulator = emulator
        self._interval = tick
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tick = asyncio.Event()  # set at a tick, then replaced
        self._changed = asyncio.Event()
        self._cache: dict[Hashable, Any] = {}  # view -> its value at this tick
        self._generation = 0  # ticks so far
        self._watchers = 0
        self._runner: asyncio.Task[None] | None = None
        self.closed = False

    @property
    def watchers(self) -> int:
        """How many streams are open."""
        return self._watchers

    async def watch(self, view: Hashable, build: Callable[[], Any]) -> AsyncIterator[Any]:
        """``build()`` now and at every tick, shared with the other watchers of ``view``; ends when closed."""
        self._join()
        try:
            while not self.closed:
                seen = self._generation
                if view not in self._cache:
                    self._cache[view] = build()
                yield self._cache[view]
                if self.closed:
                    break
                if self._generation == seen:  # (a watcher busy sending at a tick takes that tick's value next)
                    await self._tick.wait()
        finally:
            self._leave()

    def poke(self) -> None:
        """Tick now (thread-safe): something changed."""
        wake(self._loop, self._changed)

    def close(self) -> None:
        """End every stream (at shutdown, or when the server swaps in a fresh emulator); on the loop."""
        self.closed = True
        self._tick.set()

    # -- the ticker, alive while someone watches -----------------------------------------------
    def _join(self) -> None:
        self._watchers += 1
        if self._runner is None:
            self._loop = asyncio.get_running_loop()
            self.emulator.on_change(self.poke)
            self._runner = self._loop.create_task(self._run(), name="evolink-mock live feed")

    def _leave(self) -> None:
        self._watchers -= 1
        if self._watchers == 0 and self._runner is not None:
            self.emulator.off_change(self.poke)
            self._runner.cancel()
            self._runner = None
            self._cache.clear()

    async def _run(self) -> None:
        while not self.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self._interval)
            if self.closed:
                return
            self._changed.clear()
            self._cache.clear()
            self._generation += 1
            tick, self._tick = self._tick, asyncio.Event()
            tick.set()
