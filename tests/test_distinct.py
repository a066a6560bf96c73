"""The distinct-configuration counter: exact while small, a bounded sketch after, the same in every process."""

from __future__ import annotations

import subprocess
import sys

import pytest

from convfuzz.fuzz.campaign import distinct
from convfuzz.fuzz.campaign.distinct import DistinctCounter, stable_hash


def test_exact_while_small_and_merge_is_a_union() -> None:
    a, b = DistinctCounter(), DistinctCounter()
    for i in range(50):
        a.add(f"config {i}")
        a.add(f"config {i}")  # repeats count once
    for i in range(25, 80):
        b.add(f"config {i}")
    a.merge(b)
    assert a.is_exact and len(a) == 80


@pytest.mark.parametrize("count", [3_000, 40_000])
def test_sketch_estimates_within_a_few_percent(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setattr(distinct, "EXACT_LIMIT", 1_000)
    half = DistinctCounter()
    other = DistinctCounter()
    for i in range(count):
        (half if i % 2 else other).add(f"key {i}")
        half.add(f"key {i // 2}")  # duplicates of keys already counted
    half.merge(other)
    assert not half.is_exact
    assert abs(len(half) - count) / count < 0.04, len(half)
    small = DistinctCounter()
    small.add("one more")
    small.merge(half)  # an exact counter absorbing a sketch becomes one
    assert not small.is_exact and abs(len(small) - count - 1) / count < 0.04


def test_hash_is_the_same_in_another_process() -> None:
    """Python's own str hash is salted per process; the workers of one campaign must agree."""
    code = "from convfuzz.fuzz.campaign.distinct import stable_hash; print(stable_hash('conv2d float32'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(other.stdout) == stable_hash("conv2d float32")
