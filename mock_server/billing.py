"""Prices and billed seconds, in exact decimals (api-facts §5)."""
from __future__ import annotations

import functools
import math
from decimal import ROUND_HALF_UP, Decimal

from .catalog import ModelSpec

PLACES = Decimal("0.0001")
DEFAULT_INPUT_SECONDS = 5.0


def credits(value: Decimal | int | float | str) -> Decimal:
    """A credit amount rounded to 4 decimal places."""
    return Decimal(str(value)).quantize(PLACES, rounding=ROUND_HALF_UP)


@functools.lru_cache(maxsize=4096)
def as_number(value: Decimal) -> float | int:
    """A credit amount for JSON: an int when whole, else a float with 4 decimals."""
    return int(value) if value == value.to_integral_value() else float(value)


def billed_seconds(spec: ModelSpec, duration: int | None, input_seconds: float | None) -> int:
    """Output seconds, which are the billed seconds.

    Video edit follows its input: the input length rounded up and clamped to
    the model's range. Other models bill their ``duration``.
    """
    if spec.max_billed_seconds is not None:
        seconds = math.ceil(input_seconds if input_seconds is not None else DEFAULT_INPUT_SECONDS)
        return min(spec.max_billed_seconds, max(spec.min_billed_seconds, seconds))
    return max(spec.min_billed_seconds, int(duration or 0))


@functools.lru_cache(maxsize=1024)
def price(spec: ModelSpec, seconds: int, quality: str, sound: bool) -> Decimal:
    """The task's full price: per-second rate x seconds, exact (a few hundred distinct values: cached)."""
    return credits(spec.price_per_second(quality, sound) * seconds)
