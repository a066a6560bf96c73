"""The hand check convfuzz started from, as an oracle that needs no framework and no convolution code.

With an input of ones and windows that never reach padding, every output element is the sum of its output
channel's weights plus its bias, whatever the stride, dilation, groups or batch: out[n, o, ...] = w[o].sum() + b[o].
The oracle answers only such cases (forward ops, no padding or cropping pads only, x all ones) and sits out the
others, so it is a voter that shares no code with the reference or any framework.
"""

from __future__ import annotations

import numpy as np

from convfuzz.oracles.base import FloatArray
from convfuzz.strategies.case import FORWARD_OPS, ConvCase


def hand_check_serves(case: ConvCase) -> bool:
    """A forward case whose input is all ones and whose windows lie inside the input (pads 0 or cropping)."""
    cfg = case.config
    inside = all(lo <= 0 and hi <= 0 for lo, hi in cfg.pad_pairs())
    plain = cfg.op in FORWARD_OPS and not cfg.gradient and not cfg.defect and cfg.batch_groups == 1
    return plain and inside and bool(np.all(case.x == 1.0))


class HandCheckOracle:
    """out = w[o].sum() + b[o] for an input of ones (see the module docstring)."""

    name = "handcheck"

    def devices(self) -> tuple[str, ...]:
        """Arithmetic on the host: it answers for every device a case names."""
        return ("cpu", "cuda")

    def serves(self, case: ConvCase) -> bool:
        """See hand_check_serves."""
        return hand_check_serves(case)

    def run(self, case: ConvCase) -> FloatArray:
        """The hand-computed output; ValueError for a case it does not serve."""
        if not self.serves(case):
            raise ValueError("the hand check needs a forward case with an input of ones and no padding")
        cfg = case.config
        per_channel = case.w.sum(axis=tuple(range(1, case.w.ndim)))
        if case.b is not None:
            per_channel = per_channel + case.b
        shape = cfg.output_shape()
        return np.broadcast_to(per_channel.reshape(1, -1, *([1] * cfg.rank)), shape).copy()
