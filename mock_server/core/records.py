"""Building records on the hot path.

The records (:class:`~.tasks.Task`, :class:`~.ledger.Account`, ...) are ``NamedTuple``s:
immutable, compact and cheap to read. Calling the class runs a Python-level ``__new__``
that checks its arguments; :func:`builder` gives a constructor that goes straight to the
tuple, for the few places that build a record on every request from all its fields, in order.
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
