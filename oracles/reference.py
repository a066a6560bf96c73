"""The float64 NumPy reference convolution, written from the definition.

Built from small stages, each testable alone: pad (negative pads crop), window view, grouped contraction."""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

Array64 = npt.NDArray[np.float64]


def widened(values: object) -> Array64:
    """`values` as float64, or as complex128 when they are complex (a complex64/complex128 case): the widest
    NumPy type of their kind, which holds every value of the fuzzed dtypes exactly."""
    array = np.asarray(values)
    wide: Array64 = array.astype(np.complex128 if np.iscomplexobj(array) else np.float64)
    return wide


# torch's padding_mode names -> NumPy's np.pad modes (the same rules: reflect leaves the edge out, replicate
# repeats it, circular wraps around).
NumpyPadMode = Literal["constant", "reflect", "edge", "wrap"]
NUMPY_PAD_MODES: dict[str, NumpyPadMode] = {
    "zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"
}


def pad_spatial(x: Array64, pads: Sequence[tuple[int, int]], mode: str = "zeros") -> Array64:
    """Pad the trailing spatial dims of (N, C, *spatial) by (low, high) pairs; negative pads crop.

    `mode` is a torch padding_mode: zeros, reflect, replicate or circular.
    """
    grow = [(0, 0), (0, 0)] + [(max(lo, 0), max(hi, 0)) for lo, hi in pads]
    padded = np.pad(x, grow, mode=NUMPY_PAD_MODES[mode])
    crop = [slice(None), slice(None)] + [
        slice(max(-lo, 0), padded.shape[2 + d] - max(-hi, 0)) for d, (lo, hi) in enumerate(pads)
    ]
    cropped: Array64 = padded[tuple(crop)]
    return cropped


