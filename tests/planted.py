"""Planted-bug oracles: deliberately wrong convolutions the engine must find and shrink.

Each wraps the float64 reference and breaks one thing a real implementation could get wrong.
"""

from __future__ import annotations

import time

import numpy as np

from convfuzz.oracles.base import FloatArray, OracleFailure
from convfuzz.oracles.reference import batch_grouped_reference, conv_reference, conv_transpose_reference
from convfuzz.oracles.reference_oracle import hostile_refusal, reference_result
from convfuzz.strategies.case import DEFECTS, OPS, ConvCase, gradient_op_names


class _Planted:
    name = "planted"
    # A forward plant computes gradients correctly: its bug is in the forward pass (a campaign draws gradients
    # of an op by default, and a forward bug must not show up as a wrong gradient there).
    forward_only = True

    def devices(self) -> tuple[str, ...]:
        return ("cpu",)

    def run(self, case: ConvCase) -> FloatArray:
        """Refuse an invalid configuration as every framework does, so that a plant has its one bug and no
        other; compute a valid one with that bug."""
        cfg = case.config
        if cfg.defect:
            if DEFECTS[cfg.defect].must_refuse or hostile_refusal(cfg) is not None:
                raise ValueError(f"invalid configuration: {cfg.defect}")
            return self.hostile(case)
        if self.forward_only and case.config.gradient:
            return reference_result(case.config, case.x, case.w, case.b, case.g)
        return self.compute(case)

    def compute(self, case: ConvCase) -> FloatArray:
        """The plant's result for a valid case: the reference's, with the plant's bug."""
        raise NotImplementedError

    def hostile(self, case: ConvCase) -> FloatArray:
        """The plant's result for a hostile parameter the reference computes (a stride of 2^63-1 over a few
        elements): the reference's, unless the plant's bug is there."""
        return reference_result(case.config, case.x, case.w, case.b, case.g)

    def _conv(self, case: ConvCase, x: FloatArray, w: FloatArray, b: FloatArray | None, pads: list) -> FloatArray:  # type: ignore[type-arg]
        cfg = case.config
        if cfg.transposed:
            return conv_transpose_reference(x, w, b, cfg.stride, pads, cfg.output_padding, cfg.dilation, cfg.groups)
        if cfg.batch_groups > 1:
            return batch_grouped_reference(x, w, b, cfg.stride, pads, cfg.dilation, cfg.batch_groups)
        return conv_reference(x, w, b, cfg.stride, pads, cfg.dilation, cfg.groups, cfg.padding_mode)

    def _correct(self, case: ConvCase) -> FloatArray:
        return self._conv(case, case.x, case.w, case.b, list(case.config.pad_pairs()))


class ShiftedWindow(_Planted):
    """Every window along the last spatial dim starts one element late (off-by-one in the padding offset)."""

    name = "shifted_window"

    def compute(self, case: ConvCase) -> FloatArray:
        pads = list(case.config.pad_pairs())
        lo, hi = pads[-1]
        pads[-1] = (lo - 1, hi + 1)
        return self._conv(case, case.x, case.w, case.b, pads)


class SwappedGroups(_Planted):
    """Group g's weights are applied to the input channels of group G-1-g."""

    name = "swapped_groups"

    def compute(self, case: ConvCase) -> FloatArray:
        cfg = case.config
        per_group = cfg.in_channels // cfg.groups
        order = [c for g in reversed(range(cfg.groups)) for c in range(g * per_group, (g + 1) * per_group)]
        return self._conv(case, case.x[:, order], case.w, case.b, list(cfg.pad_pairs()))


class DroppedBias(_Planted):
    """The bias is never added."""

    name = "dropped_bias"

    def compute(self, case: ConvCase) -> FloatArray:
        return self._conv(case, case.x, case.w, None, list(case.config.pad_pairs()))


class FlippedKernel(_Planted):
    """Convolution instead of cross-correlation: the kernel is flipped along every spatial dim."""

    name = "flipped_kernel"

    def compute(self, case: ConvCase) -> FloatArray:
        spatial_axes = tuple(range(2, case.w.ndim))
        return self._conv(case, case.x, np.flip(case.w, spatial_axes), case.b, list(case.config.pad_pairs()))


