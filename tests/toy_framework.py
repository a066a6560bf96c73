"""A toy framework in one file, registered as a user registers one ($CONVFUZZ_FRAMEWORKS=tests.toy_framework:TOY):
everything convfuzz knows about it is this descriptor. Its "library" is a direct convolution in NumPy (TOY_SOURCE),
which both its oracle and the calls written for users run, and it has a planted bug: with groups > 1 the bias is
added to the first group's output channels only. It computes forward convolutions of float32 and float64 with zero
padding, and sits out everything else (a refusal, never a finding)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

import numpy as np

from convfuzz.oracles.base import FloatArray, Oracle
from convfuzz.oracles.call_text import UserCall, what_is_called
from convfuzz.oracles.framework import Framework, Variant
from convfuzz.strategies.case import FORWARD_OPS, ConvCase, ConvConfig, split_op_name

# The toy library's one function, as its users would call it.
TOY_SOURCE = '''\
def toy_conv(x, w, b, stride, pads, dilation, groups):
    """A direct convolution of NC<spatial> x and OI<spatial> w: sliding windows times each group's weight."""
    import numpy as np

    rank = x.ndim - 2
    x = np.pad(x, [(0, 0), (0, 0), *pads])
    reach = [(k - 1) * d + 1 for k, d in zip(w.shape[2:], dilation)]
    spatial = tuple(range(2, 2 + rank))
    windows = np.lib.stride_tricks.sliding_window_view(x, reach, axis=spatial)
    taps = tuple(slice(None, None, d) for d in dilation)
    steps = tuple(slice(None, None, s) for s in stride)
    windows = windows[(slice(None), slice(None), *steps, *taps)]
    per_in, per_out = x.shape[1] // groups, w.shape[0] // groups
    parts = []
    for g in range(groups):
        part = windows[:, g * per_in:(g + 1) * per_in]
        weight = w[g * per_out:(g + 1) * per_out]
        summed = np.tensordot(part, weight, axes=([1, *range(2 + rank, 2 + 2 * rank)], [1, *spatial]))
        parts.append(np.moveaxis(summed, -1, 1))
    out = np.concatenate(parts, axis=1)
    if b is not None:
        out[:, :per_out] += b[:per_out].reshape(-1, *[1] * rank)  # the planted bug: the first group's bias only
    return out
'''
TOY_DTYPES = ("float32", "float64")


def toy_function() -> Any:
    """toy_conv from TOY_SOURCE: the oracle runs the very text a finding's script carries."""
    namespace: dict[str, Any] = {}
    exec(TOY_SOURCE, namespace)  # our own constant source
    return namespace["toy_conv"]


class ToyVariant:
    """The toy's one way to compute: forward convolutions, no gradients."""

    def computes(self, op: str) -> bool:
        base, gradient = split_op_name(op)
        return base in FORWARD_OPS and not gradient


class ToyOracle:
    """Runs toy_conv (or another function of its signature: `conv`) in the case's dtype."""

    def __init__(self, name: str, conv: Any = None) -> None:
        self.name = name
        self._conv = conv or toy_function()

    def devices(self) -> tuple[str, ...]:
        return ("cpu",)

    def run(self, case: ConvCase) -> FloatArray:
        cfg = case.config
        dtype = np.dtype(cfg.dtype)
        bias = None if case.b is None else case.b.astype(dtype)
        out = self._conv(case.x.astype(dtype), case.w.astype(dtype), bias, cfg.stride, cfg.pad_pairs(),
                         cfg.dilation, cfg.groups)
        return np.asarray(out, dtype=np.float64)


class ToyFramework(Framework):
    """The toy's descriptor."""

    name = "toyconv"
    title = "ToyConv"
    module = "numpy"
    tracker = "https://toyconv.invalid/issues/new"

    @property
    def variants(self) -> Mapping[str, Variant]:
        return {"toyconv": ToyVariant()}

    def build(self, variant: str) -> Oracle:
        return ToyOracle(variant)

    def takes(self, variant: str, config: ConvConfig) -> bool:
        """Valid float32/float64 cases with zero padding (no cropping): what toy_conv computes."""
        plain = config.padding_mode == "zeros" and not config.defect and config.dtype in TOY_DTYPES
        return plain and all(lo >= 0 and hi >= 0 for lo, hi in config.pad_pairs()) and super().takes(variant, config)

    def preamble(self) -> str:
        """The lines of a user's call before it: the library's source, which a script carries."""
        return f"    import numpy as np\n\n{textwrap.indent(TOY_SOURCE, '    ')}\n"

    def user_call(self, oracle: str, variant: str, device: str, cfg: ConvConfig) -> UserCall | None:
        bias = f"np.asarray(B, dtype=np.{cfg.dtype})" if cfg.bias else "None"
        function = self.call_name(cfg)
        body = (
            f"{self.preamble()}"
            f"    out = {function}(np.asarray(X, dtype=np.{cfg.dtype}), np.asarray(W, dtype=np.{cfg.dtype}), {bias}, "
            f"{cfg.stride!r}, {list(cfg.pad_pairs())!r}, {cfg.dilation!r}, {cfg.groups})\n"
        )
        return UserCall(oracle, cfg, what_is_called(cfg, function), body, "out.astype(np.float64)", "out")

    def call_name(self, cfg: ConvConfig) -> str:
        return "toy_conv"


TOY = ToyFramework()
