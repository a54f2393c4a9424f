"""Prices, output seconds and billed quantities, in exact decimals (credits, 4 decimal places).

A task's price is its model's rate (by tier, sound and, for per-call tables, duration) times
what is billed: the output seconds (``unit: second``), plus the input videos' seconds for
input-plus-output billing, or one call (``unit: call``); then each price factor
(``content_filter: false`` x1.1, ``n`` videos...). The whole price is reserved at creation.
Money is exact: 5.4 x 5 is 27, not 27.000000000000004, so a balance of exactly 27 covers a
27-credit task.

Prices: https://evolink.ai/kling-o3 and each model's ``pricing.source`` (see the registry).
"""
from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from ..families import ModelSpec
from ..families.registry import INPUT, Rate, RateKey
from .records import builder

PLACES = Decimal("0.0001")
ONE = Decimal(1)
DEFAULT_INPUT_SECONDS = 5.0
_VIDEO_FIELDS = ("video_url", "video")


class Quote(NamedTuple):
    """A request's output seconds, its price (credits) and whether that price is an assumed one."""

    seconds: int
    price: Decimal
    assumed: bool


_quote = builder(Quote)  # every create: no argument checks


def credits(value: Decimal | int | float | str) -> Decimal:
    """A credit amount rounded to 4 decimal places."""
    return Decimal(str(value)).quantize(PLACES, rounding=ROUND_HALF_UP)


@functools.lru_cache(maxsize=4096)
def as_number(value: Decimal) -> float | int:
    """A credit amount for JSON: an int when whole, else a float with 4 decimals."""
    return int(value) if value == value.to_integral_value() else float(value)


def _clamped(spec: ModelSpec, seconds: int) -> int:
    high = spec.max_billed_seconds if spec.max_billed_seconds is not None else seconds
    return min(high, max(spec.min_billed_seconds, seconds))


def output_seconds(spec: ModelSpec, values: Mapping[str, Any], input_seconds: float | None) -> int:
    """The result's length in seconds (``video_duration``).

    A fixed length (``output.seconds``); the input media's length rounded up and clamped to the
    model's range (``edit_billing``, or a ``duration`` value mapped to ``input``); the seconds a
    special ``duration`` value stands for (``-1``, ``"auto"``); else ``duration`` rounded up (a
    JSON number on some models), at least the model's minimum. An element is 0 s.
    """
    if spec.fixed_seconds is not None:
        return spec.fixed_seconds
    if spec.result_kind != "video":
        return 0
    duration = values.get("duration")
    special = spec.auto_seconds.get(duration) if isinstance(duration, (int, str)) else None
    if special == INPUT or (special is None and spec.has("edit_billing")):
        return _clamped(spec, math.ceil(input_seconds if input_seconds is not None else DEFAULT_INPUT_SECONDS))
    if isinstance(special, int):
        return special
    whole = math.ceil(duration) if isinstance(duration, (int, float)) and not isinstance(duration, bool) else 0
    return max(spec.min_billed_seconds, whole)


def _videos(values: Mapping[str, Any]) -> int:
    urls = values.get("video_urls")
    if isinstance(urls, list) and urls:
        return len(urls)
    return 1 if any(values.get(name) for name in _VIDEO_FIELDS) else 0


def billed_quantity(spec: ModelSpec, seconds: int, values: Mapping[str, Any], input_seconds: float | None) -> Decimal:
    """What the rate is multiplied by: one call, or the output seconds plus any billed input seconds."""
    if spec.unit == "call":
        return ONE
    quantity = Decimal(seconds)
    if spec.billed == "input_plus_output":
        videos = _videos(values)
        if videos:
            each = Decimal(str(input_seconds if input_seconds is not None else DEFAULT_INPUT_SECONDS))
            caps = spec.input_seconds_per_video
            if caps:
                each = min(each, caps[min(videos, len(caps)) - 1])
            part = each * videos
            if spec.input_max_seconds is not None:
                part = min(part, spec.input_max_seconds)
            quantity += part
    return quantity


def factor(spec: ModelSpec, values: Mapping[str, Any]) -> Decimal:
    """The product of the model's price factors that apply to this request."""
    total = ONE
    for each in spec.factors:
        value = values.get(each.field, spec.defaults.get(each.field))
        if each.multiply:
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                total *= value
        elif value == each.equals and type(value) is type(each.equals):
            total *= each.factor
    return total


@functools.lru_cache(maxsize=4096)
def _price(rate: Decimal, quantity: Decimal, times: Decimal) -> Decimal:
    return credits(rate * quantity * times)


def quote(spec: ModelSpec, values: Mapping[str, Any], input_seconds: float | None,
          rates: Mapping[RateKey, Rate] | None = None, *, tier: str | None = None, sound: bool | None = None) -> Quote:
    """Output seconds and the full price of a request (``values``: the body with the schema's defaults).

    ``rates`` replaces the model's own (price overrides of the account's user group); ``tier`` and
    ``sound``, when the caller has read them already (:meth:`ModelSpec.tier`, :meth:`ModelSpec.sound`).
    """
    if tier is None:
        tier = spec.tier(values)
    if sound is None:
        sound = spec.sound(values)
    if spec.plain_seconds:  # rate x duration (every create of most models)
        duration = values.get("duration")
        return _plain(spec, rates, tier, sound, duration) if rates else _own_plain(spec, tier, sound, duration)
    seconds = output_seconds(spec, values, input_seconds)
    rate = (rates or spec.rates)[spec.rate_key(tier, sound, seconds)]
    price = _price(rate.credits, billed_quantity(spec, seconds, values, input_seconds), factor(spec, values))
    return _quote((seconds, price, rate.assumed))


def _plain(spec: ModelSpec, rates: Mapping[RateKey, Rate], tier: str | None, sound: bool, duration: Any) -> Quote:
    """The quote of a model billed as rate x ``duration`` seconds."""
    seconds = max(spec.min_billed_seconds, math.ceil(duration) if isinstance(duration, (int, float))
                  and not isinstance(duration, bool) else 0)
    rate = rates[spec.rate_key(tier, sound, seconds)]
    return _quote((seconds, credits(rate.credits * seconds), rate.assumed))


@functools.lru_cache(maxsize=4096)
def _own_plain(spec: ModelSpec, tier: str | None, sound: bool, duration: Any) -> Quote:
    """:func:`_plain` at the model's own rates: requests repeat a few values (the schema makes ``duration`` a
    number, so hashable; 5 and 5.0 bill alike)."""
    return _plain(spec, spec.rates, tier, sound, duration)
