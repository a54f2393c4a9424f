"""The model registry: model id -> :class:`ModelSpec`, built from the contract's data.

Each per-model request schema in ``openapi.yaml`` carries an ``x-evolink``
object: the model's family, modes, capabilities, prices, media limits and
timing. Request fields, their ranges and defaults are the schema's own. So
adding a model is adding its schema (with its ``x-evolink``) to the contract:
no code names a model or a family.

Capabilities say what a model takes, instead of a mode string:

- ``first_frame`` / ``last_frame``: ``image_start`` / ``image_end`` frames;
- ``reference_images``: ``image_urls`` (after the frames, ``<<<image_N>>>``);
- ``reference_video``: a video input (``video_url``, ``video_urls`` or ``video``);
- ``audio_switch``: the ``sound`` field turns audio on (otherwise audio is off);
- ``multi_shot``: ``model_params.multi_shot`` with ``multi_prompt`` shots;
- ``elements``: ``model_params.element_list`` (``<<<element_N>>>``);
- ``edit_billing``: the output (and the bill) follows the input video's length.

Prices: https://evolink.ai/kling-o3 (credits per second; ``assumed`` marks a price
EvoLink does not publish).
"""
from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from ..contract import ApiContract, api_contract

CAPABILITIES = frozenset({"first_frame", "last_frame", "reference_images", "reference_video", "audio_switch",
                          "multi_shot", "elements", "edit_billing"})
QUEUE_SECONDS = (3.0, 12.0)  # how long a task waits in the queue (uniform)
MEAN_QUEUE = sum(QUEUE_SECONDS) / 2
#: Higher resolutions take longer to render (unknown qualities take the 720p time).
QUALITY_TIME_FACTOR = MappingProxyType({"480p": 0.9, "512p": 0.9, "720p": 1.0, "768p": 1.05, "1080p": 1.25,
                                        "2k": 1.4, "4k": 1.6})


class RegistryError(ValueError):
    """The contract's model data is incomplete or contradictory."""


@dataclass(frozen=True)
class Rate:
    """Credits per billed second for one (quality, sound) combination."""

    credits: Decimal
    assumed: bool = False  # not published by EvoLink


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """What the emulator knows of one model beyond its request schema (one instance per model)."""

    id: str
    family: str
    modes: tuple[str, ...]
    capabilities: frozenset[str]
    rates: Mapping[tuple[str | None, bool], Rate]
    billing_rule: str = "per_second"
    min_billed_seconds: int = 1
    max_billed_seconds: int | None = None  # edit billing: the input length is clamped to this
    limits: Mapping[str, int] = field(default_factory=dict)
    processing_base: float = 180.0  # nominal processing seconds ...
    processing_per_second: float = 12.0  # ... plus this per output second
    defaults: Mapping[str, Any] = field(default_factory=dict)  # the schema's defaults
    fields: frozenset[str] = frozenset()  # the schema's top-level properties
    docs: str | None = None
    price_source: str | None = None

    def has(self, capability: str) -> bool:
        """Whether the model takes what ``capability`` names."""
        return capability in self.capabilities

    @property
    def video_input(self) -> bool:
        """Takes a video; its own sound is then off."""
        return "reference_video" in self.capabilities

    @property
    def default_quality(self) -> str | None:
        """The quality a request without ``quality`` gets (None: the model has no quality field)."""
        return self.defaults.get("quality")

    def rate(self, quality: str | None, sound: bool) -> Rate:
        """The rate for this quality and sound setting (sound counts only with an audio switch)."""
        return self.rates[(quality, sound and self.has("audio_switch"))]

    @functools.lru_cache(maxsize=256)  # noqa: B019 - specs live as long as the process
    def timing(self, seconds: int, quality: str | None) -> tuple[float, int]:
        """``(nominal processing seconds, estimated_time)``: processing before jitter, plus the average queue."""
        factor = QUALITY_TIME_FACTOR.get(quality or "", 1.0)
        nominal = (self.processing_base + self.processing_per_second * seconds) * factor
        return nominal, round(MEAN_QUEUE + nominal)


def _spec(model_id: str, schema: Mapping[str, Any]) -> ModelSpec:
    data = schema.get("x-evolink")
    if not isinstance(data, Mapping):
        raise RegistryError(f"{model_id}: its request schema has no x-evolink data")
    capabilities = frozenset(data.get("capabilities", ()))
    unknown = capabilities - CAPABILITIES
    if unknown:
        raise RegistryError(f"{model_id}: unknown capabilities {sorted(unknown)}; known: {sorted(CAPABILITIES)}")
    pricing = data.get("pricing") or {}
    rates = {(row.get("quality"), bool(row.get("sound", False))):
             Rate(Decimal(str(row["credits"])), bool(row.get("assumed", False))) for row in pricing.get("rates", ())}
    if not rates:
        raise RegistryError(f"{model_id}: no prices")
    properties = schema.get("properties", {})
    _check_rates(model_id, properties, capabilities, rates)
    timing = data.get("timing") or {}
    return ModelSpec(
        id=model_id, family=str(data["family"]), modes=tuple(data.get("modes", ())), capabilities=capabilities,
        rates=MappingProxyType(rates), billing_rule=pricing.get("billing_rule", "per_second"),
        min_billed_seconds=int(pricing.get("min_seconds", 1)),
        max_billed_seconds=int(pricing["max_seconds"]) if "max_seconds" in pricing else None,
        limits=MappingProxyType(dict(data.get("limits") or {})),
        processing_base=float(timing.get("base", 180)), processing_per_second=float(timing.get("per_second", 12)),
        defaults=MappingProxyType({k: v["default"] for k, v in properties.items()
                                   if isinstance(v, Mapping) and "default" in v}),
        fields=frozenset(properties), docs=data.get("docs"), price_source=pricing.get("source"),
    )


def _check_rates(model_id: str, properties: Mapping[str, Any], capabilities: frozenset[str],
                 rates: Mapping[tuple[str | None, bool], Rate]) -> None:
    """Every quality the schema accepts has a price, with and without sound where sound can be on."""
    quality = properties.get("quality")
    if quality is not None and "default" not in quality:
        raise RegistryError(f"{model_id}: quality has no default")
    qualities = list(quality.get("enum", ())) if quality is not None else [None]
    sounds = (False, True) if "audio_switch" in capabilities else (False,)
    missing = [(q, s) for q in qualities for s in sounds if (q, s) not in rates]
    if missing:
        raise RegistryError(f"{model_id}: no price for (quality, sound) {missing}")


class Registry(Mapping[str, ModelSpec]):
    """Every model the contract serves, by id."""

    def __init__(self, contract: ApiContract) -> None:
        self._specs = {model_id: _spec(model_id, body.schema) for model_id, body in contract.models.items()}

    def __getitem__(self, model_id: str) -> ModelSpec:
        return self._specs[model_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def with_capability(self, capability: str) -> list[ModelSpec]:
        """The models that have ``capability``, in contract order."""
        return [spec for spec in self._specs.values() if spec.has(capability)]


@functools.cache
def registry() -> Registry:
    """The registry of the contract in use (once per process)."""
    return Registry(api_contract())
