"""Prices and billed seconds, in exact decimals (credits, 4 decimal places).

A task's price is its model's rate (by quality and sound) times its billed
seconds; the whole price is reserved at creation. Money is exact: 5.4 x 5 is
27, not 27.000000000000004, so a balance of exactly 27 covers a 27-credit task.

Prices: https://evolink.ai/kling-o3
"""
from __future__ import annotations

import functools
import math
from decimal import ROUND_HALF_UP, Decimal

from ..families import ModelSpec

PLACES = Decimal("0.0001")
DEFAULT_INPUT_SECONDS = 5.0


def credits(value: Decimal | int | float | str) -> Decimal:
    """A credit amount rounded to 4 decimal places."""
    return Decimal(str(value)).quantize(PLACES, rounding=ROUND_HALF_UP)


@functools.lru_cache(maxsize=4096)
def as_number(value: Decimal) -> float | int:
    """A credit amount for JSON: an int when whole, else a float with 4 decimals."""
    return int(value) if value == value.to_integral_value() else float(value)


def billed_seconds(spec: ModelSpec, duration: object, input_seconds: float | None) -> int:
    """Output seconds, which are the billed seconds.

    With ``edit_billing`` the output follows the input video: its length rounded
    up and clamped to the model's range. Other models bill their ``duration``
    (at least the model's minimum).
    """
    if "edit_billing" in spec.capabilities:
        seconds = math.ceil(input_seconds if input_seconds is not None else DEFAULT_INPUT_SECONDS)
        high = spec.max_billed_seconds if spec.max_billed_seconds is not None else seconds
        return min(high, max(spec.min_billed_seconds, seconds))
    whole = int(duration) if isinstance(duration, (int, float)) and not isinstance(duration, bool) else 0
    return max(spec.min_billed_seconds, whole)


@functools.lru_cache(maxsize=1024)
def price(spec: ModelSpec, seconds: int, quality: str | None, sound: bool) -> Decimal:
    """The task's full price: the rate x seconds, exact (a few hundred distinct values: cached)."""
    return credits(spec.rate(quality, sound).credits * seconds)