def window_view(
    x: Array64, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]
) -> Array64:
    """Read-only view (N, C, *out, *kernel) of every dilated, strided window of padded (N, C, *spatial)."""
    rank = len(kernel)
    out = [(x.shape[2 + d] - dilation[d] * (kernel[d] - 1) - 1) // stride[d] + 1 for d in range(rank)]
    if min(out, default=1) < 1:
        raise ValueError(f"kernel {tuple(kernel)} with dilation {tuple(dilation)} exceeds input {x.shape[2:]}")
    spatial_strides = x.strides[2:]
    return np.lib.stride_tricks.as_strided(
        x,
        shape=(*x.shape[:2], *out, *kernel),
        strides=(
            *x.strides[:2],
            *(spatial_strides[d] * stride[d] for d in range(rank)),
            *(spatial_strides[d] * dilation[d] for d in range(rank)),
        ),
        writeable=False,
    )


# Above this many products per (group, kernel tap) pair of channels, one contraction over every window at once is
# faster (BLAS over channels x kernel); at or below it (depthwise and narrow groups), the window einsum copies the
# whole window view - N * C_in * out * kernel elements, 500 MB for a 31x31 depthwise conv over 64 channels of 32x32 -
# and takes seconds, while summing tap by tap copies nothing and takes milliseconds (bench/reference_speed.py).
TAP_BY_TAP_CHANNELS = 64


def grouped_contraction(windows: Array64, w: Array64, groups: int) -> Array64:
    """Sum windows (N, C_in, *out, *kernel) against w (C_out, C_in/groups, *kernel) group by group."""
    c_in = windows.shape[1]
    c_out = w.shape[0]
    if c_in % groups or c_out % groups or w.shape[1] * groups != c_in:
        raise ValueError(f"groups={groups} does not match input channels {c_in} and weight {w.shape}")
    if (c_in // groups) * (c_out // groups) <= TAP_BY_TAP_CHANNELS:
        return contraction_by_tap(windows, w, groups)
    return contraction_of_windows(windows, w, groups)


def contraction_of_windows(windows: Array64, w: Array64, groups: int) -> Array64:
    """grouped_contraction as one einsum over channels and kernel taps at once."""
    n, c_in = windows.shape[:2]
    rank = w.ndim - 2
    c_out = w.shape[0]
    letters = string.ascii_lowercase
    out_idx, ker_idx = letters[:rank], letters[rank : 2 * rank]
    grouped_x = windows.reshape(n, groups, c_in // groups, *windows.shape[2:])
    grouped_w = w.reshape(groups, c_out // groups, *w.shape[1:])
    # N G I out kernel, G O I kernel -> N G O out
    spec = f"NGI{out_idx}{ker_idx},GOI{ker_idx}->NGO{out_idx}"
    result: Array64 = np.einsum(spec, grouped_x, grouped_w, optimize=True)
    return result.reshape(n, c_out, *result.shape[3:])


def contraction_by_tap(windows: Array64, w: Array64, groups: int) -> Array64:
    """grouped_contraction summed one kernel tap at a time: the same products added in another order."""
    n, c_in = windows.shape[:2]
    rank = w.ndim - 2
    c_out = w.shape[0]
    out_shape = windows.shape[2 : 2 + rank]
    grouped_w = w.reshape(groups, c_out // groups, c_in // groups, *w.shape[2:])
    total = np.zeros((n, groups, c_out // groups, *out_shape), dtype=np.result_type(windows, w))
    for tap in np.ndindex(*w.shape[2:]):
        taken = windows[(..., *tap)].reshape(n, groups, c_in // groups, *out_shape)
        total += np.einsum("ngi...,goi->ngo...", taken, grouped_w[(..., *tap)])
    return total.reshape(n, c_out, *out_shape)


def conv_reference(
    x: Array64,
    w: Array64,
    b: Array64 | None,
    stride: Sequence[int],
    pads: Sequence[tuple[int, int]],
    dilation: Sequence[int],
    groups: int,
    padding_mode: str = "zeros",
) -> Array64:
    """Forward convolution (cross-correlation, torch/XLA convention) in float64 (complex128 for complex data)."""
    x64 = widened(x)
    w64 = widened(w)
    windows = window_view(pad_spatial(x64, pads, padding_mode), w64.shape[2:], stride, dilation)
    out = grouped_contraction(windows, w64, groups)
    if b is not None:
        out = out + widened(b).reshape(1, -1, *([1] * (out.ndim - 2)))
    return out


def conv_transpose_reference(
    x: Array64,
    w: Array64,
    b: Array64 | None,
    stride: Sequence[int],
    pads: Sequence[tuple[int, int]],
    output_padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
) -> Array64:
    """Transposed convolution in float64, from its definition as a scatter (not as a conv of a zero-stuffed input
    with a flipped kernel, which is how frameworks compute it): input element j of a dim adds x[j] * w[k] to
    output position j * stride + k * dilation; output_padding extends the high end; (low, high) pads are cut off.

    w is torch's (C_in, C_out/groups, *kernel).
    """
    x64 = widened(x)
    w64 = widened(w)
    n, c_in, *sizes = x64.shape
    kernel = w64.shape[2:]
    if c_in % groups or w64.shape[0] != c_in:
        raise ValueError(f"groups={groups} does not match input channels {c_in} and weight {w64.shape}")
    per_group_out = w64.shape[1]
    rank = len(kernel)
    full = [(sizes[d] - 1) * stride[d] + dilation[d] * (kernel[d] - 1) + 1 + output_padding[d] for d in range(rank)]
    out = np.zeros((n, groups, per_group_out, *full), dtype=np.result_type(x64, w64))
    grouped_x = x64.reshape(n, groups, c_in // groups, *sizes)
    grouped_w = w64.reshape(groups, c_in // groups, per_group_out, *kernel)
    for tap in np.ndindex(*kernel):
        # Every input element's contribution through this kernel tap: (N, G, O, *sizes).
        spread = np.einsum("ngi...,gio->ngo...", grouped_x, grouped_w[(..., *tap)])
        target = tuple(
            slice(tap[d] * dilation[d], tap[d] * dilation[d] + (sizes[d] - 1) * stride[d] + 1, stride[d])
            for d in range(rank)
        )
        out[(slice(None), slice(None), slice(None), *target)] += spread
    crop = tuple(slice(lo, full[d] - hi) for d, (lo, hi) in enumerate(pads))
    result: Array64 = out.reshape(n, groups * per_group_out, *full)[(slice(None), slice(None), *crop)]
    if b is not None:
        result = result + widened(b).reshape(1, -1, *([1] * rank))
    return result


def nonfinite_rule(
    conv: Callable[[Array64, Array64], Array64], x: Array64, w: Array64
) -> tuple[npt.NDArray[np.bool_], Array64]:
    """Where an input x holding inf/nan (w finite) makes the output non-finite under IEEE arithmetic, and the
    value there: (mask, values). `conv(a, k)` is the case's convolution without bias.

    A sum of products is NaN when a product is (x NaN, or x infinite times w = 0) or when +inf and -inf products
    meet; otherwise +inf or -inf when products of only that sign are infinite. The order of summation does not
    matter for any of this, so every correct implementation agrees; the products are counted with convolutions of
    0/1 indicator arrays (padding copies them exactly as it copies the values).
    """
    def count(x_part: npt.NDArray[np.bool_], w_part: npt.NDArray[np.bool_]) -> Array64:
        return conv(x_part.astype(np.float64), w_part.astype(np.float64))

    positive, negative = np.isposinf(x), np.isneginf(x)
    nan_products = count(np.isnan(x), np.ones_like(w, dtype=bool)) + count(positive | negative, w == 0)
    positive_products = count(positive, w > 0) + count(negative, w < 0)
    negative_products = count(positive, w < 0) + count(negative, w > 0)
    nan = (nan_products > 0) | ((positive_products > 0) & (negative_products > 0))
    mask = nan | (positive_products > 0) | (negative_products > 0)
    values = np.where(nan, np.nan, np.where(positive_products > 0, np.inf, -np.inf))
    return mask, values


def batch_grouped_reference(
    x: Array64,
    w: Array64,
    b: Array64 | None,
    stride: Sequence[int],
    pads: Sequence[tuple[int, int]],
    dilation: Sequence[int],
    batch_groups: int,
) -> Array64:
    """XLA's batch_group_count from its definition: the batch splits evenly into `batch_groups` contiguous chunks,
    chunk g is convolved with output channel group g of w, and the groups' outputs stand side by side along the
    channels (output batch: batch / batch_groups)."""
    chunks = np.split(widened(x), batch_groups, axis=0)
    kernels = np.split(widened(w), batch_groups, axis=0)
    biases = [None] * batch_groups if b is None else np.split(widened(b), batch_groups)
    outputs = [
        conv_reference(c, k, bias, stride, pads, dilation, 1)
        for c, k, bias in zip(chunks, kernels, biases, strict=True)
    ]
    return np.concatenate(outputs, axis=1)
