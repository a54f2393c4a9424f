"""Deterministic randomness: every draw is a pure function of the seed and a position.

Emulators that share a store share its seed and its counters, so they draw
alike and never draw twice: a task's id and timings come from the seed and
the task's position (a store counter), a probabilistic fault from the seed,
the rule and how often the rule was drawn. The same seed and the same
requests give the same ids and timelines, in one process or in several.

Task ids are ``task-unified-<10-digit epoch>-<8 of [a-z0-9]>``; the suffix is a
seeded bijection of the position, so two positions never share a suffix.
"""
from __future__ import annotations

import hashlib
import random
import string

SUFFIX_LENGTH = 8
_ALPHABET = string.ascii_lowercase + string.digits
_PAIRS = [low + high for high in _ALPHABET for low in _ALPHABET]  # all 1296 two-character pieces
_PAIR_SPACE = len(_PAIRS)
_SPACE = _PAIR_SPACE ** (SUFFIX_LENGTH // 2)  # 36 ** 8, just under 2 ** 42
_MASK42 = (1 << 42) - 1
_LOW21, _UNIT21 = (1 << 21) - 1, 2.0 ** -21
_HIGH_UNIT = 1.0 / (((_SPACE - 1) >> 21) + 1)  # the high bits of a suffix number, scaled into [0, 1)
_UNIT = 2.0 ** -53
_BITS53 = (1 << 53) - 1


def _scramble(x: int, key: int) -> int:
    """A keyed bijection of 42-bit integers (xorshift-multiply rounds, each invertible mod 2**42)."""
    x ^= key
    x = (x * 0x2545F4914F6CDD1D) & _MASK42
    x ^= x >> 21
    x = (x * 0x1B873593ED6A5BD5) & _MASK42
    return x ^ (x >> 19)


class Draws:
    """The draws of one seed (any int, including huge or negative ones)."""

    __slots__ = ("_id_key", "_key", "_streams", "seed")

    def __init__(self, seed: int) -> None:
        self.seed = seed
        key = self._key = hashlib.blake2b(str(seed).encode(), digest_size=32).digest()
        self._streams: dict[str, hashlib.blake2b] = {}  # stream -> a keyed hash, the stream name fed in
        self._id_key = int.from_bytes(key[:6], "little") & _MASK42

    def task(self, position: int) -> tuple[str, float, float]:
        """A task's draws: its id suffix (8 of ``[a-z0-9]``) and two uniforms in ``[0, 1)``.

        The suffix is a keyed bijection of 42-bit integers, cycle-walked into the 36**8 suffixes (1.6
        rounds on average), so distinct positions never share a suffix and neighbours look unrelated;
        the uniforms are its low and high bits. Cheap: this is every create.
        """
        key = self._id_key
        n = _scramble(position % _SPACE, key)
        while n >= _SPACE:
            n = _scramble(n, key)
        first_uniform = (n & _LOW21) * _UNIT21  # the low and the high bits of a scrambled number
        second_uniform = (n >> 21) * _HIGH_UNIT
        n, first = divmod(n, _PAIR_SPACE)
        n, second = divmod(n, _PAIR_SPACE)
        fourth, third = divmod(n, _PAIR_SPACE)
        pairs = _PAIRS
        return pairs[first] + pairs[second] + pairs[third] + pairs[fourth], first_uniform, second_uniform

    def uniforms(self, stream: str, position: int) -> tuple[float, float]:
        """Two independent uniforms in ``[0, 1)`` for ``position`` of ``stream`` (keyed BLAKE2b of both)."""
        started = self._streams.get(stream)
        if started is None:
            started = self._streams[stream] = hashlib.blake2b(f"{stream}\0".encode(), key=self._key, digest_size=16)
        digest = started.copy()
        digest.update(position.to_bytes(8, "little", signed=True))
        bits = int.from_bytes(digest.digest(), "little")
        return (bits & _BITS53) * _UNIT, ((bits >> 64) & _BITS53) * _UNIT


def fresh_seed() -> int:
    """A seed for an emulator started without one."""
    return random.SystemRandom().randrange(2**63)
