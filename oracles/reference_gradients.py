"""Float64 gradients of the reference convolutions, written from the definitions (not by differentiating code).

A forward conv reads each padded-input element through a kernel tap into an output element, so with output
cotangent g: the input gradient scatters g times the weight back onto the padded input, then folds the padding
back onto the input (a reflected or wrapped copy adds to the element it copies; a zero pad drops out); the weight
gradient correlates the padded input with g; the bias gradient sums g over batch and space. A transposed conv
spreads input element j to output j*stride + k*dilation and crops the pads, so its input gradient reads g (with
the crop undone) through the same windows and its weight gradient pairs x with those windows.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from convfuzz.oracles.reference import NUMPY_PAD_MODES, pad_spatial, window_view

Array64 = npt.NDArray[np.float64]


def padded_source(size: int, pads: tuple[int, int], mode: str) -> npt.NDArray[np.int64]:
    """For each position of a dim of `size` padded by (low, high) in torch padding `mode` (negative pads crop):
    the input index it holds, or -1 for a zero of the padding."""
    low, high = pads
    grow = (max(low, 0), max(high, 0))
    indices = np.arange(size)
    if mode == "zeros":
        padded = np.pad(indices, grow, mode="constant", constant_values=-1)
    else:
        padded = np.pad(indices, grow, mode=NUMPY_PAD_MODES[mode])
    cropped: npt.NDArray[np.int64] = padded[max(-low, 0) : padded.size - max(-high, 0)].astype(np.int64)
    return cropped


def fold_padding(padded: Array64, sizes: Sequence[int], pads: Sequence[tuple[int, int]], mode: str) -> Array64:
    """The adjoint of padding (N, C, *sizes) to `padded`'s shape: each padded position adds to the input element
    it is a copy of. Padding acts on each dim alone, so the adjoint does too."""
    result = np.asarray(padded, dtype=np.float64)
    for d, (size, pair) in enumerate(zip(sizes, pads, strict=True)):
        source = padded_source(size, pair, mode)
        moved = np.moveaxis(result, 2 + d, -1)
        folded = np.zeros((*moved.shape[:-1], size))
        for position, index in enumerate(source):
            if index >= 0:
                folded[..., index] += moved[..., position]
        result = np.moveaxis(folded, -1, 2 + d)
    return result


def _letters(rank: int) -> tuple[str, str]:
    letters = string.ascii_lowercase
    return letters[:rank], letters[rank : 2 * rank]


def conv_input_gradient(
    g: Array64, w: Array64, input_shape: Sequence[int], stride: Sequence[int], pads: Sequence[tuple[int, int]],
    dilation: Sequence[int], groups: int, padding_mode: str = "zeros",
) -> Array64:
    """d<g, conv(x, w)>/dx for a forward conv with w (C_out, C_in/groups, *kernel) and input of `input_shape`."""
    n, c_in, *sizes = input_shape
    c_out, per_group_in, *kernel = w.shape
    rank = len(kernel)
    out_sizes = g.shape[2:]
    outs, taps = _letters(rank)
    grouped_g = np.asarray(g, dtype=np.float64).reshape(n, groups, c_out // groups, *out_sizes)
    grouped_w = np.asarray(w, dtype=np.float64).reshape(groups, c_out // groups, per_group_in, *kernel)
    # What each window element (N, G, I, *out, *kernel) receives from the outputs it fed.
    per_window = np.einsum(f"NGO{outs},GOI{taps}->NGI{outs}{taps}", grouped_g, grouped_w)
    padded_sizes = [size + lo + hi for size, (lo, hi) in zip(sizes, pads, strict=True)]
    padded = np.zeros((n, groups, per_group_in, *padded_sizes))
    for tap in np.ndindex(*kernel):
        target = tuple(
            slice(tap[d] * dilation[d], tap[d] * dilation[d] + (out_sizes[d] - 1) * stride[d] + 1, stride[d])
            for d in range(rank)
        )
        padded[(slice(None), slice(None), slice(None), *target)] += per_window[(..., *tap)]
    return fold_padding(padded.reshape(n, c_in, *padded_sizes), sizes, pads, padding_mode)


def conv_weight_gradient(
    x: Array64, g: Array64, kernel: Sequence[int], stride: Sequence[int], pads: Sequence[tuple[int, int]],
    dilation: Sequence[int], groups: int, padding_mode: str = "zeros",
) -> Array64:
    """d<g, conv(x, w)>/dw for a forward conv: each weight tap correlates its window of the padded input with g."""
    n, c_in = x.shape[:2]
    c_out = g.shape[1]
    rank = len(kernel)
    outs, taps = _letters(rank)
    windows = window_view(pad_spatial(np.asarray(x, dtype=np.float64), pads, padding_mode), kernel, stride, dilation)
    grouped_x = windows.reshape(n, groups, c_in // groups, *windows.shape[2:])
    grouped_g = np.asarray(g, dtype=np.float64).reshape(n, groups, c_out // groups, *g.shape[2:])
    result = np.einsum(f"NGI{outs}{taps},NGO{outs}->GOI{taps}", grouped_x, grouped_g)
    return np.asarray(result.reshape(c_out, c_in // groups, *kernel))


def bias_gradient(g: Array64) -> Array64:
    """d<g, conv(x, w) + b>/db: g summed over batch and space, per output channel."""
    axes = (0, *range(2, g.ndim))
    return np.asarray(np.asarray(g, dtype=np.float64).sum(axis=axes))


def _uncropped_windows(
    g: Array64, sizes: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
    pads: Sequence[tuple[int, int]], dilation: Sequence[int],
) -> Array64:
    """A transposed conv's g with its crop undone (zeros where the pads were cut off), as windows
    (N, C_out, *sizes, *kernel): window j holds the output positions j*stride + k*dilation input j wrote to."""
    grown = np.pad(np.asarray(g, dtype=np.float64), [(0, 0), (0, 0)] + [(lo, hi) for lo, hi in pads])
    windows = window_view(grown, kernel, stride, dilation)
    # With output_padding >= stride the full output holds one more window than there are inputs.
    return windows[(slice(None), slice(None), *(slice(0, size) for size in sizes))]


def conv_transpose_input_gradient(
    g: Array64, w: Array64, input_shape: Sequence[int], stride: Sequence[int], pads: Sequence[tuple[int, int]],
    dilation: Sequence[int], groups: int,
) -> Array64:
    """d<g, conv_transpose(x, w)>/dx with torch's transposed weight w (C_in, C_out/groups, *kernel)."""
    n, c_in, *sizes = input_shape
    _, per_group_out, *kernel = w.shape
    outs, taps = _letters(len(kernel))
    windows = _uncropped_windows(g, sizes, kernel, stride, pads, dilation)
    grouped = windows.reshape(n, groups, per_group_out, *windows.shape[2:])
    grouped_w = np.asarray(w, dtype=np.float64).reshape(groups, c_in // groups, per_group_out, *kernel)
    result = np.einsum(f"NGO{outs}{taps},GIO{taps}->NGI{outs}", grouped, grouped_w)
    return np.asarray(result.reshape(n, c_in, *sizes))


def conv_transpose_weight_gradient(
    x: Array64, g: Array64, kernel: Sequence[int], stride: Sequence[int], pads: Sequence[tuple[int, int]],
    dilation: Sequence[int], groups: int,
) -> Array64:
    """d<g, conv_transpose(x, w)>/dw: weight tap k pairs input element j with output j*stride + k*dilation."""
    n, c_in, *sizes = x.shape
    c_out = g.shape[1]
    outs, taps = _letters(len(kernel))
    windows = _uncropped_windows(g, sizes, kernel, stride, pads, dilation)
    grouped = windows.reshape(n, groups, c_out // groups, *windows.shape[2:])
    grouped_x = np.asarray(x, dtype=np.float64).reshape(n, groups, c_in // groups, *sizes)
    result = np.einsum(f"NGI{outs},NGO{outs}{taps}->GIO{taps}", grouped_x, grouped)
    return np.asarray(result.reshape(c_in, c_out // groups, *kernel))
