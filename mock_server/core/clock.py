"""Mock time. Everything time-based in the emulator reads this clock.

Mock time began at the store's origin (a wall epoch) and runs ``speed``
times as fast as wall time; ``speed == 0`` is a manual clock that moves only
when :meth:`Clock.advance` is called (the admin API or a test). The origin
and the advance offset live in the store, so emulators sharing a store (and
running at the same speed) read the same time.
"""
from __future__ import annotations

import time
from typing import Protocol


class ClockState(Protocol):
    """The part of the store that keeps the clock."""

    def clock_origin(self, proposed: float) -> float: ...

    def clock_offset(self) -> float: ...

    def advance_clock(self, seconds: float) -> float: ...


class Clock:
    """``origin + (wall - origin) * speed + offset``; manual when ``speed`` is 0."""

    __slots__ = ("_origin", "_state", "speed")

    def __init__(self, state: ClockState, speed: float = 0.0) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self.speed = float(speed)
        self._state = state
        self._origin = state.clock_origin(time.time())

    @property
    def manual(self) -> bool:
        """True when time moves only by :meth:`advance`."""
        return self.speed == 0

    def now(self) -> float:
        """Mock time, epoch seconds."""
        return self.at(self._state.clock_offset())

    def at(self, offset: float) -> float:
        """Mock time, epoch seconds, given the store's offset (read with other things in one go)."""
        origin = self._origin
        running = (time.time() - origin) * self.speed if self.speed else 0.0
        return origin + running + offset

    @property
    def offset(self) -> float:
        """Seconds the clock was advanced by, in total."""
        return self._state.clock_offset()

    def advance(self, seconds: float) -> float:
        """Jump ahead by ``seconds`` of mock time; returns the new time."""
        if not seconds >= 0:
            raise ValueError("seconds must be >= 0")
        self._state.advance_clock(seconds)
        return self.now()

    def wall_seconds(self, mock_seconds: float) -> float | None:
        """Wall seconds until ``mock_seconds`` of mock time pass; None if manual."""
        return None if self.manual else max(0.0, mock_seconds) / self.speed
