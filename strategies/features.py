"""The structural features of a convolution configuration, each defined once.

Three readers name them in their own words: the campaign's coverage counts ('groups>1'), the grouping of findings
into bugs ('groups'; fuzz.store.bugs) and an issue's title ('groups=3'; fuzz.store.script). What counts as grouped,
strided or padded is decided here for all three.
"""

from __future__ import annotations

from convfuzz.strategies.case import ConvConfig


def grouped(cfg: ConvConfig) -> bool:
    """More than one feature group."""
    return cfg.groups > 1


def batch_grouped(cfg: ConvConfig) -> bool:
    """More than one batch group (lax's batch_group_count)."""
    return cfg.batch_groups > 1


def negatively_padded(cfg: ConvConfig) -> bool:
    """Some side of some dim has a negative pad (XLA crops there)."""
    return any(lo < 0 or hi < 0 for lo, hi in cfg.pad_pairs())


def padded(cfg: ConvConfig) -> bool:
    """Some side of some dim has a positive pad."""
    return any(lo > 0 or hi > 0 for lo, hi in cfg.pad_pairs())


def asymmetrically_padded(cfg: ConvConfig) -> bool:
    """Some dim is padded differently at its two ends."""
    return any(lo != hi for lo, hi in cfg.pad_pairs())


def strided(cfg: ConvConfig) -> bool:
    """Some stride exceeds 1 (a transposed op's stride dilates its input instead)."""
    return any(s > 1 for s in cfg.stride)


def stride_beyond_kernel(cfg: ConvConfig) -> bool:
    """Some stride exceeds its kernel size: windows skip input elements."""
    return any(s > k for s, k in zip(cfg.stride, cfg.kernel, strict=True))


def dilated(cfg: ConvConfig) -> bool:
    """Some kernel dilation exceeds 1."""
    return any(d > 1 for d in cfg.dilation)


def output_padded(cfg: ConvConfig) -> bool:
    """A transposed op with a non-zero output_padding."""
    return cfg.transposed and any(cfg.output_padding)


def padding_mode_other_than_zeros(cfg: ConvConfig) -> bool:
    """Reflect, replicate or circular padding."""
    return cfg.padding_mode != "zeros"


def non_contiguous_layout(cfg: ConvConfig) -> bool:
    """A memory layout other than contiguous (channels-last, strided input, transposed or sliced weight)."""
    return cfg.layout != "contiguous"


def kernel_spans_padded_input(cfg: ConvConfig) -> bool:
    """Some dim's dilated kernel covers the whole padded input: one window only."""
    return any(
        n + lo + hi == d * (k - 1) + 1
        for n, (lo, hi), d, k in zip(cfg.spatial, cfg.pad_pairs(), cfg.dilation, cfg.kernel, strict=True)
    )
