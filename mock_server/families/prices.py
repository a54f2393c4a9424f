"""Price overrides: ``EVOLINK_MOCK_PRICES``, a YAML or JSON file of prices per model and user group.

    models:                    # every account's prices (the default user group's too)
      kling-o3-text-to-video:
        - {quality: 720p, sound: false, credits: 4.5}
    user_groups:               # accounts put in a group (PUT /_mock/accounts/{key} {"user_group"})
      vip:
        kling-o3-text-to-video:
          - {quality: 720p, credits: 4.0}    # no sound key: with and without sound

A row sets every rate of the model whose keys (``quality``: the tier's value, ``sound``,
``duration``) match the keys it gives; a group's rows apply on top of ``models``. An unknown
model (or alias), a row that matches no rate, or a negative price is refused at start-up.
EvoLink says its group prices differ (``usage.user_group``); this is how a test reproduces them.
"""
from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from .registry import ModelSpec, Rate, RateKey, Registry

SETTING = "EVOLINK_MOCK_PRICES"
DEFAULT_GROUP = "default"
_KEYS = ("quality", "sound", "duration")
Table = Mapping[RateKey, Rate]


class PriceBook:
    """The rates in force per (user group, model): the contract's, with the overrides applied."""

    def __init__(self, registry: Registry, overrides: Mapping[str, Any] | None = None) -> None:
        overrides = overrides or {}
        unknown = set(overrides) - {"models", "user_groups"}
        if unknown:
            raise ValueError(f"{SETTING}: unknown top-level key(s) {sorted(unknown)}; use models and user_groups")
        self._registry = registry
        base = self._apply({}, overrides.get("models") or {}, "models")
        self._groups: dict[str, dict[str, Table]] = {DEFAULT_GROUP: base}
        for group, models in (overrides.get("user_groups") or {}).items():
            self._groups[str(group)] = self._apply(dict(base), models or {}, f"user_groups.{group}")
        #: Whether any price is overridden (without, every request uses the contract's rates: no lookup).
        self.overridden = any(self._groups.values())

    def _apply(self, tables: dict[str, Table], models: Mapping[str, Any], where: str) -> dict[str, Table]:
        for model, rows in models.items():
            try:
                spec = self._registry.resolve(str(model))
            except KeyError:
                raise ValueError(f"{SETTING}: {where}: unknown model {model!r}") from None
            table = dict(tables.get(spec.id, spec.rates))
            for row in rows if isinstance(rows, list) else [rows]:
                _override(spec, table, row, f"{where}.{model}")
            tables[spec.id] = MappingProxyType(table)
        return tables

    def rates(self, group: str, spec: ModelSpec) -> Table | None:
        """The overridden rates of ``spec`` for ``group`` (None: the contract's own)."""
        tables = self._groups.get(group) or self._groups[DEFAULT_GROUP]
        return tables.get(spec.id)

    def table(self, group: str, spec: ModelSpec) -> Table:
        """The rates in force for ``group``."""
        return self.rates(group, spec) or spec.rates

    def groups(self) -> list[str]:
        """The user groups with prices of their own (and ``default``)."""
        return list(self._groups)


def _override(spec: ModelSpec, table: dict[RateKey, Rate], row: Any, where: str) -> None:
    if not isinstance(row, Mapping) or "credits" not in row or set(row) - {*_KEYS, "credits"}:
        raise ValueError(f"{SETTING}: {where}: each row is {{quality?, sound?, duration?, credits}} (got {row!r})")
    try:
        credits = Decimal(str(row["credits"]))
    except InvalidOperation:
        credits = Decimal(-1)
    if not credits.is_finite() or credits < 0:
        raise ValueError(f"{SETTING}: {where}: credits must be a number >= 0 (got {row['credits']!r})")
    matched = [key for key in table if all(
        key[i] == (str(row[name]) if name == "quality" else row[name])
        for i, name in enumerate(_KEYS) if name in row)]
    if not matched:
        raise ValueError(f"{SETTING}: {where}: {dict(row)} matches none of {spec.id}'s prices")
    for key in matched:
        table[key] = Rate(credits, assumed=False, override=True)


def load(path: str | Path | None, registry: Registry) -> PriceBook:
    """The price book of ``path`` (YAML or JSON); without a path, the contract's prices."""
    if not path:
        return PriceBook(registry)
    try:
        with open(path, encoding="utf-8") as fh:
            document = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{SETTING}: cannot read {path}: {exc}") from None
    if document is not None and not isinstance(document, Mapping):
        raise ValueError(f"{SETTING}: {path} must hold a mapping with models and/or user_groups")
    return PriceBook(registry, document)
