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
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 1296 two-character pieces
_PAIR_SPACE = len(_PAIRS)
_SPACE = _PAIR_SPACE ** (SUFFIX_LENGTH // 2)  # 36 ** 8
_UNIT = 2.0 ** -53
_BITS53 = (1 << 53) - 1


class Draws:
    """The draws of one seed (any int, including huge or negative ones)."""

    __slots__ = ("_key", "_pieces", "_scale", "_shift", "_streams", "seed")

    def __init__(self, seed: int) -> None:
        self.seed = seed
        key = self._key = hashlib.blake2b(str(seed).encode(), digest_size=32).digest()
        self._streams: dict[str, hashlib.blake2b] = {}  # stream -> a keyed hash, the stream name fed in
        rng = random.Random(key)
        scale = rng.randrange(_SPACE // 3, _SPACE)
        while scale % 2 == 0 or scale % 3 == 0:  # coprime with 36: multiplying is a bijection mod 36**8
            scale += 1
        self._scale, self._shift = scale, rng.randrange(_SPACE)
        self._pieces: list[list[str]] = [rng.sample(_PAIRS, _PAIR_SPACE) for _ in range(SUFFIX_LENGTH // 2)]

    def suffix(self, position: int) -> str:
        """The task-id suffix of ``position``: 8 of ``[a-z0-9]``, distinct for distinct positions.

        An affine bijection mod 36**8, then each base-1296 digit through its own seeded permutation.
        """
        n = (self._scale * position + self._shift) % _SPACE
        first, second, third, fourth = self._pieces
        n, a = divmod(n, _PAIR_SPACE)
        n, b = divmod(n, _PAIR_SPACE)
        d, c = divmod(n, _PAIR_SPACE)
        suffix: str = first[a] + second[b] + third[c] + fourth[d]
        return suffix

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
