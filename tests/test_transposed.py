"""Transposed convolution: the reference against its definition and the adjoint identity, the frameworks and
the VJP variants against the reference, configuration rules, and standalone repros of transposed cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.oracles.base import Oracle
from convfuzz.oracles.reference import conv_reference, conv_transpose_reference
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.oracles.registry import serves_op
from convfuzz.strategies.budget import SizeBudget
from convfuzz.strategies.case import TRANSPOSED_OPS, ConvCase, ConvConfig, Padding
from convfuzz.strategies.conv import conv_cases
from tests.conftest import oracle_or_skip
from tests.helpers import user_form_comparisons
from tests.known_bugs import unexplained


def test_reference_scatters_each_input_element_over_the_kernel() -> None:
    # x = [1, 2], w = [1, 10, 100], stride 2: element j lands at 2j + k. Positions 0..4 receive
    # 1*1, 1*10, 1*100 + 2*1, 2*10, 2*100.
    x = np.array([[[1.0, 2.0]]])
    w = np.array([[[1.0, 10.0, 100.0]]])
    out = conv_transpose_reference(x, w, None, (2,), [(0, 0)], (0,), (1,), 1)
    assert out.tolist() == [[[1.0, 10.0, 102.0, 20.0, 200.0]]]
    # padding 1 cuts one element off each end (then the bias is added)...
    cut = conv_transpose_reference(x, w, np.array([0.5]), (2,), [(1, 1)], (0,), (1,), 1)
    assert cut.tolist() == [[[10.5, 102.5, 20.5]]]
    # ...and output_padding 1 first appends one element at the high end, so the cut there keeps the 200.
    extended = conv_transpose_reference(x, w, np.array([0.5]), (2,), [(1, 1)], (1,), (1,), 1)
    assert extended.tolist() == [[[10.5, 102.5, 20.5, 200.5]]]
    # dilation 2 spaces the taps: 1*1 at 0, 1*10 at 2, 1*100 at 4, 2*1 at 1, 2*10 at 3, 2*100 at 5.
    dilated = conv_transpose_reference(x, w, None, (1,), [(0, 0)], (0,), (2,), 1)
    assert dilated.tolist() == [[[1.0, 2.0, 10.0, 20.0, 100.0, 200.0]]]


@settings(max_examples=60)
@given(
    cases=conv_cases(ops=TRANSPOSED_OPS, dtypes=("float64",), budget=SizeBudget.from_elements(2000)),
    seed=st.integers(0, 99),
)
def test_reference_is_the_adjoint_of_the_forward_reference(cases: ConvCase, seed: int) -> None:
    """<conv(z, w), x> = <z, conv_transpose(x, w)> for every z, written with our two independent references
    (the forward one as windows, the transposed one as a scatter), cut to the sizes where the two match."""
    cfg = cases.config
    rng = np.random.default_rng(seed)
    z = rng.normal(size=cfg.output_shape())
    x = rng.normal(size=cfg.input_shape())
    transposed = conv_transpose_reference(x, cases.w, None, cfg.stride, cfg.pad_pairs(), cfg.output_padding,
                                          cfg.dilation, cfg.groups)
    forward = conv_reference(z, cases.w, None, cfg.stride, cfg.pad_pairs(), cfg.dilation, cfg.groups)
    forward = forward[tuple([slice(None), slice(None), *(slice(0, n) for n in cfg.spatial)])]
    assert forward.shape == x.shape
    left, right = float(np.sum(forward * x)), float(np.sum(z * transposed))
    assert abs(left - right) <= 1e-9 * (1 + abs(left))


def transposed_config(**changes: object) -> ConvConfig:
    base = {"op": "conv_transpose2d", "batch": 1, "in_channels": 2, "out_channels": 4, "groups": 2,
            "spatial": (3, 3), "kernel": (2, 3), "stride": (2, 1), "dilation": (1, 2),
            "padding": Padding("symmetric", ((1, 1), (0, 0))), "bias": True, "dtype": "float32",
            "output_padding": (1, 1)}
    return ConvConfig(**{**base, **changes})  # type: ignore[arg-type]


def test_transposed_shapes_and_rules() -> None:
    cfg = transposed_config()
    cfg.validate()
    assert cfg.weight_shape() == (2, 2, 2, 3)  # (C_in, C_out/groups, *kernel)
    # (3-1)*2 + 1*(2-1) + 1 + 1 - 2 = 5 and (3-1)*1 + 2*(3-1) + 1 + 1 - 0 = 8
    assert cfg.output_shape() == (1, 4, 5, 8)
    assert ConvConfig.from_json(cfg.to_json()) == cfg
    bad = (
        ("output_padding", (2, 1), "output_padding 2"),  # not below stride 2 or dilation 1
        ("padding_mode", "reflect", "zeros only, not 'reflect'"),
        ("padding", Padding("explicit", ((1, 0), (0, 0))), "symmetric non-negative padding"),
    )
    for name, value, message in bad:
        with pytest.raises(ValueError, match=message):
            transposed_config(**{name: value}).validate()
    forward = ConvConfig("conv1d", 1, 1, 1, 1, (3,), (1,), (1,), (1,), Padding("explicit", ((-3, 0),)), False,
                         "float32")
    with pytest.raises(ValueError, match="crops away"):
        forward.validate()
    with pytest.raises(ValueError, match="output_padding"):
        ConvConfig("conv1d", 1, 1, 1, 1, (3,), (1,), (1,), (1,), Padding("valid"), False, "float32",
                   output_padding=(0,)).validate()


def test_adjoint_variants_serve_transposed_ops_only() -> None:
    assert serves_op("torch-vjp", "conv_transpose2d") and not serves_op("torch-vjp", "conv2d")
    assert serves_op("jax-vjp@cpu", "conv_transpose1d") and not serves_op("jax-vjp@cpu", "conv1d")
    assert serves_op("torch", "conv2d") and serves_op("tests.planted:DroppedBias", "conv_transpose3d")


@pytest.mark.campaign
def test_transposed_campaign_on_real_frameworks_has_no_false_alarm() -> None:
    """torch, JAX (lhs-dilated port), both VJP identities and the reference agree on transposed convolutions,
    apart from the committed real bugs (torch's half-precision tap sums, XLA's negative low padding)."""
    names = ("torch", "jax", "torch-vjp", "jax-vjp")
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), **{n: oracle_or_skip(n) for n in names}}
    # float16 left out of this one: torch's known half-precision findings would be shrunk again and again.
    settings_ = CampaignSettings(seed=9, max_examples=90, ops=TRANSPOSED_OPS, dtypes=("float32", "float64", "bfloat16"))
    stats = Campaign(oracles, settings_).run()
    assert stats.examples >= 90 and not unexplained(stats.findings), unexplained(stats.findings)
    assert set(stats.oracle_seconds) == {"reference", *names}
    assert stats.features["op:conv_transpose3d"] > 0
    jax_only = {n: oracles[n] for n in ("reference", "jax", "jax-vjp")}
    stats = Campaign(jax_only, CampaignSettings(seed=8, max_examples=40, ops=TRANSPOSED_OPS, dtypes=("float16",))).run()
    assert stats.examples >= 40 and not unexplained(stats.findings), unexplained(stats.findings)


@settings(max_examples=8, deadline=None)
@given(conv_cases(ops=TRANSPOSED_OPS, dtypes=("float32", "float64"), budget=SizeBudget.from_elements(256)))
def test_user_form_of_every_transposed_call_computes_the_case(case: ConvCase) -> None:
    """The transposed calls as a user writes them (torch, the lhs-dilated JAX port, both VJPs), which a finding's
    script runs, compute the case within the judge's bound on correct frameworks."""
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    compared = user_form_comparisons(case, ("torch", "jax", "torch-vjp", "jax-vjp"))
    assert set(compared) == {"torch", "jax", "torch-vjp", "jax-vjp"}
    assert all(c.within for c in compared.values()), (case.config, compared)
