"""Size classes: how big a drawn convolution may get, beyond the small box most cases live in.

Convolution libraries pick their kernel by shape (oneDNN's jit depthwise, brgconv, gemm and reference paths by
kernel size, channel blocking and stride; XLA and torch by size), and real bugs sit on the paths only big or odd
shapes select. Three classes of cases are drawn:

- small: kernels up to 7, up to 8 channels per group, the size budget as given. Most cases, and where shrinking
  goes first: a bug that shows on a small case is reported as one.
- large: kernels up to 31 per dim (64 in 1-D), channel counts up to 513 weighted towards vector-width multiples
  and their neighbours, 1-D lengths in the thousands, strides to 16, dilations to 24, paddings to 15, batch to 8,
  within a budget LARGE_SCALE times the small one (elements per tensor and multiply-adds alike).
- models: a named production layer (strategies.model_layers) with its kernel, stride, padding and dilation,
  channels cut to fit the large budget and nudged by one, spatial sizes and batch drawn.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from convfuzz.strategies.budget import SizeBudget

SIZE_CLASSES: tuple[str, ...] = ("small", "large", "models")
# The size classes drawn when neither a campaign (--sizes) nor a caller names them: a comma list, or all when unset.
SIZES_ENV = "CONVFUZZ_SIZES"
# Draw weights (out of their sum): small cases dominate what is drawn. Listed in SIZE_CLASSES order, which is also
# the order shrinking prefers.
SIZE_CLASS_WEIGHTS: dict[str, int] = {"small": 5, "large": 2, "models": 1}

# The large classes' budget is this many times the small one: 64Ki elements per tensor and 4Mi multiply-adds at
# the default budget, which keeps the float64 reference and its bound in milliseconds and a case's arrays (the
# reference's window matrix included) within tens of MiB.
LARGE_SCALE = 16

# Channels per group the large class draws: small counts first (shrinking goes there), then each vector width of
# AVX2/AVX-512 blocking (8, 16, 32, 64 ...) with its neighbours, where tail loops and blocked loops part ways.
LARGE_CHANNEL_COUNTS: tuple[int, ...] = (
    1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65, 96, 127, 128, 129, 255, 256, 257, 511, 512, 513,
)
LARGE_MAX_GROUPS = 4
LARGE_MAX_KERNEL = {1: 64, 2: 31, 3: 31}
LARGE_MAX_DILATION = 24
LARGE_MAX_STRIDE = 16
LARGE_MAX_PAD = 15
LARGE_MAX_BATCH = 8
# Input lengths beyond the smallest that still gives an output: 1-D sequences run to thousands (audio, Mamba).
LARGE_MAX_EXTRA_SPATIAL = {1: 4096, 2: 64, 3: 16}


def large_budget(budget: SizeBudget) -> SizeBudget:
    """The budget of the large and models classes: `budget` times LARGE_SCALE."""
    return SizeBudget(budget.max_elements * LARGE_SCALE, budget.max_multiply_adds * LARGE_SCALE)


def check_size_classes(sizes: Sequence[str]) -> tuple[str, ...]:
    """`sizes` as a tuple in SIZE_CLASSES order; ValueError naming a bad or missing class."""
    chosen = tuple(sizes)
    if not chosen:
        raise ValueError("sizes must not be empty")
    for name in chosen:
        if name not in SIZE_CLASSES:
            raise ValueError(f"sizes: {name!r} is not one of {SIZE_CLASSES}")
    return tuple(name for name in SIZE_CLASSES if name in chosen)


def sizes_from_environment() -> tuple[str, ...]:
    """The size classes $CONVFUZZ_SIZES names (a comma list), or all of them when it is unset or empty; ValueError
    naming a bad one."""
    raw = os.environ.get(SIZES_ENV, "").strip()
    if not raw:
        return SIZE_CLASSES
    try:
        return check_size_classes([name.strip() for name in raw.split(",") if name.strip()])
    except ValueError as exc:
        raise ValueError(f"{SIZES_ENV}={raw!r}: {exc}") from None


def size_class_slots(sizes: Sequence[str]) -> tuple[str, ...]:
    """One slot per unit of weight of each class in `sizes`, smallest class first: drawing a slot index uniformly
    draws the classes by SIZE_CLASS_WEIGHTS, and an index shrinks towards the small class."""
    return tuple(name for name in check_size_classes(sizes) for _ in range(SIZE_CLASS_WEIGHTS[name]))
