"""The reference as an oracle: our own float64 NumPy convolution, a voter like any framework."""

from __future__ import annotations

import numpy as np

from convfuzz.oracles.base import FloatArray
from convfuzz.oracles.reference import batch_grouped_reference, conv_reference, conv_transpose_reference
from convfuzz.oracles.reference_gradients import (
    bias_gradient,
    conv_input_gradient,
    conv_transpose_input_gradient,
    conv_transpose_weight_gradient,
    conv_weight_gradient,
)
from convfuzz.strategies.case import ConvCase, ConvConfig


def reference_output(cfg: ConvConfig, x: FloatArray, w: FloatArray, b: FloatArray | None) -> FloatArray:
    """The float64 reference of `cfg`'s op (forward or transposed) on the given tensors."""
    if cfg.transposed:
        return conv_transpose_reference(
            x, w, b, cfg.stride, cfg.pad_pairs(), cfg.output_padding, cfg.dilation, cfg.groups
        )
    if cfg.batch_groups > 1:
        return batch_grouped_reference(
            x, w, b, cfg.stride, cfg.pad_pairs(), cfg.dilation, cfg.batch_groups
        )
    return conv_reference(x, w, b, cfg.stride, cfg.pad_pairs(), cfg.dilation, cfg.groups, cfg.padding_mode)


def reference_result(
    cfg: ConvConfig, x: FloatArray, w: FloatArray, b: FloatArray | None, g: FloatArray | None = None
) -> FloatArray:
    """What `cfg` computes, in float64: the op's output, or (a gradient case) its gradient against cotangent g."""
    if not cfg.gradient:
        return reference_output(cfg, x, w, b)
    if g is None:
        raise ValueError(f"{cfg.op_name} needs the output cotangent g")
    if cfg.gradient == "bias":
        return bias_gradient(g)
    pads = cfg.pad_pairs()
    if cfg.transposed:
        if cfg.gradient == "input":
            return conv_transpose_input_gradient(g, w, x.shape, cfg.stride, pads, cfg.dilation, cfg.groups)
        return conv_transpose_weight_gradient(x, g, cfg.kernel, cfg.stride, pads, cfg.dilation, cfg.groups)
    if cfg.gradient == "input":
        return conv_input_gradient(g, w, x.shape, cfg.stride, pads, cfg.dilation, cfg.groups, cfg.padding_mode)
    return conv_weight_gradient(x, g, cfg.kernel, cfg.stride, pads, cfg.dilation, cfg.groups, cfg.padding_mode)


class ReferenceOracle:
    """Float64 NumPy convolution from the definition (see oracles/reference.py)."""

    name = "reference"

    def devices(self) -> tuple[str, ...]:
        """The reference runs on the host; it answers for every device a case names."""
        return ("cpu", "cuda")

    def run(self, case: ConvCase) -> FloatArray:
        """Compute `case` in float64 with explicit (low, high) padding in the case's padding mode."""
        with np.errstate(invalid="ignore"):  # IEEE inf/nan propagation is the point of a --nonfinite case
            return reference_result(case.config, case.x, case.w, case.b, case.g)
