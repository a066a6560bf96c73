"""The error bound is sound (a simulated low-precision summation never exceeds it) and tight enough."""

from __future__ import annotations

import numpy as np
import pytest

from convfuzz.fuzz.judge.bounds import PASS, PRECISION, compare, error_bound, gamma, is_exact_tier
from convfuzz.strategies.dtypes import round_to_dtype


def simulated_dot(x: np.ndarray, w: np.ndarray, accumulate: type, order: np.ndarray) -> float:
    """Sum x*w term by term in the given order, rounding every product and partial sum to `accumulate`."""
    total = accumulate(0)
    for i in order:
        total = accumulate(total + accumulate(accumulate(x[i]) * accumulate(w[i])))
    return float(total)


def test_gamma() -> None:
    assert gamma(10, 2.0**-24) == pytest.approx(10 * 2.0**-24, rel=1e-6)
    assert gamma(2**24, 2.0**-24) == float("inf")


@pytest.mark.parametrize(("dtype", "accumulate", "level"), [
    ("float32", np.float32, PASS),
    ("float16", np.float32, PASS),
    ("float16", np.float16, PRECISION),
    ("bfloat16", np.float32, PASS),
])
def test_bound_covers_any_summation_order(dtype: str, accumulate: type, level: str) -> None:
    rng = np.random.default_rng(5)
    worst = 0.0
    for trial in range(200):
        k = int(rng.integers(1, 300))
        x = round_to_dtype(rng.normal(size=k), dtype)
        w = round_to_dtype(rng.normal(size=k) * 0.5, dtype)
        exact = float(np.dot(x, w))
        got = float(round_to_dtype(np.array([simulated_dot(x, w, accumulate, rng.permutation(k))]), dtype)[0])
        bound = error_bound(np.array([np.dot(np.abs(x), np.abs(w))]), np.array([exact]), np.zeros(1), k, dtype, level)
        worst = max(worst, abs(got - exact) / bound[0])
        assert abs(got - exact) <= bound[0], f"trial {trial}: K={k} err {abs(got - exact)} > bound {bound[0]}"
    assert worst > 1e-3  # the bound is not absurdly loose for this data


def test_half_accumulation_exceeds_the_pass_bound() -> None:
    """Accumulating float16 in float16 is caught as beyond PASS (it is what the precision level exists for)."""
    rng = np.random.default_rng(2)
    x = round_to_dtype(rng.uniform(0.5, 1.0, 2000), "float16")
    w = round_to_dtype(rng.uniform(0.5, 1.0, 2000), "float16")
    exact = float(np.dot(x, w))
    got = simulated_dot(x, w, np.float16, np.arange(2000))
    args = (np.array([np.dot(x, w)]), np.array([exact]), np.zeros(1), 2000, "float16")
    assert abs(got - exact) > error_bound(*args, PASS)[0]
    assert abs(got - exact) <= error_bound(*args, PRECISION)[0]


def test_exact_tier_needs_integers_within_the_mantissa() -> None:
    ints = [np.array([1.0, -2.0, 3.0])]
    assert is_exact_tier(ints, np.array([2048.0]), "float16")
    assert not is_exact_tier(ints, np.array([2049.0]), "float16")
    assert not is_exact_tier([np.array([0.5])], np.array([1.0]), "float32")


def test_compare_treats_nan_inf_and_shape_as_errors() -> None:
    expected = np.array([1.0, 2.0])
    bound = np.array([0.1, 0.1])
    assert compare(np.array([1.05, 2.0]), expected, bound).within
    nan = compare(np.array([1.0, np.nan]), expected, bound)
    assert nan.ratio == float("inf") and nan.worst_index == (1,)
    assert not compare(np.array([np.inf, 2.0]), expected, bound).within
    assert not compare(np.array([1.0]), expected, bound).within
    off = compare(np.array([1.0, 2.5]), expected, bound)
    assert off.worst_index == (1,) and off.ratio == pytest.approx(5.0)


def test_bound_is_never_nan_when_gamma_is_infinite() -> None:
    """bfloat16 accumulated in bfloat16 over K >= 256 terms has no finite gamma; zero A still bounds to ~0."""
    abs_sum = np.array([0.0, 1.0])
    bound = error_bound(abs_sum, np.zeros(2), np.zeros(2), 300, "bfloat16", PRECISION)
    assert not np.isnan(bound).any()
    assert bound[0] < 1e-30 and bound[1] == np.inf