class ChannelsLastSwappedGroups(SwappedGroups):
    """Groups swapped only when the tensors come in channels_last memory format (a layout-specific kernel bug)."""

    name = "channels_last_swapped_groups"

    def compute(self, case: ConvCase) -> FloatArray:
        if case.config.layout != "channels_last":
            return self._conv(case, case.x, case.w, case.b, list(case.config.pad_pairs()))
        return super().compute(case)


class StridedWeightReadDense(_Planted):
    """A weight that is a slice of a longer kernel is read as if it were dense: the slice's strides are ignored
    and the first elements of the underlying buffer (including the NaN the slice leaves out) are used."""

    name = "strided_weight_read_dense"

    def compute(self, case: ConvCase) -> FloatArray:
        w = case.w
        if case.config.layout == "sliced_weight":
            longer = np.full((*w.shape[:-1], w.shape[-1] + 1), np.nan, dtype=w.dtype)
            longer[..., : w.shape[-1]] = w
            w = longer.ravel()[: w.size].reshape(w.shape)
        return self._conv(case, case.x, w, case.b, list(case.config.pad_pairs()))


class StridedDilationShift(ShiftedWindow):
    """A forward conv with both stride and dilation above 1 along its last spatial dim starts every window there
    one element late (an offset computed for the dilated kernel but applied after striding)."""

    name = "strided_dilation_shift"

    def compute(self, case: ConvCase) -> FloatArray:
        cfg = case.config
        if cfg.transposed or cfg.gradient or cfg.stride[-1] == 1 or cfg.dilation[-1] == 1:
            return self._correct(case)
        return super().compute(case)


class BiasFirstGroupOnly(_Planted):
    """A grouped forward conv adds the bias to the output channels of its first group only."""

    name = "bias_first_group_only"

    def compute(self, case: ConvCase) -> FloatArray:
        cfg = case.config
        out = self._correct(case)
        if cfg.transposed or cfg.gradient or cfg.groups == 1 or case.b is None:
            return out
        out = out - case.b.reshape(1, -1, *([1] * cfg.rank))
        per_group = cfg.out_channels // cfg.groups
        out[:, :per_group] += case.b[:per_group].reshape(1, -1, *([1] * cfg.rank))
        return out


class DepthwiseMultiplierInterleaved(_Planted):
    """A depthwise forward conv with a channel multiplier m > 1 writes output channel g*m + k (group g's k-th
    filter) to slot k*G + g, as a kernel that loops over the multiplier outside the channels would."""

    name = "depthwise_multiplier_interleaved"

    def compute(self, case: ConvCase) -> FloatArray:
        cfg = case.config
        out = self._correct(case)
        groups = cfg.groups
        if cfg.transposed or cfg.gradient or groups == 1 or groups != cfg.in_channels or cfg.out_channels == groups:
            return out
        multiplier = cfg.out_channels // groups
        moved = np.empty_like(out)
        for g in range(groups):
            for k in range(multiplier):
                moved[:, k * groups + g] = out[:, g * multiplier + k]
        return moved


PLANTED = (ShiftedWindow, SwappedGroups, DroppedBias, FlippedKernel)
# Forward bugs each narrower than the four above: what a conv2d float32 test sees only when
# it draws the feature (bench/first_finding.py races a campaign against a hand-written test on them).
PLANTED_NARROW_BUGS = (SwappedGroups, StridedDilationShift, BiasFirstGroupOnly, DepthwiseMultiplierInterleaved)
# Planted layout bugs, each with the layout a campaign is narrowed to when hunting it.
PLANTED_LAYOUT_BUGS = ((ChannelsLastSwappedGroups, "channels_last"), (StridedWeightReadDense, "sliced_weight"))


class EmptyBatchRejected(_Planted):
    """Refuses an empty batch (N = 0) that every framework must accept."""

    name = "empty_batch_rejected"

    def compute(self, case: ConvCase) -> FloatArray:
        if case.config.batch == 0:
            raise ValueError("expected a non-empty batch")
        return self._conv(case, case.x, case.w, case.b, list(case.config.pad_pairs()))


