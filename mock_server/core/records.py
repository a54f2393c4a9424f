"""Building records on the hot path.

The records (:class:`~.tasks.Task`, :class:`~.ledger.Account`, ...) are ``NamedTuple``s:
immutable, compact and cheap to read. Calling the class runs a Python-level ``__new__``
that checks its arguments; :func:`builder` gives a constructor that goes straight to the
tuple, for the few places that build a record on every request from all its fields, in order;
:func:`setter` changes one field the same way (``_replace`` is a Python loop over every field).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

R = TypeVar("R", bound=tuple[Any, ...])


def builder(record: type[R]) -> Callable[[tuple[Any, ...]], R]:
    """``builder(Task)((id, key, ...))`` is ``Task(id, key, ...)`` without the argument checks:
    the tuple must hold every field, in the record's order."""
    return cast(Callable[[tuple[Any, ...]], R], functools.partial(tuple.__new__, record))


def setter(record: type[R], field: str) -> Callable[[R, Any], R]:
    """``setter(Task, "settled")(task, value)`` is ``task._replace(settled=value)``, straight to the tuple."""
    at = cast(Any, record)._fields.index(field)
    new = tuple.__new__

    def set_field(instance: R, value: Any) -> R:
        fields = list(instance)  # one copy to change, one to the record: fewer than slicing around the field
        fields[at] = value
        changed: R = new(record, fields)
        return changed
    return set_field
