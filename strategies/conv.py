"""Hypothesis strategies for forward convolution cases, valid and within budget by construction.

Parameters are drawn in an order where each draw's range is cut to what still leaves a valid, in-budget
completion (channels, then per-dim kernel/dilation/stride/padding, then batch, then spatial sizes), so no
case is ever filtered or rejected and Hypothesis shrinks every parameter towards its simplest value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import strategies as st

from convfuzz.strategies.budget import SizeBudget
from convfuzz.strategies.case import (
    ALL_DTYPES,
    COMPLEX_DTYPES,
    DTYPES,
    GRADIENTS,
    LAYOUTS,
    OPS,
    PADDING_MODES,
    TRANSPOSED_OPS,
    ConvCase,
    ConvConfig,
    Padding,
    PaddingKind,
    layouts_for,
    ops_with_layouts,
    output_size,
    rank_of,
    transposed_output_size,
)
from convfuzz.strategies.model_layers import ModelLayer, layers_of
from convfuzz.strategies.sizes import (
    LARGE_CHANNEL_COUNTS,
    LARGE_MAX_BATCH,
    LARGE_MAX_DILATION,
    LARGE_MAX_EXTRA_SPATIAL,
    LARGE_MAX_GROUPS,
    LARGE_MAX_KERNEL,
    LARGE_MAX_PAD,
    LARGE_MAX_STRIDE,
    check_size_classes,
    large_budget,
    size_class_slots,
    sizes_from_environment,
)
from convfuzz.strategies.values import FAMILY_NAMES, NONFINITE_FAMILY, SPECIAL_VALUES, ValueFamily

MAX_GROUPS = 8
MAX_CHANNELS_PER_GROUP = 8
# One case in WIDE_CHANNELS_ONE_IN widens the input or output channels of each group beyond MAX_CHANNELS_PER_GROUP,
# up to what the size budget admits at the smallest kernel and spatial sizes (at most MAX_WIDE_CHANNELS_PER_GROUP):
# wide GEMMs and blocked channel loops take other code paths than 8 channels do.
WIDE_CHANNELS_ONE_IN = 8
MAX_WIDE_CHANNELS_PER_GROUP = 256
MAX_KERNEL = 7
MAX_DILATION = 3
MAX_STRIDE = 4
MAX_PAD = 3
MAX_CROP = 3  # negative (cropping) explicit pads, XLA's semantics: down to -MAX_CROP
MAX_BATCH = 3
EMPTY_BATCH_ONE_IN = 16
BATCH_GROUPS_ONE_IN = 12
MAX_EXTRA_SPATIAL = 24
# What a large case draws first, and so gives the most of its budget to (shrinking prefers the first).
LARGE_FOCUS = ("channels", "kernel", "length")
# Candidate lists longer than this are searched by bisection for the last one that fits.
LINEAR_SEARCH_LIMIT = 64
PADDING_KINDS: tuple[PaddingKind, ...] = ("valid", "symmetric", "explicit", "same")

# Scales keep |x| conv |w| far below the dtype's largest finite value for every in-budget case.
SCALES: dict[str, tuple[float, ...]] = {
    "float64": (1.0, 1e-3, 1e3),
    "float32": (1.0, 1e-3, 1e3),
    "bfloat16": (1.0, 1e-3, 1e3),
    "float16": (1.0, 0.1),
    "complex64": (1.0, 1e-3, 1e3),
    "complex128": (1.0, 1e-3, 1e3),
}


# The most elements a forward case's padded input may hold (16 Mi: 128 MiB in float64). Far above anything the small
# class draws (at most a few million), it keeps the large classes' long dilated kernels with 'same' padding from a
# padded input of gigabytes: a 31-tap kernel dilated 24 times pads 720 per side, and torch's explicit F.pad (its
# 'same' takes no stride) then allocated 9 GiB for a case of a few thousand elements, more than a worker's memory
# budget, and was blamed for refusing it.
MAX_PADDED_INPUT = 2**24


class _Plan:
    """A partly drawn config; undrawn dims take their smallest values when checking the budget."""

    def __init__(
        self, rank: int, in_channels: int, out_channels: int, groups: int, padding_kind: PaddingKind,
        transposed: bool = False,
    ) -> None:
        self.rank = rank
        self.transposed = transposed
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.groups = groups
        self.padding_kind = padding_kind
        self.padding_mode = "zeros"
        self.batch = [1]
        self.kernel = [1] * rank
        self.dilation = [1] * rank
        self.stride = [1] * rank
        self.pads = [(0, 0)] * rank
        self.output_padding = [0] * rank
        self.extra = [0] * rank
        # The kernel or the spatial lengths are drawn already (a large case's focus, before its channels).
        self.kernel_drawn = False
        self.extra_drawn = False

    def min_size(self, dim: int) -> int:
        """Smallest input length of `dim` that still gives an output."""
        if self.padding_kind == "same":
            return 1
        low, high = self.pads[dim]
        effective = self.dilation[dim] * (self.kernel[dim] - 1) + 1
        if self.transposed:
            # (size - 1) * stride + effective + output_padding - low - high >= 1
            short = low + high + 1 - effective - self.output_padding[dim]
            return 1 + max(0, -(-short // self.stride[dim]))
        # A negative pad crops; at least one element of the dim must survive the crops.
        smallest = max(1, effective - low - high, 1 + max(-low, 0) + max(-high, 0))
        # reflect cannot pad more than size - 1 around a dim, circular more than size.
        needed = {"reflect": low + 1, "circular": low}.get(self.padding_mode, 1)
        return max(smallest, needed)

    def spatial(self) -> tuple[int, ...]:
        return tuple(self.min_size(d) + self.extra[d] for d in range(self.rank))

    def fits(self, budget: SizeBudget) -> bool:
        spatial = self.spatial()
        out = []
        for d in range(self.rank):
            lo, hi = self.pads[d]
            if self.padding_kind == "same":
                out.append(-(-spatial[d] // self.stride[d]))
            elif self.transposed:
                out.append(transposed_output_size(
                    spatial[d], self.kernel[d], self.stride[d], self.dilation[d], lo, hi, self.output_padding[d]
                ))
            else:
                out.append(output_size(spatial[d], self.kernel[d], self.stride[d], self.dilation[d], lo, hi))
        if self.transposed:
            weight = (self.in_channels, self.out_channels // self.groups, *self.kernel)
            input_shape = (self.batch[0], self.in_channels, *spatial)
            multiply_adds = _prod(input_shape) * _prod(weight[1:])
        else:
            weight = (self.out_channels, self.in_channels // self.groups, *self.kernel)
            multiply_adds = self.batch[0] * self.out_channels * _prod(out) * _prod(weight[1:])
        shapes = [(self.batch[0], self.in_channels, *spatial), weight, (self.batch[0], self.out_channels, *out)]
        if not self.transposed and _prod(self.padded_input(spatial, out)) > MAX_PADDED_INPUT:
            return False
        return budget.admits(shapes, multiply_adds)

    def padded_input(self, spatial: tuple[int, ...], out: list[int]) -> tuple[int, ...]:
        """The forward input of `spatial` size (giving an output of `out`) as a framework pads it before the conv
        (torch's F.pad for 'same' with a stride, padding modes, asymmetric pads; the reference's own padding): every
        dim padded by what the case asks."""
        padded = []
        for d in range(self.rank):
            reach = self.dilation[d] * (self.kernel[d] - 1) + 1
            lo, hi = self.pads[d]
            total = (out[d] - 1) * self.stride[d] + reach - spatial[d] if self.padding_kind == "same" else lo + hi
            padded.append(spatial[d] + max(total, 0))
        return (self.batch[0], self.in_channels, *padded)

    def fitting_prefix(self, budget: SizeBudget, name: str, index: int, candidates: Sequence[Any]) -> int:
        """How many leading `candidates` for self.<name>[index] fit the budget (the first one always counts)."""
        slots = getattr(self, name)
        original = slots[index]

        def fits_with(position: int) -> bool:
            slots[index] = candidates[position]
            return self.fits(budget)

        count = _leading_fits(len(candidates), fits_with)
        slots[index] = original
        return count


def _leading_fits(candidates: int, fits_with: Callable[[int], bool]) -> int:
    """How many leading candidates of `candidates` fit, `fits_with(i)` trying the i-th (the first always counts):
    one by one along a short list, by bisection along a long one (a 1-D length in the thousands; fits is monotone
    along it)."""
    if candidates <= LINEAR_SEARCH_LIMIT:
        count = 1
        while count < candidates and fits_with(count):
            count += 1
        return count
    low, high = 0, candidates - 1
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits_with(middle) else (low, middle - 1)
    return low + 1


def _widest_channels(plan: _Plan, budget: SizeBudget, side: str) -> int:
    """The most channels per group on `side` ('in_channels' or 'out_channels') that keep the plan within the
    budget at its smallest sizes, capped at MAX_WIDE_CHANNELS_PER_GROUP (binary search: fits is monotone)."""
    original: int = getattr(plan, side)
    low, high = original // plan.groups, MAX_WIDE_CHANNELS_PER_GROUP
    while low < high:
        middle = (low + high + 1) // 2
        setattr(plan, side, plan.groups * middle)
        if plan.fits(budget):
            low = middle
        else:
            high = middle - 1
    setattr(plan, side, original)
    return low


def _draw_fitting(
    draw: st.DrawFn, plan: _Plan, budget: SizeBudget, name: str, index: int, candidates: Sequence[Any]
) -> Any:
    """Draw one of the leading candidates that fit, shrinking towards the first, and store it in the plan."""
    count = plan.fitting_prefix(budget, name, index, candidates)
    value = candidates[draw(st.integers(0, count - 1))]
    getattr(plan, name)[index] = value
    return value


def _prod(values: Sequence[int]) -> int:
    total = 1
    for v in values:
        total *= v
    return total


def _real_dtypes(dtypes: Sequence[str]) -> list[str]:
    """The real (not complex) ones of `dtypes`; ValueError when there are none."""
    real = [d for d in dtypes if d not in COMPLEX_DTYPES]
    if not real:
        raise ValueError(f"gradients need a real dtype; {', '.join(dtypes)} are complex")
    return real


def _check_choices(name: str, given: Sequence[str], allowed: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(given)
    if not chosen:
        raise ValueError(f"{name} must not be empty")
    bad = [v for v in chosen if v not in allowed]
    if bad:
        raise ValueError(f"{name}: {bad[0]!r} is not one of {tuple(allowed)}")
    return chosen


def _draw_padding_mode(draw: st.DrawFn, plan: _Plan, budget: SizeBudget, allowed: Sequence[str]) -> str:
    """torch's padding mode for a symmetric, non-zero padding (zeros otherwise): half the time one of the others
    whose size needs (reflect: pad < size, circular: pad <= size) still fit; shrinks to zeros."""
    if plan.transposed or plan.padding_kind != "symmetric" or not any(lo for lo, _ in plan.pads):
        return "zeros"
    fitting = []
    for mode in PADDING_MODES[1:]:
        plan.padding_mode = mode
        if mode in allowed and plan.fits(budget):
            fitting.append(mode)
    plan.padding_mode = "zeros"
    if fitting and ("zeros" not in allowed or draw(st.booleans())):
        plan.padding_mode = draw(st.sampled_from(fitting))
    return plan.padding_mode


@dataclass(frozen=True)
class _Box:
    """The ranges a size class draws the window, batch and spatial sizes from (kernel and extra spatial length
    per rank)."""

    kernel: dict[int, int]
    dilation: int
    stride: int
    pad: int
    batch: int
    extra: dict[int, int]


SMALL_BOX = _Box(
    {1: MAX_KERNEL, 2: MAX_KERNEL, 3: MAX_KERNEL}, MAX_DILATION, MAX_STRIDE, MAX_PAD, MAX_BATCH,
    {1: MAX_EXTRA_SPATIAL, 2: MAX_EXTRA_SPATIAL, 3: MAX_EXTRA_SPATIAL},
)
LARGE_BOX = _Box(
    LARGE_MAX_KERNEL, LARGE_MAX_DILATION, LARGE_MAX_STRIDE, LARGE_MAX_PAD, LARGE_MAX_BATCH, LARGE_MAX_EXTRA_SPATIAL
)


def _draw_size_class(draw: st.DrawFn, sizes: Sequence[str]) -> str:
    """One of `sizes`, by SIZE_CLASS_WEIGHTS; shrinks towards the smallest class. No draw when there is one."""
    slots = size_class_slots(sizes)
    if len(set(slots)) == 1:
        return slots[0]
    return slots[draw(st.integers(0, len(slots) - 1))]


def _draw_padding_kind(draw: st.DrawFn, transposed: bool) -> PaddingKind:
    # torch's conv_transposeNd takes one non-negative pad per dim: transposed cases are always 'symmetric'.
    return "symmetric" if transposed else draw(st.sampled_from(PADDING_KINDS))


def _small_plan(draw: st.DrawFn, rank: int, transposed: bool, budget: SizeBudget) -> _Plan:
    """The small class's channels: up to MAX_GROUPS groups of up to MAX_CHANNELS_PER_GROUP, and now and then one
    side widened as far as the budget admits."""
    groups = draw(st.integers(1, MAX_GROUPS))
    per_group_in = draw(st.integers(1, MAX_CHANNELS_PER_GROUP))
    per_group_out = draw(st.integers(1, MAX_CHANNELS_PER_GROUP))
    padding_kind = _draw_padding_kind(draw, transposed)
    plan = _Plan(rank, groups * per_group_in, groups * per_group_out, groups, padding_kind, transposed)
    if not plan.fits(budget):
        # Too many channels for this budget even at the smallest size: fall back to one channel each.
        plan = _Plan(rank, groups, groups, groups, padding_kind, transposed)
    # Drawn last of the channel choices so that it shrinks back to the narrow case (the last value of the range).
    if draw(st.integers(0, WIDE_CHANNELS_ONE_IN - 1)) == WIDE_CHANNELS_ONE_IN - 1:
        side = draw(st.sampled_from(("in_channels", "out_channels")))
        narrow = getattr(plan, side) // groups
        widest = _widest_channels(plan, budget, side)
        if widest > narrow:
            setattr(plan, side, groups * draw(st.integers(narrow + 1, widest)))
    return plan


ChannelShape = Callable[[int], tuple[int, int, int]]


def _draw_channels(
    draw: st.DrawFn, plan: _Plan, budget: SizeBudget, candidates: Sequence[int], shape: ChannelShape
) -> int:
    """Draw one of the leading `candidates` whose (in_channels, out_channels, groups) = shape(candidate) keeps the
    plan within the budget (the first always counts), store that shape in the plan and return the candidate."""
    def fits_with(position: int) -> bool:
        plan.in_channels, plan.out_channels, plan.groups = shape(candidates[position])
        return plan.fits(budget)

    value = candidates[draw(st.integers(0, _leading_fits(len(candidates), fits_with) - 1))]
    plan.in_channels, plan.out_channels, plan.groups = shape(value)
    return value


def _large_plan(draw: st.DrawFn, rank: int, transposed: bool, budget: SizeBudget) -> _Plan:
    """The large class's channels, and its kernel or spatial lengths where they come first: what is drawn first
    takes the budget, so each case puts it into the channels (half the time depthwise: groups = channels,
    multiplier 1 or 2; else up to LARGE_MAX_GROUPS groups of LARGE_CHANNEL_COUNTS), the kernel, or the length
    (1-D sequences in the thousands), in that order of preference for shrinking."""
    focus = LARGE_FOCUS[draw(st.integers(0, len(LARGE_FOCUS) - 1))]
    depthwise = draw(st.booleans())
    padding_kind = _draw_padding_kind(draw, transposed)
    plan = _Plan(rank, 1, 1, 1, padding_kind, transposed)
    if focus == "kernel":
        for d in range(rank):
            _draw_fitting(draw, plan, budget, "kernel", d, range(1, LARGE_MAX_KERNEL[rank] + 1))
        plan.kernel_drawn = True
    elif focus == "length":
        for d in range(rank):
            _draw_fitting(draw, plan, budget, "extra", d, range(LARGE_MAX_EXTRA_SPATIAL[rank] + 1))
        plan.extra_drawn = True
    if depthwise:
        multiplier = draw(st.integers(1, 2))
        _draw_channels(draw, plan, budget, LARGE_CHANNEL_COUNTS, lambda c: (c, multiplier * c, c))
        if not plan.fits(budget):  # even one channel with the multiplier is too much for this budget
            plan.in_channels = plan.out_channels = plan.groups = 1
        return plan
    groups = draw(st.integers(1, LARGE_MAX_GROUPS))
    per_in = _draw_channels(draw, plan, budget, LARGE_CHANNEL_COUNTS, lambda c: (groups * c, groups, groups))
    _draw_channels(draw, plan, budget, LARGE_CHANNEL_COUNTS, lambda c: (groups * per_in, groups * c, groups))
    return plan


def _cut_to_budget(layer: ModelLayer, plan: _Plan, budget: SizeBudget) -> tuple[int, int, int] | None:
    """The layer's (groups, channels in, channels out per group) halved until the plan fits `budget`: the groups
    first (a depthwise layer keeps one channel per group), then the channels per group. None when one channel each
    does not fit."""
    groups, per_in, per_out = layer.groups, layer.in_channels // layer.groups, layer.out_channels // layer.groups
    while True:
        plan.in_channels, plan.out_channels, plan.groups = groups * per_in, groups * per_out, groups
        if plan.fits(budget):
            return groups, per_in, per_out
        if groups > 1:
            groups //= 2
        elif per_in > 1 or per_out > 1:
            per_in, per_out = max(1, per_in // 2), max(1, per_out // 2)
        else:
            return None


def _model_plan(draw: st.DrawFn, op: str, budget: SizeBudget) -> _Plan | None:
    """A production layer of `op` (strategies.model_layers) with its window, its channels cut to `budget` and
    nudged by one (groups for a grouped layer, input channels otherwise: a vector width's neighbour). None when
    the table has no layer of `op` that fits."""
    layers = layers_of(op)
    if not layers:
        return None
    layer = draw(st.sampled_from(layers))
    transposed = op in TRANSPOSED_OPS
    padding = layer.padding_spec()
    if transposed and padding.kind != "symmetric":
        padding = Padding("symmetric", tuple((0, 0) for _ in layer.kernel))
    plan = _Plan(len(layer.kernel), 1, 1, 1, padding.kind, transposed)
    plan.kernel, plan.stride, plan.dilation = list(layer.kernel), list(layer.stride), list(layer.dilations())
    if padding.pairs:
        plan.pads = list(padding.pairs)
    cut = _cut_to_budget(layer, plan, budget)
    if cut is None:
        return None
    groups, per_in, per_out = cut
    if groups > 1:
        shape: ChannelShape = lambda n: (n * per_in, n * per_out, n)  # noqa: E731
        base = groups
    else:
        shape, base = (lambda n: (n, per_out, 1)), per_in
    _draw_channels(draw, plan, budget, [base + nudge for nudge in (0, 1, -1) if base + nudge >= 1], shape)
    return plan


def _draw_window(draw: st.DrawFn, plan: _Plan, budget: SizeBudget, box: _Box) -> None:
    """Draw each dim's kernel, dilation, stride, padding (and a transposed op's output padding) from `box`."""
    pad_values = range(box.pad + 1)
    # Explicit pads may crop (XLA's negative padding); the order 0, 1, -1, 2, -2, ... shrinks towards 0.
    explicit_values = [0] + [v for p in range(1, box.pad + 1) for v in (p, -p) if v >= -MAX_CROP]
    for d in range(plan.rank):
        if not plan.kernel_drawn:
            _draw_fitting(draw, plan, budget, "kernel", d, range(1, box.kernel[plan.rank] + 1))
        _draw_fitting(draw, plan, budget, "dilation", d, range(1, box.dilation + 1))
        if plan.transposed:  # a transposed conv's stride widens its output: it has to fit the budget
            _draw_fitting(draw, plan, budget, "stride", d, range(1, box.stride + 1))
        else:
            plan.stride[d] = draw(st.integers(1, box.stride))
        if plan.padding_kind == "symmetric":
            _draw_fitting(draw, plan, budget, "pads", d, [(p, p) for p in pad_values])
        elif plan.padding_kind == "explicit":
            low, _ = _draw_fitting(draw, plan, budget, "pads", d, [(p, 0) for p in explicit_values])
            _draw_fitting(draw, plan, budget, "pads", d, [(low, p) for p in explicit_values])
        if plan.transposed:  # torch: below stride or dilation
            _draw_fitting(draw, plan, budget, "output_padding", d, range(max(plan.stride[d], plan.dilation[d])))


@st.composite
def conv_configs(
    draw: st.DrawFn,
    *,
    ops: Sequence[str] = OPS,
    dtypes: Sequence[str] = DTYPES,
    devices: Sequence[str] = ("cpu",),
    budget: SizeBudget | None = None,
    layouts: Sequence[str] = LAYOUTS,
    padding_modes: Sequence[str] = PADDING_MODES,
    gradients: Sequence[str] = ("",),
    sizes: Sequence[str] | None = None,
    backward_one_in: int | None = None,
) -> ConvConfig:
    """Valid forward conv configurations within `budget` (default: from $CONVFUZZ_BUDGET).

    `gradients` are what a case may compute: '' the op itself, or the gradient with respect to 'input', 'weight'
    or 'bias' (drawn in that order of preference, so a failing gradient shrinks to the op where the op fails):
    each equally often, or with `backward_one_in`, the op itself except in one case in that many.

    Non-zero padding modes need symmetric padding: a case whose padding is not symmetric keeps zeros, so a
    campaign narrowed to one mode still draws ordinary cases alongside.

    `sizes` are the size classes drawn (strategies.sizes; default: from $CONVFUZZ_SIZES, all when unset): small
    cases within `budget`, large ones and production model layers within LARGE_SCALE times it.

    The budget counts logical tensor elements; a strided or sliced layout's buffer holds up to twice as many.
    """
    budget = budget or SizeBudget.from_environment()
    op = draw(st.sampled_from(ops))
    rank = rank_of(op)
    transposed = op in TRANSPOSED_OPS
    # A campaign narrowed to gradients draws real dtypes only (ConvConfig: no complex gradients).
    dtype = draw(st.sampled_from(dtypes if "" in gradients else _real_dtypes(dtypes)))
    device = draw(st.sampled_from(list(devices)))
    size_class = _draw_size_class(draw, sizes_from_environment() if sizes is None else sizes)
    if size_class == "small":
        plan = _small_plan(draw, rank, transposed, budget)
    else:
        budget = large_budget(budget)
        model = _model_plan(draw, op, budget) if size_class == "models" else None
        if model is None:  # no production layer of this op fits: a large case instead
            size_class, plan = "large", _large_plan(draw, rank, transposed, budget)
        else:
            plan = model
    box = SMALL_BOX if size_class == "small" else LARGE_BOX
    if size_class != "models":
        _draw_window(draw, plan, budget, box)

    padding_mode = _draw_padding_mode(draw, plan, budget, padding_modes)
    _draw_fitting(draw, plan, budget, "batch", 0, range(1, box.batch + 1))
    for d in range(rank if not plan.extra_drawn else 0):
        _draw_fitting(draw, plan, budget, "extra", d, range(box.extra[rank] + 1))

    bias = True if tuple(gradients) == ("bias",) else draw(st.booleans())
    # Complex cases compute the op itself (ConvConfig: no complex gradients), whatever gradients allow.
    drawable = [g for g in gradients if g != "bias" or bias] if dtype not in COMPLEX_DTYPES else [""]
    if backward_one_in is not None and "" in drawable and len(drawable) > 1:
        # One case in backward_one_in is a gradient; the choice shrinks to the op itself.
        backward = draw(st.integers(0, backward_one_in - 1)) == backward_one_in - 1
        gradient = draw(st.sampled_from([g for g in drawable if g])) if backward else ""
    else:
        gradient = draw(st.sampled_from(drawable))
    spatial = plan.spatial()
    # Half of the cases keep the plain layout (the choice shrinks to it); the rest take one of the others.
    usable = [layout for layout in layouts_for(rank) if layout in layouts]
    plain = "contiguous" in usable
    others = [layout for layout in usable if layout != "contiguous"]
    layout = "contiguous" if not others or (plain and not draw(st.booleans())) else draw(st.sampled_from(others))
    pairs = tuple(plan.pads) if plan.padding_kind in ("symmetric", "explicit") else ()
    padding = Padding(plan.padding_kind, pairs)
    # An empty batch (N = 0) now and then: every framework must return an empty output, not fail. Drawn last so
    # the sizes are those of an ordinary case, and shrinking goes back to the drawn batch.
    batch = 0 if draw(st.integers(0, EMPTY_BATCH_ONE_IN - 1)) == EMPTY_BATCH_ONE_IN - 1 else plan.batch[0]
    config = ConvConfig(
        op=op,
        batch=batch,
        in_channels=plan.in_channels,
        out_channels=plan.out_channels,
        groups=plan.groups,
        spatial=spatial,
        kernel=tuple(plan.kernel),
        stride=tuple(plan.stride),
        dilation=tuple(plan.dilation),
        padding=padding,
        bias=bias,
        dtype=dtype,
        device=device,
        layout=layout,
        padding_mode=padding_mode,
        output_padding=tuple(plan.output_padding) if transposed else (),
        gradient=gradient,
    )
    config.validate()
    return config if gradient else _maybe_batch_grouped(draw, config, budget)


def _maybe_batch_grouped(draw: st.DrawFn, config: ConvConfig, budget: SizeBudget) -> ConvConfig:
    """One plain forward case in BATCH_GROUPS_ONE_IN becomes an XLA batch_group_count case (lax-only, judged by
    JAX and the reference): 2 or 3 batch groups, the batch and output channels scaled to multiples of them.
    Drawn last, and shrinks back to the plain case."""
    plain = not config.transposed and config.groups == 1 and config.layout == "contiguous" and config.batch > 0
    if not plain or config.padding_mode != "zeros" or draw(st.integers(0, BATCH_GROUPS_ONE_IN - 1)) != 0:
        return config
    groups = draw(st.integers(2, 3))
    grouped = replace(
        config,
        batch=groups * config.batch,
        out_channels=groups * -(-config.out_channels // groups),
        batch_groups=groups,
    )
    shapes = [grouped.input_shape(), grouped.weight_shape(), grouped.output_shape()]
    if not budget.admits(shapes, grouped.multiply_adds()):
        return config
    grouped.validate()
    return grouped


def beyond_small_class(cfg: ConvConfig, budget: SizeBudget) -> bool:
    """True when `cfg` is no case the small size class draws within `budget`: a window parameter, length or batch
    beyond its ranges, more groups, or a tensor or multiply-add count beyond the budget."""
    pads = [abs(p) for pair in cfg.pad_pairs() for p in pair] if cfg.padding.kind in ("symmetric", "explicit") else []
    window = (
        max(cfg.kernel) > MAX_KERNEL or max(cfg.dilation) > MAX_DILATION or max(cfg.stride) > MAX_STRIDE
        or max(pads, default=0) > MAX_PAD or cfg.groups > MAX_GROUPS
    )
    # Longer than any small case's dim (its dilated kernel and MAX_EXTRA_SPATIAL more), or a bigger batch (batch
    # groups multiply it by up to 3): a 1-D sequence of 1,283 fits the budget but no small draw.
    lengths = any(
        n > d * (k - 1) + 1 + MAX_EXTRA_SPATIAL for n, k, d in zip(cfg.spatial, cfg.kernel, cfg.dilation, strict=True)
    )
    window = window or lengths or cfg.batch > 3 * MAX_BATCH
    shapes = [cfg.input_shape(), cfg.weight_shape(), cfg.output_shape()]
    return window or not budget.admits(shapes, cfg.multiply_adds())


@st.composite
def value_families(draw: st.DrawFn, *, dtype: str, size: int) -> ValueFamily:
    """A value family for a tensor of `size` elements in `dtype`, shrinking towards zeros/ones."""
    name = draw(st.sampled_from(FAMILY_NAMES))
    if name == "one_hot":
        return ValueFamily(name, index=draw(st.integers(0, max(size - 1, 0))))
    if name == "small_int":
        return ValueFamily(name, seed=draw(st.integers(0, 2**16)))
    if name in ("uniform", "normal"):
        return ValueFamily(name, seed=draw(st.integers(0, 2**16)), scale=draw(st.sampled_from(SCALES[dtype])))
    return ValueFamily(name)


def _tensor_shapes(config: ConvConfig) -> dict[str, tuple[int, ...]]:
    shapes = {"x": config.input_shape(), "w": config.weight_shape()}
    if config.bias:
        shapes["b"] = (config.out_channels,)
    if config.gradient:  # the output cotangent, drawn and shrunk like the other values
        shapes["g"] = config.output_shape()
    return shapes


@st.composite
def value_sets(draw: st.DrawFn, *, config: ConvConfig, nonfinite: bool = False) -> dict[str, ValueFamily]:
    """One value family per input tensor (x, w and, with bias, b) of `config`. With `nonfinite`, half the inputs
    x hold one inf, -inf or NaN (never w or b: a zero-padded input times an infinite weight is 0 * inf, whose
    result depends on whether an implementation multiplies the padding at all). Gradient and complex cases stay
    finite (a complex product of an infinite value makes NaN or inf by rules of its own)."""
    nonfinite = nonfinite and not config.gradient and config.dtype not in COMPLEX_DTYPES
    families = {}
    for name, shape in _tensor_shapes(config).items():
        size = _prod(shape)
        if name == "x" and nonfinite and draw(st.booleans()):
            families[name] = ValueFamily(
                NONFINITE_FAMILY, seed=draw(st.integers(0, 2**16)), index=draw(st.integers(0, max(size - 1, 0))),
                special=draw(st.sampled_from(list(SPECIAL_VALUES))),
            )
        else:
            families[name] = draw(value_families(dtype=config.dtype, size=size))
    return families


def case_from(config: ConvConfig, families: dict[str, ValueFamily]) -> ConvCase:
    """The case whose tensors `families` make for `config`."""
    arrays = {name: families[name].make(shape, config.dtype) for name, shape in _tensor_shapes(config).items()}
    return ConvCase(
        config=config,
        x=arrays["x"],
        w=arrays["w"],
        b=arrays.get("b"),
        families={name: fam.describe() for name, fam in families.items()},
        g=arrays.get("g"),
    )


def _checked_configs(
    ops: Sequence[str], dtypes: Sequence[str], devices: Sequence[str], budget: SizeBudget | None,
    layouts: Sequence[str] = LAYOUTS,
    padding_modes: Sequence[str] = PADDING_MODES,
    gradients: Sequence[str] = ("",),
    sizes: Sequence[str] | None = None,
    backward_one_in: int | None = None,
) -> st.SearchStrategy[ConvConfig]:
    if not devices:
        raise ValueError("devices must not be empty")
    ops = _check_choices("ops", ops, OPS)
    layouts = _check_choices("layouts", layouts, LAYOUTS)
    possible = ops_with_layouts(ops, layouts)
    if not possible:
        raise ValueError(f"no op of {ops} can have a layout of {layouts}")
    dtypes = _check_choices("dtypes", dtypes, ALL_DTYPES)
    if "" not in gradients:
        _real_dtypes(dtypes)
    return conv_configs(
        ops=possible,
        dtypes=dtypes, devices=devices, budget=budget, layouts=layouts,
        padding_modes=_check_choices("padding_modes", padding_modes, PADDING_MODES),
        gradients=_check_choices("gradients", gradients, ("", *GRADIENTS)),
        sizes=sizes_from_environment() if sizes is None else check_size_classes(sizes),
        backward_one_in=backward_one_in,
    )


@st.composite
def conv_cases(
    draw: st.DrawFn,
    *,
    ops: Sequence[str] = OPS,
    dtypes: Sequence[str] = DTYPES,
    devices: Sequence[str] = ("cpu",),
    budget: SizeBudget | None = None,
    layouts: Sequence[str] = LAYOUTS,
    padding_modes: Sequence[str] = PADDING_MODES,
    gradients: Sequence[str] = ("",),
    sizes: Sequence[str] | None = None,
    backward_one_in: int | None = None,
) -> ConvCase:
    """Convolution cases: a valid in-budget config plus input, weight and bias values (and a gradient case's
    output cotangent)."""
    config = draw(_checked_configs(
        ops, dtypes, devices, budget, layouts, padding_modes, gradients, sizes, backward_one_in
    ))
    return case_from(config, draw(value_sets(config=config)))


@st.composite
def conv_case_groups(
    draw: st.DrawFn,
    *,
    ops: Sequence[str] = OPS,
    dtypes: Sequence[str] = DTYPES,
    devices: Sequence[str] = ("cpu",),
    budget: SizeBudget | None = None,
    max_value_sets: int = 3,
    layouts: Sequence[str] = LAYOUTS,
    padding_modes: Sequence[str] = PADDING_MODES,
    nonfinite: bool = False,
    gradients: Sequence[str] = ("",),
    sizes: Sequence[str] | None = None,
    backward_one_in: int | None = None,
) -> list[ConvCase]:
    """One configuration with 1 to `max_value_sets` different value sets.

    XLA compiles every new shape once (~50 ms on a small CPU) and then runs it in well under a millisecond, so
    every extra value set for the same configuration is a nearly free differential check. Shrinking deletes
    the extra sets, so a minimal failing group holds a single case.
    """
    config = draw(_checked_configs(
        ops, dtypes, devices, budget, layouts, padding_modes, gradients, sizes, backward_one_in
    ))
    described = st.lists(
        value_sets(config=config, nonfinite=nonfinite),
        min_size=1,
        max_size=max_value_sets,
        unique_by=lambda families: tuple(f.describe() for f in families.values()),
    )
    return [case_from(config, families) for families in draw(described)]
