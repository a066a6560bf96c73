"""What XLA lowered a convolution to: read from optimized HLO text, and reported by the JAX oracle per check."""

from __future__ import annotations

import dataclasses

import pytest

from convfuzz.oracles.xla_lowering import lowered_path, lowerings
from convfuzz.strategies.case import ConvConfig, Padding
from tests.helpers import family_case

HLO = """\
HloModule jit_f, entry_computation_layout={(f32[1,3,8,8]{3,2,1,0})->f32[1,4,8,8]{3,2,1,0}}

%fused_computation (param_0: f32[4]) -> f32[1,8,8,4] {
  ROOT %broadcast.1 = f32[1,8,8,4]{3,2,1,0} broadcast(%param_0), dimensions={3}
}

ENTRY %main.1 (x: f32[1,3,8,8], w: f32[4,3,3,3]) -> f32[1,4,8,8] {
  %convolution.2 = f32[1,8,8,4]{3,2,1,0} convolution(%a, %b), window={size=3x3 pad=1_1x1_1}, feature_group_count=3
  %convolution-base-dilated.7 = f64[1,17,17,4]{3,2,1,0} convolution(%a, %b), window={size=3x3 lhs_dilate=2x2}
  %dot = f32[64,4]{1,0} dot(%bitcast, %bitcast.1), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  %dot.3 = f32[64,4]{1,0} dot(%bitcast, %bitcast.1), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  %cc = f32[1,8,8,4]{3,2,1,0} custom-call(%a, %b), custom_call_target="__onednn$convolution"
  ROOT %renamed_conv = f32[2,8,8,4]{3,2,1,0} convolution(%a, %b), window={size=3x3}, batch_group_count=2
}
"""


def test_each_lowering_is_named_by_its_opcode_or_pass_type_and_grouping() -> None:
    assert lowerings(HLO) == [
        "convolution f32 grouped",
        "convolution-base-dilated f64",  # the pass that rewrote it named the instruction; '.7' is dropped
        "dot f32",  # the second dot, '.3', is the same lowering
        "custom-call __onednn$convolution f32",
        "convolution f32 batch-grouped",  # a name a pass did not give says nothing beyond the opcode
    ]
    assert lowered_path("cpu", HLO).startswith("XLA:cpu/convolution f32 grouped+convolution-base-dilated f64+")
    assert lowered_path("cpu", "ENTRY %main { ROOT %b = f32[0,4]{1,0} broadcast(%p) }") == "XLA:cpu/none"


CONV = ConvConfig(
    op="conv2d", batch=1, in_channels=3, out_channels=4, groups=1, spatial=(6, 6), kernel=(3, 3), stride=(1, 1),
    dilation=(1, 1), padding=Padding("symmetric", ((1, 1), (1, 1))), bias=True, dtype="float32",
)


def test_the_jax_oracle_reports_what_each_case_was_lowered_to() -> None:
    """A 3x3 conv stays a convolution in its own type; a 1x1 ungrouped one is rewritten to a dot by XLA's algebraic
    simplifier on every platform; the eager variant compiles op by op and reports nothing."""
    pytest.importorskip("jax")
    from convfuzz.oracles.jax_oracle import JaxOracle

    jitted = JaxOracle("jax")
    jitted.run(family_case(CONV))
    assert jitted.last_path is not None and jitted.last_path.startswith("XLA:cpu/convolution")
    jitted.run(family_case(dataclasses.replace(CONV, dtype="float64")))
    assert "f64" in (jitted.last_path or "")
    pointwise = dataclasses.replace(CONV, kernel=(1, 1), padding=Padding("symmetric", ((0, 0), (0, 0))))
    jitted.run(family_case(pointwise))
    assert (jitted.last_path or "").startswith("XLA:cpu/dot f32")
    eager = JaxOracle("jax-eager")
    eager.run(family_case(CONV))
    assert eager.last_path is None
