"""Records as bytes, for the stores that keep them outside this process (SQLite, Redis).

A record is written as a JSON array of its fields in declaration order (orjson):
strings, ints, floats (shortest form that reads back as the same double), bools
and None as JSON has them; ``Decimal`` money as its string (``"27.0000"`` keeps
its exponent); a ``frozenset`` as a sorted array. Reading applies the inverse,
so ``load(dump(record)) == record`` exactly, field by field and type by type.
An integer beyond 64 bits (a fault rule's seed may be one), which orjson cannot
write, is written by the standard library's ``json`` instead, flagged by a
leading space (still JSON) so it is read back by the same.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Generic, TypeVar

import orjson

from ..core.callbacks import CallbackAttempt
from ..core.faults import FaultRule
from ..core.ledger import Account, LedgerEntry
from ..core.tasks import Task

R = TypeVar("R")


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, frozenset):
        return sorted(value)
    raise TypeError(f"cannot store a {type(value).__name__}")


def _dumps(values: object) -> bytes:
    try:
        return orjson.dumps(values, default=_default)
    except TypeError:  # an integer beyond 64 bits
        return b" " + json.dumps(values, default=_default, separators=(",", ":")).encode()


def _loads(data: bytes | str) -> Any:
    if data[:1] in (b" ", " "):
        return json.loads(data)
    return orjson.loads(data)


class Codec(Generic[R]):
    """Bytes for one record type: ``dump(record)``, ``load(data)``."""

    def __init__(self, record_type: Callable[..., R], fields: tuple[str, ...], *, decimals: tuple[str, ...] = (),
                 sets: tuple[str, ...] = ()) -> None:
        self._make = record_type
        self._decimals = tuple(fields.index(name) for name in decimals)
        self._sets = tuple(fields.index(name) for name in sets)
        self._plain = not self._decimals and not self._sets

    def dump(self, record: R) -> bytes:
        """The record's bytes."""
        values = dataclasses.astuple(record) if dataclasses.is_dataclass(record) else tuple(record)  # type: ignore[arg-type]
        return _dumps(values)

    def load(self, data: bytes | str) -> R:
        """The record ``data`` holds; ValueError if it is not one."""
        values: list[Any] = _loads(data)
        if not self._plain:
            for index in self._decimals:
                if values[index] is not None:
                    values[index] = Decimal(values[index])
            for index in self._sets:
                if values[index] is not None:
                    values[index] = frozenset(values[index])
        return self._make(*values)


TASK = Codec(Task, Task._fields, decimals=("price",))
ACCOUNT = Codec(Account, Account._fields, decimals=("granted", "balance", "reserved", "charged"), sets=("models",))
ENTRY = Codec(LedgerEntry, LedgerEntry._fields, decimals=("amount", "balance"))
ATTEMPT = Codec(CallbackAttempt, CallbackAttempt._fields)
RULE = Codec(FaultRule, tuple(field.name for field in dataclasses.fields(FaultRule)))


def dump_rules(rules: list[FaultRule]) -> bytes:
    """Every fault rule, in order, as one value."""
    return _dumps([dataclasses.astuple(rule) for rule in rules])


def load_rules(data: bytes | str) -> list[FaultRule]:
    """The rules :func:`dump_rules` wrote."""
    return [FaultRule(*values) for values in _loads(data)]
