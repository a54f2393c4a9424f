"""The model registry: model id -> :class:`ModelSpec`, built from the contract's data.

Each per-model request schema in ``openapi.yaml`` (built from ``mock_server/families/*.yaml``)
carries an ``x-evolink`` object: what the schema cannot say. Request fields, their ranges,
enums and defaults are the schema's own. Adding a model is adding its schema (with its
``x-evolink``) to a family file: no code names a model or a family.

``x-evolink`` keys (all but ``family`` optional):

- ``family``, ``modes`` (words for people and ``/_mock/models``), ``docs`` (the model's page);
- ``capabilities``, what the model takes that a rule or the kit must know:
  ``first_frame`` / ``last_frame`` (``image_start`` / ``image_end``), ``reference_images``
  (``image_urls`` after the frames, ``<<<image_N>>>``), ``reference_video`` (a video input:
  ``video_url``, ``video_urls`` or ``video``; the model's own sound is then off), ``audio_switch``
  (the ``sound`` field turns audio on), ``multi_shot`` (``model_params.multi_shot`` shots),
  ``elements`` (``model_params.element_list``, ``<<<element_N>>>``), ``edit_billing`` (the output,
  and the bill, follow the input media's length, clamped to ``pricing.min_seconds``/``max_seconds``);
- ``audio``: the request field (dotted for ``model_params``) whose value turns sound on
  (``generate_audio``, ``keep_original_sound``, ``audio_url``...), or ``always``;
- ``output``: ``auto`` maps special ``duration`` values to output seconds (``[{duration: -1,
  seconds: 30}]``; ``seconds: input`` is the input's length); ``seconds`` fixes the length of a model
  without ``duration``; ``format`` names the field choosing ``mp4`` or ``mov``; ``kind: element``
  for a task whose result is an element id, not a video;
- ``pricing``: ``billing_rule`` (``usage.billing_rule``: ``per_second``, ``per_call``, ``per_token``),
  ``unit`` (``second``: the rate times the billed seconds, or ``call``: the rate is the price),
  ``source`` (the price page), ``tier`` (the field choosing the rate, default ``quality``),
  ``rates`` (rows ``{quality, sound, duration, credits, assumed}``: ``quality`` is the tier's value,
  ``sound`` the audio setting where it changes the price, ``duration`` the seconds of a per-call
  price; ``assumed`` marks a price EvoLink does not publish), ``min_seconds``/``max_seconds``,
  ``billed`` (``output``, or ``input_plus_output``: the input videos' seconds are billed too, at
  most ``input_max_seconds``, each at most ``input_seconds_per_video[n - 1]`` of n videos), and
  ``factors`` (``{field, equals, factor}``: x factor when the field has that value; ``{field,
  multiply: true}``: x the field's value, such as ``n`` videos);
- ``limits``: ``media`` (images + elements), ``elements``, ``elements_with_first_frame``,
  ``images_with_last_frame``, and ``totals`` (``{fields, max}``: items across those fields);
- ``timing``: nominal processing seconds, ``base`` plus ``per_second`` of output;
- ``response``: ``create`` (the create answer's schema: ``VideoGenerationTask``,
  ``VideoGenerationTaskBasic`` or ``VideoGenerationTaskPreview``), ``video_duration: false`` where
  the answer has no ``task_info.video_duration``;
- ``cancellable: false`` for tasks that cannot be cancelled (``can_cancel`` stays false);
- ``late_failures``: ``{name, prompt, requires, fail}``: a request whose prompt matches the regular
  expression but whose fields differ from ``requires`` is accepted, then fails ``fail`` and is
  refunded (as the docs describe for Seedance 2.5's task-type constraint).

A model's ``model`` property is a ``const`` (its id) or an ``enum`` (its id, then its documented
aliases, which answer as the id).

Prices: https://evolink.ai/kling-o3 and the pages each model's ``pricing.source`` names.
"""
from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from ..contract import ApiContract, api_contract

CAPABILITIES = frozenset({"first_frame", "last_frame", "reference_images", "reference_video", "audio_switch",
                          "multi_shot", "elements", "edit_billing"})
