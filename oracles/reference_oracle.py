"""The reference as an oracle: our own float64 NumPy convolution, a voter like any framework."""

from __future__ import annotations

import math
from dataclasses import replace

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
from convfuzz.strategies.case import HOSTILE_PARAMETERS, ConvCase, ConvConfig, Padding


def within_reach(cfg: ConvConfig) -> ConvConfig:
    """`cfg` with each forward stride beyond its padded input cut to that input's length, and the dilation of a
    one-tap kernel dim cut to 1: the same output (one window along such a dim, or one tap), in integers numpy can
    index with (a stride of 2^63-1 cannot be a slice step)."""
    if cfg.transposed:
        return cfg
    padded = [n + lo + hi for n, (lo, hi) in zip(cfg.spatial, cfg.pad_pairs(), strict=True)]
    stride = tuple(max(1, min(s, p)) if s > 0 else s for s, p in zip(cfg.stride, padded, strict=True))
    dilation = tuple(1 if k == 1 else d for k, d in zip(cfg.kernel, cfg.dilation, strict=True))
    return cfg if (stride, dilation) == (cfg.stride, cfg.dilation) else replace(cfg, stride=stride, dilation=dilation)


def reference_output(cfg: ConvConfig, x: FloatArray, w: FloatArray, b: FloatArray | None) -> FloatArray:
    """The float64 reference of `cfg`'s op (forward or transposed) on the given tensors."""
    cfg = within_reach(cfg)
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


# The largest output the reference computes for a hostile-parameter case (2 GiB of float64). Extreme values give
# either a few output elements or billions of them per dim: nothing between comes near this.
HOSTILE_OUTPUT_LIMIT = 2**28


def hostile_refusal(cfg: ConvConfig) -> str | None:
    """Why the reference refuses a hostile-parameter case (invalid as an ordinary case, or an output beyond
    HOSTILE_OUTPUT_LIMIT elements), or None when it computes it. Nothing is allocated to find out."""
    # Negative symmetric pads crop, as XLA's do: the reference computes them (the invalid stream's negative_padding
    # holds torch to its own rule that refuses them).
    plain = replace(cfg, defect="")
    if not cfg.transposed:
        plain = replace(plain, padding=Padding("explicit", cfg.padding.pairs))
    try:
        plain.validate()
    except ValueError as exc:
        return f"invalid: {exc}"
    elements = math.prod(plain.output_shape())
    if elements > HOSTILE_OUTPUT_LIMIT:
        return f"refused: an output of {elements} elements is beyond any machine's memory"
    return None


class ReferenceOracle:
    """Float64 NumPy convolution from the definition (see oracles/reference.py)."""

    name = "reference"

    def devices(self) -> tuple[str, ...]:
        """The reference runs on the host; it answers for every device a case names."""
        return ("cpu", "cuda")

    def run(self, case: ConvCase) -> FloatArray:
        """Compute `case` in float64 with explicit (low, high) padding in the case's padding mode. A hostile-
        parameter case it refuses (ValueError) where it is invalid or its output no machine could hold."""
        refusal = hostile_refusal(case.config) if case.config.defect in HOSTILE_PARAMETERS else None
        if refusal is not None:
            raise ValueError(refusal)
        with np.errstate(invalid="ignore"):  # IEEE inf/nan propagation is the point of a --nonfinite case
            return reference_result(case.config, case.x, case.w, case.b, case.g)
