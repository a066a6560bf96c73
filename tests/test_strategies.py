"""Strategies: every drawn case is valid, within budget, and the feature space is reachable."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import find, given
from hypothesis import strategies as st

from convfuzz.strategies.budget import BUDGET_ENV, SizeBudget
from convfuzz.strategies.case import ConvCase
from convfuzz.strategies.conv import conv_cases
from convfuzz.strategies.dtypes import round_to_dtype

SMALL = SizeBudget.from_elements(512)


@given(conv_cases(budget=SMALL, sizes=("small",)))
def test_small_cases_are_valid_and_within_budget(case: ConvCase) -> None:
    cfg = case.config
    cfg.validate()
    shapes = [cfg.input_shape(), cfg.weight_shape(), cfg.output_shape()]
    assert all(math.prod(s) <= SMALL.max_elements for s in shapes)
    assert cfg.multiply_adds() <= SMALL.max_multiply_adds
    assert case.x.shape == cfg.input_shape() and case.w.shape == cfg.weight_shape()
    assert (case.b is None) == (not cfg.bias)
    for tensor in case.tensors().values():
        np.testing.assert_array_equal(round_to_dtype(tensor, cfg.dtype), tensor)


def _reachable(predicate: object) -> ConvCase:
    return find(conv_cases(), predicate)  # type: ignore[arg-type]


def test_depthwise_with_multiplier_is_reachable() -> None:
    case = _reachable(
        lambda c: c.config.groups == c.config.in_channels > 1 and c.config.out_channels > c.config.in_channels
    )
    assert case.config.out_channels % case.config.in_channels == 0


def test_wide_channels_are_reachable() -> None:
    case = _reachable(lambda c: c.config.out_channels >= 16 and c.config.in_channels > 8)
    assert case.config.out_channels >= 16


def test_one_group_of_many_channels_is_reachable_within_the_budget() -> None:
    """Small cases too go beyond 8 x 8: a single group with more than 64 input or output channels, still inside
    the base budget."""
    case = find(
        conv_cases(sizes=("small",)),
        lambda c: c.config.groups == 1 and max(c.config.in_channels, c.config.out_channels) > 64,
    )
    cfg = case.config
    budget = SizeBudget()
    assert all(math.prod(s) <= budget.max_elements for s in (cfg.input_shape(), cfg.weight_shape()))
    assert cfg.multiply_adds() <= budget.max_multiply_adds


def test_kernel_as_large_as_padded_input_is_reachable() -> None:
    def spans(c: ConvCase) -> bool:
        cfg = c.config
        return cfg.rank == 2 and all(
            n + lo + hi == d * (k - 1) + 1 and k > 1
            for n, k, d, (lo, hi) in zip(cfg.spatial, cfg.kernel, cfg.dilation, cfg.pad_pairs(), strict=True)
        )

    case = _reachable(spans)
    assert case.config.output_spatial() == (1, 1)


def test_stride_larger_than_kernel_and_asymmetric_padding_are_reachable() -> None:
    case = _reachable(
        lambda c: any(s > k for s, k in zip(c.config.stride, c.config.kernel, strict=True))
        and c.config.padding.kind == "explicit"
        and any(lo != hi for lo, hi in c.config.padding.pairs)
    )
    assert case.config.padding.kind == "explicit"


@given(st.data())
def test_filters_restrict_what_is_drawn(data: st.DataObject) -> None:
    case = data.draw(conv_cases(ops=("conv3d",), dtypes=("bfloat16",), devices=("cpu",)))
    assert case.config.op == "conv3d" and case.config.dtype == "bfloat16" and case.config.rank == 3


def test_bad_filters_are_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="conv5d"):
        find(conv_cases(ops=("conv5d",)), lambda c: True)


def test_budget_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUDGET_ENV, "1000")
    assert SizeBudget.from_environment() == SizeBudget.from_elements(1000)
    monkeypatch.setenv(BUDGET_ENV, "lots")
    with pytest.raises(ValueError, match="'lots'"):
        SizeBudget.from_environment()
    monkeypatch.setenv(BUDGET_ENV, "0")
    with pytest.raises(ValueError, match="positive"):
        SizeBudget.from_environment()
