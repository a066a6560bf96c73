"""Value families and rounding to the fuzzed dtypes."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from convfuzz.strategies.dtypes import round_to_bfloat16, round_to_dtype
from convfuzz.strategies.values import FAMILY_NAMES, ValueFamily


def test_bfloat16_rounding_matches_ml_dtypes() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(size=2000) * 10.0 ** rng.integers(-5, 5, 2000), [1 + 2**-8, 1 + 3 * 2**-8]])
    expected = values.astype(np.float32).astype(ml_dtypes.bfloat16).astype(np.float64)
    np.testing.assert_array_equal(round_to_bfloat16(values), expected)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_rounded_values_are_representable_and_never_subnormal(dtype: str) -> None:
    values = np.array([1e-30, -1e-6, 3.14159, 1e-5, 0.1])
    rounded = round_to_dtype(values, dtype)
    target = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
    np.testing.assert_array_equal(rounded.astype(target).astype(np.float64), rounded)
    tiny = float(np.finfo(np.float32 if dtype == "bfloat16" else dtype).tiny)
    assert np.all((rounded == 0) | (np.abs(rounded) >= tiny))


def test_families_make_what_they_say() -> None:
    shape = (2, 3, 4)
    assert not ValueFamily("zeros").make(shape, "float32").any()
    assert (ValueFamily("ones").make(shape, "float32") == 1).all()
    hot = ValueFamily("one_hot", index=5).make(shape, "float32")
    assert hot.sum() == 1 and hot.ravel()[5] == 1
    ints = ValueFamily("small_int", seed=3).make(shape, "float16")
    assert np.array_equal(ints, np.round(ints)) and np.abs(ints).max() <= 3
    scaled = ValueFamily("uniform", seed=1, scale=1e-3).make((1000,), "float64")
    assert np.abs(scaled).max() <= 1e-3 and np.abs(scaled).max() > 5e-4
    assert ValueFamily("normal", seed=2).make(shape, "float64").shape == shape
    assert set(FAMILY_NAMES) == {"zeros", "ones", "one_hot", "small_int", "uniform", "normal"}


def test_family_is_deterministic_from_its_seed() -> None:
    a = ValueFamily("normal", seed=9, scale=1.0).make((50,), "float32")
    b = ValueFamily("normal", seed=9, scale=1.0).make((50,), "float32")
    c = ValueFamily("normal", seed=10, scale=1.0).make((50,), "float32")
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("family", [
    ValueFamily("zeros"), ValueFamily("ones"), ValueFamily("one_hot", index=5), ValueFamily("small_int", seed=7),
    ValueFamily("normal", seed=3, scale=0.001), ValueFamily("uniform", seed=1, scale=1000.0),
    ValueFamily("nonfinite", seed=2, index=3, special="-inf"),
], ids=lambda f: f.describe())
def test_a_family_is_read_back_from_its_description(family: ValueFamily) -> None:
    assert ValueFamily.parse(family.describe()) == family


@pytest.mark.parametrize("text", ["gaussian(seed=1)", "normal(seed=x, scale=1)", "ones(", ""])
def test_a_description_that_is_no_family_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a value family"):
        ValueFamily.parse(text)
