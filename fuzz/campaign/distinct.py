"""Counting distinct configurations in bounded memory, the same in every process of a parallel campaign.

A campaign reports how many distinct configurations it ran (what XLA's per-shape compilation buys). Keeping
every key would grow with the campaign (a night at 15 configurations/s is half a million keys), so the counter
is exact up to EXACT_LIMIT keys and then turns into a HyperLogLog sketch: 2^14 one-byte registers, a relative
standard error of about 1.04 / sqrt(2^14) = 0.8%. Keys are hashed with BLAKE2b, not Python's hash(), whose
string salt differs between processes: the workers of one campaign must agree on what "the same" is.
"""

from __future__ import annotations

import hashlib
import math

EXACT_LIMIT = 100_000
REGISTER_BITS = 14
REGISTERS = 1 << REGISTER_BITS
# The bias correction constant of HyperLogLog for m >= 128 registers.
ALPHA = 0.7213 / (1 + 1.079 / REGISTERS)


def stable_hash(key: str) -> int:
    """A 64-bit hash of `key` that is the same in every process and on every machine."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


class DistinctCounter:
    """How many distinct keys were added: exact up to EXACT_LIMIT, then estimated (see the module docstring)."""

    def __init__(self) -> None:
        self._exact: set[int] | None = set()
        self._registers = bytearray(REGISTERS)

    @property
    def is_exact(self) -> bool:
        """True while the count is exact."""
        return self._exact is not None

    def add(self, key: str) -> None:
        """Count `key` (a string that identifies the thing counted, e.g. a configuration's repr)."""
        self._add_hash(stable_hash(key))

    def merge(self, other: DistinctCounter) -> None:
        """Add every key `other` has seen (the union of the two)."""
        if self._exact is not None and other._exact is not None:
            for value in other._exact:
                self._add_hash(value)
            return
        self._to_sketch()
        for value in other._exact or ():
            self._add_hash(value)
        for index, rank in enumerate(other._registers):
            self._registers[index] = max(self._registers[index], rank)

    def __len__(self) -> int:
        if self._exact is not None:
            return len(self._exact)
        inverse_sum = sum(2.0**-rank for rank in self._registers)
        estimate = ALPHA * REGISTERS * REGISTERS / inverse_sum
        empty = self._registers.count(0)
        if estimate <= 2.5 * REGISTERS and empty:
            # Few keys for this many registers: linear counting of the empty ones is the better estimate.
            return round(REGISTERS * math.log(REGISTERS / empty))
        return round(estimate)

    def _add_hash(self, value: int) -> None:
        if self._exact is not None:
            self._exact.add(value)
            if len(self._exact) > EXACT_LIMIT:
                self._to_sketch()
            return
        index = value >> (64 - REGISTER_BITS)
        rest = value & ((1 << (64 - REGISTER_BITS)) - 1)
        # The rank: position of the first 1 bit among the remaining 50 bits (51 when all are 0).
        rank = (64 - REGISTER_BITS) - rest.bit_length() + 1
        self._registers[index] = max(self._registers[index], rank)

    def _to_sketch(self) -> None:
        exact, self._exact = self._exact, None
        for value in exact or ():
            self._add_hash(value)