CREATE_SHAPES = frozenset({"VideoGenerationTask", "VideoGenerationTaskBasic", "VideoGenerationTaskPreview"})
QUEUE_SECONDS = (3.0, 12.0)  # how long a task waits in the queue (uniform)
MEAN_QUEUE = sum(QUEUE_SECONDS) / 2
#: Higher resolutions take longer to render (unknown qualities take the 720p time).
QUALITY_TIME_FACTOR = MappingProxyType({"480p": 0.9, "512p": 0.9, "720p": 1.0, "768p": 1.05, "1080p": 1.25,
                                        "2k": 1.4, "4k": 1.6})
INPUT = "input"  # an output length that follows the input media
#: Rates are keyed by (tier value, sound, duration); parts a model's prices do not vary on are None/False.
RateKey = tuple[str | None, bool, int | None]


class RegistryError(ValueError):
    """The contract's model data is incomplete or contradictory."""


@dataclass(frozen=True)
class Rate:
    """Credits per billed second (or per call) for one (tier, sound, duration) combination."""

    credits: Decimal
    assumed: bool = False  # not published by EvoLink
    override: bool = False  # set by EVOLINK_MOCK_PRICES


@dataclass(frozen=True)
class Factor:
    """A price factor: x ``factor`` when ``field`` equals ``equals``, or x the field's value (``multiply``)."""

    field: str
    factor: Decimal = Decimal(1)
    equals: Any = None
    multiply: bool = False


@dataclass(frozen=True)
class LateFailure:
    """A request accepted, then failed: the prompt matches ``prompt`` and a field differs from ``requires``."""

    name: str
    prompt: re.Pattern[str]
    requires: Mapping[str, Any]
    fail: str


