"""Mock time. Everything time-based in the emulator reads this clock.

Mock time starts at the wall-clock epoch when the emulator starts and runs
``speed`` times as fast as wall time; ``speed == 0`` is a manual clock that
moves only when :meth:`Clock.advance` is called (the admin API or a test).
The advance offset lives in the store, so every worker sharing a store agrees.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class OffsetStore(Protocol):
    """The part of the store that keeps the clock's offset."""

    def clock_offset(self) -> float: ...

    def add_clock_offset(self, seconds: float) -> float: ...


class Clock:
    """Scaled wall time plus an offset; manual when ``speed`` is 0."""

    def __init__(self, store: OffsetStore, speed: float = 0.0, start: float | None = None) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self.speed = float(speed)
        self._store = store
        self._start = time.time() if start is None else float(start)
        self._mono = time.monotonic()
        self._listeners: list[Callable[[], None]] = []

    @property
    def manual(self) -> bool:
        """True when time moves only by :meth:`advance`."""
        return self.speed == 0

    def now(self) -> float:
        """Mock time, epoch seconds."""
        running = (time.monotonic() - self._mono) * self.speed if self.speed else 0.0
        return self._start + running + self._store.clock_offset()

    def advance(self, seconds: float) -> float:
        """Jump ahead by ``seconds`` of mock time; returns the new time."""
        if not seconds >= 0:
            raise ValueError("seconds must be >= 0")
        self._store.add_clock_offset(seconds)
        for listener in tuple(self._listeners):
            listener()
        return self.now()

    def wall_seconds(self, mock_seconds: float) -> float | None:
        """Wall seconds until ``mock_seconds`` of mock time pass; None if manual."""
        return None if self.manual else max(0.0, mock_seconds) / self.speed

    def on_advance(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every :meth:`advance` (wakes waiting dispatchers)."""
        self._listeners.append(listener)

    def off_advance(self, listener: Callable[[], None]) -> None:
        """Stop calling ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)