class CircularDimsSwapped(_Planted):
    """Circular padding applies each dim's pad amount to the other dims (the pad list read in the wrong order)."""

    name = "circular_dims_swapped"

    def compute(self, case: ConvCase) -> FloatArray:
        cfg = case.config
        pads = list(cfg.pad_pairs())
        if cfg.padding_mode == "circular":
            pads = pads[::-1]
        return self._conv(case, case.x, case.w, case.b, pads)


class OutputPaddingRowUnset(_Planted):
    """A transposed conv never writes the extra rows output_padding adds at the high end: they stay zero (no
    bias, and none of the contributions that reach them when the padding crops the natural output)."""

    name = "output_padding_row_unset"

    def compute(self, case: ConvCase) -> FloatArray:
        out = self._correct(case).copy()
        for d, extra in enumerate(case.config.output_padding):
            if extra:
                index = [slice(None)] * out.ndim
                index[2 + d] = slice(out.shape[2 + d] - extra, None)
                out[tuple(index)] = 0.0
        return out


class TransposedKernelNotFlipped(_Planted):
    """conv_transpose computed as a conv of the stride-dilated input whose kernel was swapped in/out but not
    flipped: the same as scattering with the flipped kernel."""

    name = "transposed_kernel_not_flipped"

    def compute(self, case: ConvCase) -> FloatArray:
        w = np.flip(case.w, tuple(range(2, case.w.ndim))) if case.config.transposed else case.w
        return self._conv(case, case.x, w, case.b, list(case.config.pad_pairs()))


class NegativePadWraps(_Planted):
    """A negative (cropping) low pad of -c should drop the first c elements of a dim; the index is used
    unnegated, and Python's negative indexing wraps around: the last c elements are dropped instead."""

    name = "negative_pad_wraps"

    def compute(self, case: ConvCase) -> FloatArray:
        x = case.x
        pads = list(case.config.pad_pairs())
        for d, (low, high) in enumerate(pads):
            if low < 0:
                index = [slice(None)] * x.ndim
                index[2 + d] = slice(None, low)  # x[..., :low] where x[..., -low:] was meant
                x = x[tuple(index)]
                pads[d] = (0, high)
        return self._conv(case, x, case.w, case.b, pads)


