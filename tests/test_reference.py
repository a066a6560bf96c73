"""The float64 reference: each stage alone, the hand check it started from, and a naive loop oracle."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings

from convfuzz.oracles.base import Oracle
from convfuzz.oracles.reference import (
    contraction_by_tap,
    contraction_of_windows,
    conv_reference,
    grouped_contraction,
    pad_spatial,
    widened,
    window_view,
)
from convfuzz.oracles.reference_oracle import reference_output
from convfuzz.oracles.registry import serves
from convfuzz.strategies.budget import SizeBudget
from convfuzz.strategies.case import FORWARD_OPS, ConvCase
from convfuzz.strategies.conv import conv_cases
from tests.helpers import naive_conv


def test_pad_spatial_pads_and_crops() -> None:
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    padded = pad_spatial(x, [(1, 0), (0, 2)])
    assert padded.shape == (1, 1, 4, 6)
    assert padded[0, 0, 0].sum() == 0 and padded[0, 0, 1, :4].tolist() == [0, 1, 2, 3]
    cropped = pad_spatial(x, [(-1, 0), (1, -2)])
    assert cropped[0, 0].tolist() == [[0, 4, 5], [0, 8, 9]]


def test_window_view_reads_strided_dilated_windows() -> None:
    x = np.arange(10.0).reshape(1, 1, 10)
    windows = window_view(x, kernel=(3,), stride=(3,), dilation=(2,))
    assert windows.shape == (1, 1, 2, 3)
    assert windows[0, 0].tolist() == [[0, 2, 4], [3, 5, 7]]


def test_grouped_contraction_keeps_groups_apart() -> None:
    windows = np.array([1.0, 10.0]).reshape(1, 2, 1, 1)  # N=1, C=2, one output, kernel 1
    w = np.array([2.0, 3.0]).reshape(2, 1, 1)  # groups=2: out 0 sees channel 0 only
    assert grouped_contraction(windows, w, groups=2).ravel().tolist() == [2.0, 30.0]


def test_ones_input_gives_weight_sum_plus_bias() -> None:
    """The hand check this project started from, for one and for many input channels."""
    rng = np.random.default_rng(1)
    for c_in in (1, 5):
        w = rng.normal(size=(3, c_in, 3, 2))
        b = rng.normal(size=3)
        out = conv_reference(np.ones((2, c_in, 6, 5)), w, b, (1, 1), [(0, 0), (0, 0)], (1, 1), 1)
        expected = w.sum(axis=(1, 2, 3)) + b
        np.testing.assert_allclose(out, np.broadcast_to(expected.reshape(1, 3, 1, 1), out.shape), rtol=1e-12)


@settings(max_examples=60)
@given(conv_cases(ops=FORWARD_OPS, budget=SizeBudget.from_elements(256), padding_modes=("zeros",)))
def test_reference_equals_naive_loops(case: ConvCase) -> None:
    # The loops zero-pad (a negative pad shifts the source index); the other padding modes are checked in
    # tests/test_padding_modes.py, the transposed reference in tests/test_transposed.py.
    got = reference_output(case.config, case.x, case.w, case.b)  # batch-grouped cases too
    np.testing.assert_allclose(got, naive_conv(case), rtol=1e-12, atol=1e-12)


@settings(max_examples=60)
@given(conv_cases(ops=FORWARD_OPS, budget=SizeBudget.from_elements(2048), padding_modes=("zeros",)))
def test_both_contractions_sum_the_same_products(case: ConvCase) -> None:
    """grouped_contraction picks one of two orders of summation by channel counts; each gives the same sums."""
    cfg = case.config
    assume(cfg.batch_groups == 1)
    windows = window_view(pad_spatial(widened(case.x), cfg.pad_pairs()), cfg.kernel, cfg.stride, cfg.dilation)
    w = widened(case.w)
    by_tap = contraction_by_tap(windows, w, cfg.groups)
    np.testing.assert_allclose(by_tap, contraction_of_windows(windows, w, cfg.groups), rtol=1e-12, atol=1e-12)
    assert by_tap.shape == (cfg.batch, cfg.out_channels, *cfg.output_spatial())


@settings(max_examples=40)
@given(conv_cases(dtypes=("float64",), budget=SizeBudget.from_elements(1024)))
def test_reference_agrees_with_torch_in_float64(torch_oracle: Oracle, case: ConvCase) -> None:
    assume(serves("torch", case.config))  # not the lax-only batch-grouped cases
    got = reference_output(case.config, case.x, case.w, case.b)  # forward and transposed ops
    np.testing.assert_allclose(got, torch_oracle.run(case), rtol=1e-9, atol=1e-9)