def value_at(values: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """A field of a body by dotted path (``model_params.keep_sound``); ``default`` when absent."""
    if "." not in path:
        return values.get(path, default)
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


@dataclass(frozen=True)
class Durations:
    """The ``duration`` values a model's schema accepts, whatever its kind.

    ``ranges``: ``(minimum, maximum)`` pairs (seconds, inclusive); ``values``: values listed one by
    one (a fixed list such as ``[4, 6, 8]``, or a special value beside a range: ``-1``, ``0``,
    ``"auto"``); ``fractional``: the schema's type is ``number`` (``2.5`` passes). An empty
    :class:`Durations` is a model without a ``duration`` field.
    """

    ranges: tuple[tuple[float, float], ...] = ()
    values: tuple[int | str, ...] = ()
    fractional: bool = False

    @classmethod
    def of(cls, schema: Any) -> Durations:
        """Read a ``duration`` property: a range, an ``enum``, a ``const``, or an ``anyOf`` of them."""
        if not isinstance(schema, Mapping):
            return cls()
        ranges: list[tuple[float, float]] = []
        values: list[int | str] = []
        for part in (schema, *schema.get("anyOf", ())):
            if "minimum" in part and "maximum" in part:
                ranges.append((part["minimum"], part["maximum"]))
            values += part.get("enum", ())
            if "const" in part:
                values.append(part["const"])
        types = schema.get("type")
        return cls(tuple(ranges), tuple(values), "number" in (types if isinstance(types, list) else [types]))

    def __bool__(self) -> bool:
        return bool(self.ranges or self.values)

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is one of these durations (by value: ``5.0`` passes a whole-second range)."""
        if value in self.values:
            return True
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return (self.fractional or value == int(value)) and any(low <= value <= high for low, high in self.ranges)

    @property
    def seconds(self) -> tuple[int, ...]:
        """Every whole, positive number of seconds accepted (the options a request can pin), ascending."""
        found = {v for v in self.values if isinstance(v, int) and v > 0}
        for low, high in self.ranges:
            found.update(range(max(1, math.ceil(low)), math.floor(high) + 1))
        return tuple(sorted(found))

    @property
    def shortest(self) -> int | None:
        """The shortest whole, positive length accepted (the cheapest request), None when there is none."""
        return self.seconds[0] if self.seconds else None

    def outside(self) -> list[tuple[str, int]]:
        """Values just outside, each one the schema refuses: ``(below_min, ...)`` and ``(above_max, ...)``
        next to the ranges (or the listed numbers), and ``(not_listed, ...)`` in a fixed list's gap."""
        listed = sorted(v for v in self.values if isinstance(v, int))
        lows, highs = [r[0] for r in self.ranges] or listed, [r[1] for r in self.ranges] or listed
        if not lows:
            return []
        cases = [("below_min", math.ceil(min(lows)) - 1), ("above_max", math.floor(max(highs)) + 1)]
        if not self.ranges:
            gap = next((v for v in range(listed[0] + 1, listed[-1]) if not self.accepts(v)), None)
            cases += [("not_listed", gap)] if gap is not None else []
        return [(name, value) for name, value in cases if not self.accepts(value)]

    def describe(self) -> str:
        """For people: ``4-15``, ``4, 6, 8``, ``2-30, -1``, ``3-10, auto``."""
        parts = [f"{low:g}-{high:g}" for low, high in self.ranges] + [str(v) for v in self.values]
        return ", ".join(parts)


def _tier(value: Any) -> str | None:
    """A tier value as rates key it (``2`` and ``"2"`` alike)."""
    if value is None or isinstance(value, str):
        return value
    return str(value)


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """What the emulator knows of one model beyond its request schema (one instance per model)."""

    id: str
    family: str
    modes: tuple[str, ...]
    capabilities: frozenset[str]
    rates: Mapping[RateKey, Rate]
    billing_rule: str = "per_second"
    min_billed_seconds: int = 1
    max_billed_seconds: int | None = None  # edit billing: the input length is clamped to this
    limits: Mapping[str, int] = field(default_factory=dict)
    processing_base: float = 180.0  # nominal processing seconds ...
    processing_per_second: float = 12.0  # ... plus this per output second
    defaults: Mapping[str, Any] = field(default_factory=dict)  # the schema's defaults (dotted for nested ones)
    fields: frozenset[str] = frozenset()  # the schema's top-level properties
    docs: str | None = None
    price_source: str | None = None
    aliases: tuple[str, ...] = ()
    audio_field: str | None = None
    audio_always: bool = False
    tier_field: str = "quality"
    unit: str = "second"
    billed: str = "output"
    input_max_seconds: Decimal | None = None
    input_seconds_per_video: tuple[Decimal, ...] = ()
    factors: tuple[Factor, ...] = ()
    auto_seconds: Mapping[Any, int | str] = field(default_factory=dict)
    fixed_seconds: int | None = None
    format_field: str | None = None
    result_kind: str = "video"
    create_shape: str = "VideoGenerationTask"
    video_duration: bool = True
    cancellable: bool = True
    late_failures: tuple[LateFailure, ...] = ()
    totals: tuple[tuple[tuple[str, ...], int], ...] = ()
    durations: Durations = Durations()

    def has(self, capability: str) -> bool:
        """Whether the model takes what ``capability`` names."""
        return capability in self.capabilities

    @property
    def video_input(self) -> bool:
        """Takes a video; its own sound is then off."""
        return "reference_video" in self.capabilities

    @property
    def default_quality(self) -> str | None:
        """The tier a request without one gets (None: the model has no tier field)."""
        return _tier(self.defaults.get(self.tier_field))

    @functools.cached_property
    def priced_sound(self) -> bool:
        """Whether the sound setting changes the price."""
        return any(key[1] for key in self.rates)

    @functools.cached_property
    def priced_duration(self) -> bool:
        """Whether rates are per call by duration (``duration`` rows)."""
        return any(key[2] is not None for key in self.rates)

    @functools.cached_property
    def reads_input_length(self) -> bool:
        """Whether the input media's length (the scenario's ``input_seconds``) matters."""
        return self.has("edit_billing") or self.billed == "input_plus_output" or INPUT in self.auto_seconds.values()

    @functools.cached_property
    def plain_seconds(self) -> bool:
        """Whether the output length is ``duration`` and the price is rate x seconds: no fixed or special
        lengths, no input length, no factors (most models; the create path takes a shortcut for them)."""
        return (self.fixed_seconds is None and self.result_kind == "video" and not self.auto_seconds
                and "edit_billing" not in self.capabilities and self.unit == "second" and self.billed == "output"
                and not self.factors)

    @functools.cached_property
    def assumed(self) -> bool:
        """Whether any of the model's prices is assumed."""
        return any(rate.assumed for rate in self.rates.values())

    def tier(self, values: Mapping[str, Any]) -> str | None:
        """The request's tier (its quality, or the field ``pricing.tier`` names)."""
        name = self.tier_field
        value = values.get(name, self.defaults.get(name)) if "." not in name else \
            value_at(values, name, self.defaults.get(name))
        return value if value is None or isinstance(value, str) else _tier(value)

    def sound(self, values: Mapping[str, Any]) -> bool:
        """Whether the result has sound (``"on"``, ``true``, a URL or a non-empty list in the audio field)."""
        if self.audio_always:
            return True
        if self.audio_field is None:
            return False
        name = self.audio_field
        value = values.get(name, self.defaults.get(name)) if "." not in name else \
            value_at(values, name, self.defaults.get(name))
        return value is True or (isinstance(value, str) and value not in ("off", "")) or (
            isinstance(value, list) and bool(value))

    def rate_key(self, tier: str | None, sound: bool, seconds: int) -> RateKey:
        """The key of the rate for this tier, sound setting and output length."""
        return tier, sound and self.priced_sound, seconds if self.priced_duration else None

    def rate(self, quality: str | None, sound: bool, seconds: int = 0) -> Rate:
        """The published (or assumed) rate for this tier and sound setting."""
        return self.rates[self.rate_key(_tier(quality), sound, seconds)]

    @functools.lru_cache(maxsize=256)  # noqa: B019 - specs live as long as the process
    def timing(self, seconds: int, quality: str | None) -> tuple[float, int]:
        """``(nominal processing seconds, estimated_time)``: processing before jitter, plus the average queue."""
        factor = QUALITY_TIME_FACTOR.get(quality or "", 1.0)
        nominal = max(1.0, (self.processing_base + self.processing_per_second * seconds) * factor)
        return nominal, round(MEAN_QUEUE + nominal)


def _defaults(properties: Mapping[str, Any]) -> dict[str, Any]:
    """The schema's defaults, top-level and one level into objects (``model_params.keep_sound``)."""
    found: dict[str, Any] = {}
    for name, sub in properties.items():
        if not isinstance(sub, Mapping):
            continue
        if "default" in sub:
            found[name] = sub["default"]
        for inner, leaf in (sub.get("properties") or {}).items():
            if isinstance(leaf, Mapping) and "default" in leaf:
                found[f"{name}.{inner}"] = leaf["default"]
    return found


def _property(properties: Mapping[str, Any], path: str) -> Mapping[str, Any] | None:
    node: Any = {"properties": properties}
    for part in path.split("."):
        node = (node.get("properties") or {}).get(part) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else None


def _rates(model_id: str, pricing: Mapping[str, Any]) -> dict[RateKey, Rate]:
    rates: dict[RateKey, Rate] = {}
    for row in pricing.get("rates", ()):
        duration = row.get("duration")
        key = (_tier(row.get("quality")), bool(row.get("sound", False)), int(duration) if duration else None)
        if key in rates:
            raise RegistryError(f"{model_id}: two prices for {key}")
        rates[key] = Rate(Decimal(str(row["credits"])), bool(row.get("assumed", False)))
    if not rates:
        raise RegistryError(f"{model_id}: no prices")
    return rates


def _spec(model_id: str, aliases: tuple[str, ...], schema: Mapping[str, Any]) -> ModelSpec:
    data = schema.get("x-evolink")
    if not isinstance(data, Mapping):
        raise RegistryError(f"{model_id}: its request schema has no x-evolink data")
    capabilities = frozenset(data.get("capabilities", ()))
    unknown = capabilities - CAPABILITIES
    if unknown:
        raise RegistryError(f"{model_id}: unknown capabilities {sorted(unknown)}; known: {sorted(CAPABILITIES)}")
    pricing = data.get("pricing") or {}
    rates = _rates(model_id, pricing)
    properties = schema.get("properties", {})
    output = data.get("output") or {}
    response = data.get("response") or {}
    audio = data.get("audio", "sound" if "audio_switch" in capabilities else None)
    create = response.get("create", "VideoGenerationTask")
    if create not in CREATE_SHAPES:
        raise RegistryError(f"{model_id}: response.create must be one of {sorted(CREATE_SHAPES)}")
    timing = data.get("timing") or {}
    limits = dict(data.get("limits") or {})
    totals = tuple((tuple(total["fields"]), int(total["max"])) for total in limits.pop("totals", ()))
    spec = ModelSpec(
        id=model_id, family=str(data["family"]), modes=tuple(data.get("modes", ())), capabilities=capabilities,
        rates=MappingProxyType(rates), billing_rule=pricing.get("billing_rule", "per_second"),
        min_billed_seconds=int(pricing.get("min_seconds", 1)),
        max_billed_seconds=int(pricing["max_seconds"]) if "max_seconds" in pricing else None,
        limits=MappingProxyType(limits),
        processing_base=float(timing.get("base", 180)), processing_per_second=float(timing.get("per_second", 12)),
        defaults=MappingProxyType(_defaults(properties)), fields=frozenset(properties), docs=data.get("docs"),
        price_source=pricing.get("source"), aliases=aliases,
        audio_field=None if audio in (None, "always") else str(audio), audio_always=audio == "always",
        tier_field=pricing.get("tier", "quality"), unit=pricing.get("unit", "second"),
        billed=pricing.get("billed", "output"),
        input_max_seconds=Decimal(str(pricing["input_max_seconds"])) if "input_max_seconds" in pricing else None,
        input_seconds_per_video=tuple(Decimal(str(s)) for s in pricing.get("input_seconds_per_video", ())),
        factors=tuple(Factor(f["field"], Decimal(str(f.get("factor", 1))), f.get("equals"),
                             bool(f.get("multiply", False))) for f in pricing.get("factors", ())),
        auto_seconds=MappingProxyType({a["duration"]: a["seconds"] for a in output.get("auto", ())}),
        fixed_seconds=int(output["seconds"]) if "seconds" in output else None,
        format_field=output.get("format"), result_kind=output.get("kind", "video"),
        create_shape=create, video_duration=bool(response.get("video_duration", True)),
        cancellable=bool(data.get("cancellable", True)),
        late_failures=tuple(LateFailure(f["name"], re.compile(f["prompt"], re.IGNORECASE),
                                        MappingProxyType(dict(f["requires"])), f["fail"])
                            for f in data.get("late_failures", ())),
        totals=totals, durations=Durations.of(properties.get("duration")),
    )
    if spec.unit not in ("second", "call") or spec.billed not in ("output", "input_plus_output"):
        raise RegistryError(f"{model_id}: pricing.unit must be second or call, billed output or input_plus_output")
    _check_rates(spec, properties)
    return spec


def _check_rates(spec: ModelSpec, properties: Mapping[str, Any]) -> None:
    """Every tier the schema accepts has a price, with and without sound where sound changes it."""
    tier = _property(properties, spec.tier_field)
    if tier is not None and "enum" in tier and "default" not in tier:
        raise RegistryError(f"{spec.id}: {spec.tier_field} has no default")
    tiers = sorted({_tier(v) for v in tier.get("enum", ())}, key=str) if tier is not None else [None]
    sounds = (False, True) if spec.priced_sound else (False,)
    durations: list[int | None] = [None]
    if spec.priced_duration:
        durations = [int(d) for d in (properties.get("duration") or {}).get("enum", ())]
    missing = [(t, s, d) for t in tiers for s in sounds for d in durations if (t, s, d) not in spec.rates]
    if missing:
        raise RegistryError(f"{spec.id}: no price for (tier, sound, duration) {missing}")


class Registry(Mapping[str, ModelSpec]):
    """Every model the contract serves, by id."""

    def __init__(self, contract: ApiContract) -> None:
        self._specs: dict[str, ModelSpec] = {}
        self.aliases: dict[str, str] = {}  # alias -> model id
        for body in contract.models.values():
            ids = body.model_ids
            self._specs[ids[0]] = _spec(ids[0], ids[1:], body.schema)
            self.aliases.update(dict.fromkeys(ids[1:], ids[0]))
        #: Every id and alias -> its spec: a plain dict for the request path (``registry[id]`` is the same).
        self.by_id: dict[str, ModelSpec] = {**self._specs, **{a: self._specs[m] for a, m in self.aliases.items()}}

    def __getitem__(self, model_id: str) -> ModelSpec:
        """A model's spec by id (or by documented alias); iteration lists the ids only."""
        return self.by_id[model_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def resolve(self, model: str) -> ModelSpec:
        """The spec of a model id or alias (KeyError when neither)."""
        return self[model]

    def with_capability(self, capability: str) -> list[ModelSpec]:
        """The models that have ``capability``, in contract order."""
        return [spec for spec in self._specs.values() if spec.has(capability)]


@functools.cache
def registry() -> Registry:
    """The registry of the contract in use (once per process)."""
    return Registry(api_contract())