# Planted bugs of the broader surface, each with the ops a campaign is narrowed to when hunting it.
PLANTED_SURFACE_BUGS = (
    (OutputPaddingRowUnset, ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")),
    (TransposedKernelNotFlipped, ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")),
    (NegativePadWraps, ("conv1d", "conv2d", "conv3d")),
)


class AcceptsUndividedGroups(_Planted):
    """Returns numbers for a conv whose groups do not divide the input channels (the remainder channels are
    silently ignored) instead of refusing it; refuses every other invalid case and computes valid ones."""

    name = "accepts_undivided_groups"

    def run(self, case: ConvCase) -> FloatArray:
        cfg = case.config
        if cfg.defect == "groups_not_dividing":
            used = cfg.groups * case.w.shape[1]
            return self._conv(case, case.x[:, :used], case.w, case.b, list(cfg.pad_pairs()))
        return super().run(case)

    def compute(self, case: ConvCase) -> FloatArray:
        return self._correct(case)


class StaleResultCache(_Planted):
    """A cached output buffer that is not rewritten: a call with the same parameters as the call just before it
    returns that call's result instead of computing the new data's."""

    name = "stale_result_cache"

    def __init__(self) -> None:
        self._last: tuple[str, FloatArray] | None = None

    def compute(self, case: ConvCase) -> FloatArray:
        key = repr(case.config)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        out = self._correct(case)
        self._last = (key, out)
        return out


class NanBecomesZero(_Planted):
    """A kernel whose output clamp drops NaN (an fmax-style epilogue): a NaN the input should spread comes out 0."""

    name = "nan_becomes_zero"

    def compute(self, case: ConvCase) -> FloatArray:
        with np.errstate(invalid="ignore"):
            out = self._correct(case)
        return np.where(np.isnan(out), 0.0, out)


class _PlantedGradient(_Planted):
    """Computes every op and gradient like the reference, except the one gradient its bug breaks."""

    forward_only = False

    def _result(self, case: ConvCase, g: FloatArray | None = None) -> FloatArray:
        return reference_result(case.config, case.x, case.w, case.b, case.g if g is None else g)


class GradWeightGroupsSwapped(_PlantedGradient):
    """The weight gradient of group i is computed from the output cotangent of group G-1-i."""

    name = "grad_weight_groups_swapped"

    def compute(self, case: ConvCase) -> FloatArray:
        cfg = case.config
        if cfg.gradient != "weight" or case.g is None:
            return self._result(case)
        per_group = cfg.out_channels // cfg.groups
        order = [c for g in reversed(range(cfg.groups)) for c in range(g * per_group, (g + 1) * per_group)]
        return self._result(case, case.g[:, order])


class GradInputLastRowDropped(_PlantedGradient):
    """With a stride above 1, the input gradient's last row (last index of the first spatial dim) stays zero: a
    loop bound computed as output * stride instead of the input size."""

    name = "grad_input_last_row_dropped"

    def compute(self, case: ConvCase) -> FloatArray:
        out = self._result(case)
        if case.config.gradient == "input" and max(case.config.stride) > 1 and out.shape[2]:
            out = out.copy()
            out[:, :, -1] = 0.0
        return out


class GradBiasWrongAxis(_PlantedGradient):
    """The bias gradient sums the cotangent over channels and space (one value per sample) instead of over batch
    and space (one per output channel)."""

    name = "grad_bias_wrong_axis"

    def compute(self, case: ConvCase) -> FloatArray:
        if case.config.gradient != "bias" or case.g is None:
            return self._result(case)
        return np.asarray(case.g.sum(axis=tuple(a for a in range(case.g.ndim) if a != 0)))


# Planted gradient bugs, each with the gradients a campaign is narrowed to when hunting it.
PLANTED_GRADIENT_BUGS = (
    (GradWeightGroupsSwapped, gradient_op_names(OPS)[1::3]),
    (GradInputLastRowDropped, gradient_op_names(OPS)[0::3]),
    (GradBiasWrongAxis, gradient_op_names(OPS)[2::3]),
)


class OutputGroupsReversed(_Planted):
    """A grouped conv writes each group's output channels into the slot of group G-1-g (a forward bug that only
    grouped calls meet). The base of the single-framework test: its metamorphic oracles catch it by themselves."""

    name = "output_groups_reversed"

    def compute(self, case: ConvCase) -> FloatArray:
        out = self._correct(case)
        groups = case.config.groups
        if groups == 1 or case.config.gradient:
            return out
        per_group = out.shape[1] // groups
        order = [c for g in reversed(range(groups)) for c in range(g * per_group, (g + 1) * per_group)]
        return out[:, order]


class ConjugatedWeight(_Planted):
    """Complex data: the weight is conjugated, as NumPy's and SciPy's `correlate` do (a port that takes complex
    cross-correlation from them computes sum x * conj(w), while torch and XLA compute sum x * w)."""

    name = "conjugated_weight"

    def compute(self, case: ConvCase) -> FloatArray:
        return self._conv(case, case.x, np.conj(case.w), case.b, list(case.config.pad_pairs()))


class GaussImaginarySignFlip(_Planted):
    """Complex data through three real convolutions (x = a+bi, w = c+di: ac, bd and (a+b)(c+d)), with one sign
    wrong in the imaginary part: (a+b)(c+d) - ac + bd instead of - ac - bd. The real part stays right."""

    name = "gauss_imaginary_sign_flip"

    def compute(self, case: ConvCase) -> FloatArray:
        pads = list(case.config.pad_pairs())
        a, b, c, d = np.real(case.x), np.imag(case.x), np.real(case.w), np.imag(case.w)
        ac, bd = self._conv(case, a, c, None, pads), self._conv(case, b, d, None, pads)
        both = self._conv(case, a + b, c + d, None, pads)
        out = (ac - bd) + 1j * (both - ac + bd)
        if case.b is not None:
            out = out + case.b.reshape(1, -1, *([1] * case.config.rank))
        return out


PLANTED_COMPLEX_BUGS = (ConjugatedWeight, GaussImaginarySignFlip)


class GroupsComputedDense(_Planted):
    """A grouped forward convolution computed as a dense one whose weight is zero outside each group's block: every
    finite value is right, but a NaN or inf in one group's input meets those zeros and puts NaN into the other
    groups' outputs (NaN through a materialised zero, which the judge names nan-through-zero)."""

    name = "groups_computed_dense"

    def compute(self, case: ConvCase) -> FloatArray:
        cfg = case.config
        if cfg.transposed or cfg.groups == 1 or cfg.batch_groups > 1 or cfg.gradient:
            return self._correct(case)
        per_in, per_out = cfg.in_channels // cfg.groups, cfg.out_channels // cfg.groups
        dense = np.zeros((cfg.out_channels, cfg.in_channels, *cfg.kernel), dtype=case.w.dtype)
        for g in range(cfg.groups):
            dense[g * per_out:(g + 1) * per_out, g * per_in:(g + 1) * per_in] = case.w[g * per_out:(g + 1) * per_out]
        with np.errstate(invalid="ignore"):
            return conv_reference(case.x, dense, case.b, cfg.stride, list(cfg.pad_pairs()), cfg.dilation, 1,
                                  cfg.padding_mode)


class NanFromNowhere(_Planted):
    """A kernel that writes NaN into the first output element whatever its inputs (an uninitialised accumulator):
    NaN that no non-finite input reaches, a plain nonfinite bug however it is looked at."""

    name = "nan_from_nowhere"

    def compute(self, case: ConvCase) -> FloatArray:
        with np.errstate(invalid="ignore"):
            out = np.array(self._correct(case))
        if out.size:
            out.flat[0] = np.nan
        return out


class HalfSumsInHalf(_Planted):
    """float16 convolutions that round every partial sum to float16 (accumulating in the storage dtype): a
    precision loss the judge names reduced-accumulation. Other dtypes are computed right."""

    name = "half_sums_in_half"

    def compute(self, case: ConvCase) -> FloatArray:
        cfg = case.config
        if cfg.dtype != "float16" or cfg.transposed or cfg.gradient or cfg.batch_groups > 1:
            return self._correct(case)
        # Sum the terms one kernel tap and input channel at a time, rounding the running sum to float16.
        total = np.zeros_like(self._correct(case))
        per_in = cfg.in_channels // cfg.groups
        for flat in np.ndindex(per_in, *cfg.kernel):
            only = np.zeros_like(case.w)
            only[(slice(None), *flat)] = case.w[(slice(None), *flat)]
            term = conv_reference(case.x, only, None, cfg.stride, list(cfg.pad_pairs()), cfg.dilation, cfg.groups,
                                  cfg.padding_mode)
            total = (total + term).astype(np.float16).astype(np.float64)
        if case.b is not None:
            total = (total + case.b.reshape(1, -1, *([1] * cfg.rank))).astype(np.float16).astype(np.float64)
        return total


class SlowOffByOne:
    """One too much in every output element, after `delay` seconds a call: a bug every case shows, in an oracle
    slow enough that a short time budget always ends its shrinking."""

    name = "slow_off_by_one"

    def __init__(self, delay: float = 1.0) -> None:
        self.delay = delay

    def devices(self) -> tuple[str, ...]:
        return ("cpu",)

    def run(self, case: ConvCase) -> FloatArray:
        time.sleep(self.delay)
        return reference_result(case.config, case.x, case.w, case.b, case.g) + 1.0


class HangsUntilTheBudgetEnds(_Planted):
    """A hang as an isolated worker reports it (OracleFailure 'timeout'), but in the campaign's own process and
    after `delay` seconds: a dilation of 3 in any dim. With a delay as long as the time budget, a campaign sees it
    once, and the budget ends before a second sighting or a re-run could confirm it."""

    name = "hangs_until_the_budget_ends"

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def compute(self, case: ConvCase) -> FloatArray:
        if 3 in case.config.dilation:
            time.sleep(self.delay)
            raise OracleFailure("timeout", f"no answer within {self.delay} s")
        return self._correct(case)


# Bugs on the kernels only large shapes select (strategies.sizes): each shows from a threshold on, and a campaign
# must find it and shrink it to exactly that threshold.
LONG_KERNEL_THRESHOLD = 15
CHANNEL_TAIL_ABOVE = 32
CHANNEL_BLOCK = 16
LONG_SEQUENCE_THRESHOLD = 1000


class LongKernelTapsDropped(_PlantedGradient):
    """A forward conv whose kernel is 15 or more wide in its last dim ignores every tap from the 15th on there (a
    kernel written for at most 14 taps)."""

    name = "long_kernel_taps_dropped"

    def compute(self, case: ConvCase) -> FloatArray:
        cfg = case.config
        if cfg.transposed or cfg.gradient or cfg.kernel[-1] < LONG_KERNEL_THRESHOLD:
            return self._result(case)
        w = case.w.copy()
        w[..., LONG_KERNEL_THRESHOLD - 1:] = 0.0
        return self._conv(case, case.x, w, case.b, list(cfg.pad_pairs()))


class ChannelTailDropped(_PlantedGradient):
    """A forward conv with more than 32 input channels per group, not a multiple of 16, drops each group's last
    input channel (a blocked loop over 16 channels whose remainder loop skips one)."""

    name = "channel_tail_dropped"

    def compute(self, case: ConvCase) -> FloatArray:
        cfg = case.config
        per_group = cfg.in_channels // cfg.groups
        if cfg.transposed or cfg.gradient or per_group <= CHANNEL_TAIL_ABOVE or per_group % CHANNEL_BLOCK == 0:
            return self._result(case)
        w = case.w.copy()
        w[:, -1] = 0.0
        return self._conv(case, case.x, w, case.b, list(cfg.pad_pairs()))


class LongSequenceLastWindow(_PlantedGradient):
    """A conv1d over an input of 1,000 or more elements writes its last output element from the window before it
    (a chunked loop whose last chunk starts one window early)."""

    name = "long_sequence_last_window"

    def compute(self, case: ConvCase) -> FloatArray:
        cfg = case.config
        out = self._result(case)
        if cfg.op != "conv1d" or cfg.gradient or cfg.spatial[0] < LONG_SEQUENCE_THRESHOLD or out.shape[-1] < 2:
            return out
        out = out.copy()
        out[..., -1] = out[..., -2]
        return out


def threshold_value(case: ConvCase, what: str) -> int:
    """The value a size bug's threshold parameter ('kernel', 'channels per group', 'length', 'stride') has in
    `case`: the last dim's kernel, the input channels per group, the first dim's length or stride."""
    cfg = case.config
    values = {"kernel": cfg.kernel[-1], "channels per group": cfg.in_channels // cfg.groups, "length": cfg.spatial[0],
              "stride": cfg.stride[0]}
    return values[what]


# Planted bugs of large shapes, each with the op a campaign hunts it on and the threshold it must shrink to:
# (plant, op, what the shrunk case's threshold parameter is, that threshold).
PLANTED_SIZE_BUGS = (
    (LongKernelTapsDropped, "conv2d", "kernel", LONG_KERNEL_THRESHOLD),
    (ChannelTailDropped, "conv1d", "channels per group", CHANNEL_TAIL_ABOVE + 1),
    (LongSequenceLastWindow, "conv1d", "length", LONG_SEQUENCE_THRESHOLD),
)


HUGE_STRIDE = 2**31 - 1


class CrashesOnHugeStride(_Planted):
    """Dies as a SIGFPE ends a process on a forward conv with a stride of 2^31-1 or more (a stride kept in a 32-bit
    int wraps to a divisor of zero or less), however few elements the output has."""

    name = "crashes_on_huge_stride"

    def compute(self, case: ConvCase) -> FloatArray:
        return self._correct(case)

    def hostile(self, case: ConvCase) -> FloatArray:
        if max(case.config.stride) >= HUGE_STRIDE:
            raise OracleFailure("crash", "killed by SIGFPE")
        return super().hostile(case)
