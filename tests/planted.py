"""Planted-bug oracles: deliberately wrong convolutions the engine must find and shrink.

Each wraps the float64 reference and breaks one thing a real implementation could get wrong.
"""

from __future__ import annotations

import numpy as np

from oracles.base import FloatArray
from oracles.reference import conv_reference
from strategies.case import ConvCase


class _Planted:
    name = "planted"

    def devices(self) -> tuple[str, ...]:
        return ("cpu",)

    def _conv(self, case: ConvCase, x: FloatArray, w: FloatArray, b: FloatArray | None, pads: list) -> FloatArray:  # type: ignore[type-arg]
        cfg = case.config
        return conv_reference(x, w, b, cfg.stride, pads, cfg.dilation, cfg.groups)


class ShiftedWindow(_Planted):
    """Every window along the last spatial dim starts one element late (off-by-one in the padding offset)."""

    name = "shifted_window"

    def run(self, case: ConvCase) -> FloatArray:
        pads = list(case.config.pad_pairs())
        lo, hi = pads[-1]
        pads[-1] = (lo - 1, hi + 1)
        return self._conv(case, case.x, case.w, case.b, pads)


class SwappedGroups(_Planted):
    """Group g's weights are applied to the input channels of group G-1-g."""

    name = "swapped_groups"

    def run(self, case: ConvCase) -> FloatArray:
        cfg = case.config
        per_group = cfg.in_channels // cfg.groups
        order = [c for g in reversed(range(cfg.groups)) for c in range(g * per_group, (g + 1) * per_group)]
        return self._conv(case, case.x[:, order], case.w, case.b, list(cfg.pad_pairs()))


class DroppedBias(_Planted):
    """The bias is never added."""

    name = "dropped_bias"

    def run(self, case: ConvCase) -> FloatArray:
        return self._conv(case, case.x, case.w, None, list(case.config.pad_pairs()))


class FlippedKernel(_Planted):
    """Convolution instead of cross-correlation: the kernel is flipped along every spatial dim."""

    name = "flipped_kernel"

    def run(self, case: ConvCase) -> FloatArray:
        spatial_axes = tuple(range(2, case.w.ndim))
        return self._conv(case, case.x, np.flip(case.w, spatial_axes), case.b, list(case.config.pad_pairs()))


PLANTED = (ShiftedWindow, SwappedGroups, DroppedBias, FlippedKernel)
