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
        return conv_reference(x, w, b, cfg.stride, pads, cfg.dilation, cfg.groups, cfg.padding_mode)


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


class ChannelsLastSwappedGroups(SwappedGroups):
    """Groups swapped only when the tensors come in channels_last memory format (a layout-specific kernel bug)."""

    name = "channels_last_swapped_groups"

    def run(self, case: ConvCase) -> FloatArray:
        if case.config.layout != "channels_last":
            return self._conv(case, case.x, case.w, case.b, list(case.config.pad_pairs()))
        return super().run(case)


class StridedWeightReadDense(_Planted):
    """A weight that is a slice of a longer kernel is read as if it were dense: the slice's strides are ignored
    and the first elements of the underlying buffer (including the NaN the slice leaves out) are used."""

    name = "strided_weight_read_dense"

    def run(self, case: ConvCase) -> FloatArray:
        w = case.w
        if case.config.layout == "sliced_weight":
            longer = np.full((*w.shape[:-1], w.shape[-1] + 1), np.nan)
            longer[..., : w.shape[-1]] = w
            w = longer.ravel()[: w.size].reshape(w.shape)
        return self._conv(case, case.x, w, case.b, list(case.config.pad_pairs()))


PLANTED = (ShiftedWindow, SwappedGroups, DroppedBias, FlippedKernel)
# Planted layout bugs, each with the layout a campaign is narrowed to when hunting it.
PLANTED_LAYOUT_BUGS = ((ChannelsLastSwappedGroups, "channels_last"), (StridedWeightReadDense, "sliced_weight"))


class EmptyBatchRejected(_Planted):
    """Refuses an empty batch (N = 0) that every framework must accept."""

    name = "empty_batch_rejected"

    def run(self, case: ConvCase) -> FloatArray:
        if case.config.batch == 0:
            raise ValueError("expected a non-empty batch")
        return self._conv(case, case.x, case.w, case.b, list(case.config.pad_pairs()))


class CircularDimsSwapped(_Planted):
    """Circular padding applies each dim's pad amount to the other dims (the pad list read in the wrong order)."""

    name = "circular_dims_swapped"

    def run(self, case: ConvCase) -> FloatArray:
        cfg = case.config
        pads = list(cfg.pad_pairs())
        if cfg.padding_mode == "circular":
            pads = pads[::-1]
        return self._conv(case, case.x, case.w, case.b, pads)
