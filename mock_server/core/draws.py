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
_ALPHABET = (string.ascii_lowercase + string.digits).encode()
_SPACE = len(_ALPHABET) ** SUFFIX_LENGTH
_UNIT = 2.0 ** -53


class Draws:
    """The draws of one seed (any int, including huge or negative ones)."""

    __slots__ = ("_digits", "_key", "_scale", "_shift", "seed")

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._key = hashlib.blake2b(str(seed).encode(), digest_size=32).digest()
        rng = random.Random(self._key)
        scale = rng.randrange(_SPACE // 3, _SPACE)
        while scale % 2 == 0 or scale % 3 == 0:  # coprime with 36: multiplying is a bijection mod 36**8
            scale += 1
        self._scale, self._shift = scale, rng.randrange(_SPACE)
        self._digits = [bytes(rng.sample(_ALPHABET, len(_ALPHABET))) for _ in range(SUFFIX_LENGTH)]

    def suffix(self, position: int) -> str:
        """The task-id suffix of ``position``: 8 of ``[a-z0-9]``, distinct for distinct positions."""
        n = (self._scale * position + self._shift) % _SPACE
        out = bytearray(SUFFIX_LENGTH)
        for i, digits in enumerate(self._digits):
            n, digit = divmod(n, 36)
            out[i] = digits[digit]
        return out.decode()

    def uniforms(self, stream: str, position: int) -> tuple[float, float]:
        """Two independent uniforms in ``[0, 1)`` for ``position`` of ``stream``."""
        digest = hashlib.blake2b(f"{stream}:{position}".encode(), key=self._key, digest_size=16).digest()
        return ((int.from_bytes(digest[:8], "little") >> 11) * _UNIT,
                (int.from_bytes(digest[8:], "little") >> 11) * _UNIT)


def fresh_seed() -> int:
    """A seed for an emulator started without one."""
    return random.SystemRandom().randrange(2**63)
