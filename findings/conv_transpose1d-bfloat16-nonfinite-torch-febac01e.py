#!/usr/bin/env python3
"""convfuzz finding conv_transpose1d-bfloat16-nonfinite-torch-febac01e: nonfinite, suspect(s): torch.

Seen as:
    out[0, 0, 0]=nan, but should be 0 (|err|=inf > bound=5.88e-38) [torch vs reference]

Seen with torch 2.13.0+cpu, jax 0.10.2, numpy 2.4.6 on Linux-6.18.44-fc-v509-x86_64-with-glibc2.36.
conv_transpose1d, dtype bfloat16, device cpu, layout contiguous; values drawn as {'x': 'nonfinite(seed=0, index=1, value=nan)', 'w': 'zeros'}.
Needs numpy plus the frameworks it compares (reference, torch, jax); a missing one is skipped.
Exit status: 1 while the discrepancy reproduces, 0 once it is gone, 2 when it cannot tell (a CUDA finding on a
machine whose torch and jax see no GPU, or a machine whose kernel-selecting facts, below, differ from these where
it no longer shows). A crash or hang is re-run in a child process of this script, so it is
reported instead of killing the script.
"""

from __future__ import annotations

import signal
import string
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import numpy.typing as npt

DTYPE = 'bfloat16'
DEVICE = 'cpu'
KIND = 'nonfinite'
CASE_TIMEOUT = 60
ORACLES = ['reference', 'torch', 'jax']
SUSPECTS = ['torch']
STRIDE = (2,)
PADS = ((0, 0),)
DILATION = (1,)
GROUPS = 1
PADDING_MODE = 'zeros'
OUTPUT_PADDING = (1,)
DEFECT = ''  # non-empty: a case of the invalid stream, which must be refused
GRADIENT = ''  # non-empty: the case computes the gradient with respect to this input at cotangent G
# Where each suspect ran, and the facts that chose its kernel there (oracles.kernel_facts): gone on a machine
# whose facts differ says nothing about the kernel that has the bug.
SUSPECT_DEVICES = {'torch': 'cpu'}
RECORDED_FACTS = {'torch': {'mkldnn': True, 'mkldnn_bf16': True}, 'note': 'inferred after the fact: found before facts were recorded, on an AMD EPYC whose torch ran bfloat16 convolutions in oneDNN (torch sends them there only where oneDNN supports bfloat16 on the CPU)'}
# Products summed into each result element (at most), and partial results a correct implementation may add up.
TERMS = 1
FOLDS = 1


def complex_array(real: np.ndarray, imag: np.ndarray) -> np.ndarray:
    """Complex values from their parts, set part by part (exactly, signed zeros included)."""
    joined = np.empty(real.shape, dtype=np.complex128)
    joined.real, joined.imag = real, imag
    return joined


# Input values in float64 (complex128 for a complex dtype); every one is exactly representable in bfloat16.
X = np.array([
    2.0, np.nan, 0.0, -2.0
]).reshape((2, 1, 2))
W = np.array([
    0.0
]).reshape((1, 1, 1))
B = None
G = None  # the output cotangent of a gradient case
# The tensors the result is a sum of products of (integers in all of them: the exact tier may apply).
RESULT_INPUTS = [X, W]
# Earlier calls (x, w, b, g) with the same parameters that the discrepancy needs first, oldest first.
PRECEDING = []

# ---- inlined from convfuzz oracles.reference ----
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


def grouped_contraction(windows: Array64, w: Array64, groups: int) -> Array64:
    """Sum windows (N, C_in, *out, *kernel) against w (C_out, C_in/groups, *kernel) group by group."""
    n, c_in = windows.shape[:2]
    rank = w.ndim - 2
    c_out = w.shape[0]
    if c_in % groups or c_out % groups or w.shape[1] * groups != c_in:
        raise ValueError(f"groups={groups} does not match input channels {c_in} and weight {w.shape}")
    letters = string.ascii_lowercase
    out_idx, ker_idx = letters[:rank], letters[rank : 2 * rank]
    grouped_x = windows.reshape(n, groups, c_in // groups, *windows.shape[2:])
    grouped_w = w.reshape(groups, c_out // groups, *w.shape[1:])
    # N G I out kernel, G O I kernel -> N G O out
    spec = f"NGI{out_idx}{ker_idx},GOI{ker_idx}->NGO{out_idx}"
    result: Array64 = np.einsum(spec, grouped_x, grouped_w, optimize=True)
    return result.reshape(n, c_out, *result.shape[3:])


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


# ---- inlined from convfuzz oracles.reference_gradients ----
import string
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


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


# ---- inlined from convfuzz fuzz.bounds ----
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array64 = npt.NDArray[np.float64]

PASS = "pass"
PRECISION = "precision"

# Each complex dtype is a pair of components of this real dtype; tables keyed by dtype name give it their entry.
COMPLEX_PARTS: dict[str, str] = {"complex64": "float32", "complex128": "float64"}


# A complex error's modulus is at most sqrt(2) times the larger of its components' moduli.
SQRT2 = 2.0**0.5


def real_dtype(dtype: str) -> str:
    """The real dtype of a complex dtype's components ('float32' for complex64); a real dtype itself."""
    return COMPLEX_PARTS.get(dtype, dtype)


MANTISSA_DIGITS: dict[str, int] = {"float64": 53, "float32": 24, "float16": 11, "bfloat16": 8}
MANTISSA_DIGITS.update({name: MANTISSA_DIGITS[part] for name, part in COMPLEX_PARTS.items()})
UNIT_ROUNDOFF: dict[str, float] = {dtype: 2.0**-digits for dtype, digits in MANTISSA_DIGITS.items()}
SMALLEST_NORMAL: dict[str, float] = {
    "float64": 2.0**-1022,
    "float32": 2.0**-126,
    "float16": 2.0**-14,
    "bfloat16": 2.0**-126,
}
LARGEST_FINITE: dict[str, float] = {
    "float64": float(np.finfo(np.float64).max),
    "float32": float(np.finfo(np.float32).max),
    "float16": 65504.0,
    "bfloat16": 3.3895313892515355e38,
}

# (input rounding, accumulation) unit roundoffs per dtype and level. PASS: what a correct implementation may
# do. PRECISION: a weaker but recognisable contract - float64 computed in float32, float32 inputs cut to TF32,
# half types accumulated in their own precision. Beyond PRECISION the result is simply wrong.
# TF32 keeps 11 significant bits; hardware may truncate rather than round, so its unit is 2^-10 (and tensor-core
# accumulation may truncate too: 2^-23).
LEVELS: dict[str, dict[str, tuple[float, float]]] = {
    "float64": {PASS: (0.0, 2.0**-53), PRECISION: (2.0**-24, 2.0**-24)},
    "float32": {PASS: (0.0, 2.0**-24), PRECISION: (2.0**-10, 2.0**-23)},
    "float16": {PASS: (0.0, 2.0**-24), PRECISION: (0.0, 2.0**-11)},
    "bfloat16": {PASS: (0.0, 2.0**-24), PRECISION: (0.0, 2.0**-8)},
}
LEVELS.update({name: LEVELS[part] for name, part in COMPLEX_PARTS.items()})

# Oracles that promise less than their dtype, by name suffix: a '-tf32' oracle (torch-tf32: cuDNN with TF32
# allowed) passes float32 when it is within TF32 inputs; its PRECISION level is bfloat16-like inputs.
TF32_SUFFIX = "-tf32"
TF32_LEVELS: dict[str, dict[str, tuple[float, float]]] = {
    "float32": {PASS: (2.0**-10, 2.0**-23), PRECISION: (2.0**-7, 2.0**-23)},
}


# Oracles whose answer is a sum, taken after rounding, of results each rounded to the dtype (by name suffix):
# the metamorphic 'linear' and 'linearw' relations add the convolutions of two halves of the input or weight.
# Judged like `folds`.
ROUNDED_PARTS: dict[str, int] = {"-linear": 2, "-linearw": 2}


def rounded_parts(oracle: str) -> int:
    """How many separately rounded results `oracle` adds up (1 for an ordinary oracle; a pin is ignored)."""
    base = oracle.partition("@")[0]
    return max((n for suffix, n in ROUNDED_PARTS.items() if base.endswith(suffix)), default=1)


def levels_of(oracle: str, dtype: str) -> dict[str, tuple[float, float]]:
    """The (input rounding, accumulation) levels `oracle` is judged by for `dtype` (a pin '@cuda' is ignored)."""
    part = real_dtype(dtype)
    if oracle.partition("@")[0].endswith(TF32_SUFFIX) and part in TF32_LEVELS:
        return TF32_LEVELS[part]
    return LEVELS[dtype]


def gamma(terms: int, unit_roundoff: float) -> float:
    """gamma_n(u) = n*u / (1 - n*u): relative error bound of summing n terms; inf when n*u >= 1."""
    nu = terms * unit_roundoff
    return float("inf") if nu >= 1.0 else nu / (1.0 - nu)


def complex_terms(terms: int) -> int:
    """How many rounded real terms one component of a complex sum of `terms` products may be charged with.

    Direct complex arithmetic makes each component a real sum of 2K products. The three-multiplication form
    (real = ac - bd, imag = (a+b)(c+d) - ac - bd, with x = a+bi, w = c+di) rounds a+b and c+d, sums K products of
    each of three real convolutions, and subtracts; |a+b||c+d| <= 2|x||w|, so to first order the imaginary part's
    error is at most (2(K+2) + 2K + 7) u A. 4K + 19 (plus one for the bias) covers both forms with room to spare;
    the error's modulus is then within sqrt(2) times the component bound (error_bound)."""
    return 4 * terms + 19


def error_bound(
    abs_sum: Array64, exact: Array64, bias_free: Array64, terms: int, dtype: str, level: str = PASS,
    oracle: str = "", folds: int = 1,
) -> Array64:
    """Elementwise bound on |y_hat - y| for an implementation at `level` (see module docstring).

    abs_sum is A = |x| conv |w| + |b|, exact is y in float64, bias_free is y - b (zeros when there is no
    bias), terms is K, `oracle` the name whose contract applies (see levels_of). Elements whose value may
    overflow the dtype get an infinite bound.

    folds > 1: the result may be a sum, taken in the dtype, of up to `folds` partial results each already rounded
    to the dtype - the input gradient through reflect/replicate/circular padding, where a correct implementation
    computes the padded input's gradient (one rounding) and then adds each border copy onto the element it copies
    (a sum of `folds` terms in the dtype): a relative (1 + u)(1 + gamma_folds(u)) more on top.

    A complex dtype: each component's error is bounded as a real sum of complex_terms(K) terms in the component
    dtype, whose magnitudes the moduli in A bound; the modulus of the error is at most SQRT2 times that.
    """
    if dtype in COMPLEX_PARTS:
        component = error_bound(
            abs_sum, np.abs(exact), np.abs(bias_free), complex_terms(terms), COMPLEX_PARTS[dtype], level, oracle,
            folds,
        )
        return SQRT2 * component
    input_rounding, accumulation = levels_of(oracle, dtype)[level]
    relative = (1.0 + input_rounding) ** 2 * (1.0 + gamma(terms + 1, accumulation)) - 1.0
    if folds > 1:
        unit = UNIT_ROUNDOFF[dtype]
        relative = (1.0 + relative) * (1.0 + unit) * (1.0 + gamma(folds, unit)) - 1.0
    output = UNIT_ROUNDOFF[dtype] * (np.abs(exact) + np.abs(bias_free))
    tiny = (terms + 2) * SMALLEST_NORMAL["float32" if accumulation > 2.0**-53 else "float64"]
    tiny += 2 * SMALLEST_NORMAL[dtype]
    # Where A = 0 every product is exactly zero, so the accumulation term is 0 even when gamma is infinite
    # (K*u >= 1 at the precision level of the half types); inf * 0 would make the bound NaN.
    accumulated = np.multiply(relative, abs_sum, out=np.zeros_like(abs_sum), where=abs_sum != 0)
    overflow = abs_sum + accumulated >= LARGEST_FINITE[dtype] / 2
    return np.where(overflow, np.inf, accumulated + output + tiny)


def reference_bound(abs_sum: Array64, terms: int, dtype: str = "float64") -> Array64:
    """Bound on the float64 (complex128 for a complex `dtype`) reference's own rounding error."""
    if dtype in COMPLEX_PARTS:
        return SQRT2 * reference_bound(abs_sum, complex_terms(terms))
    return gamma(terms + 1, 2.0**-53) * abs_sum + 2 * SMALLEST_NORMAL["float64"] * (terms + 2)


def is_exact_tier(tensors: list[Array64], abs_sum: Array64, dtype: str) -> bool:
    """True when all inputs are integers and every |partial sum| stays within 2^mantissa: then every correct
    summation order gives the same, exact result and any difference at all is a bug. Complex: integer parts, and
    4A within 2^mantissa (the three-multiplication form sums products of a+b and c+d, up to 2|x||w| each)."""
    if not all(np.array_equal(t, np.round(t)) for t in tensors):
        return False
    growth = 4.0 if dtype in COMPLEX_PARTS else 1.0
    return bool(abs_sum.size == 0 or growth * float(abs_sum.max()) <= 2.0 ** MANTISSA_DIGITS[dtype])


@dataclass(frozen=True)
class Comparison:
    """How far `actual` is from `expected` relative to `bound`, at its worst element (the largest err/bound; among
    equal ratios, the largest error). actual, expected, bound and error are all at that element; max_error is the
    largest error anywhere in the tensor, which may be at another element."""

    max_error: float
    ratio: float
    worst_index: tuple[int, ...]
    actual: float | complex  # complex for a complex dtype
    expected: float | complex
    bound: float
    error: float = 0.0  # |actual - expected| at worst_index

    @property
    def within(self) -> bool:
        """True when every element is within its bound."""
        return self.ratio <= 1.0


def absolute_errors(actual: Array64, expected: Array64) -> Array64:
    """|actual - expected| where NaN against a number, or inf against anything else, counts as inf."""
    with np.errstate(invalid="ignore"):
        diff = np.abs(actual - expected)
    same_special = (actual == expected) | (np.isnan(actual) & np.isnan(expected))
    return np.where(same_special, 0.0, np.where(np.isnan(diff), np.inf, diff))


def _scalar(value: np.generic) -> float | complex:
    return complex(value) if np.iscomplexobj(value) else float(value)


def compare(actual: Array64, expected: Array64, bound: Array64) -> Comparison:
    """Compare elementwise; a shape mismatch is an infinite error at index ()."""
    if actual.shape != expected.shape:
        return Comparison(float("inf"), float("inf"), (), float("nan"), float("nan"), 0.0, float("inf"))
    if actual.size == 0:
        return Comparison(0.0, 0.0, (), 0.0, 0.0, 0.0)
    errors = absolute_errors(actual, expected)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratios = np.where(errors == 0.0, 0.0, errors / bound)
    ratios = np.where(np.isnan(ratios), np.inf, ratios)
    # The largest ratio; where several elements share it (every error is infinitely many bounds in the exact
    # tier, whose bound is 0), the largest error among them, so the element shown is the most telling one.
    worst_ratio = float(ratios.max())
    flat = int(np.argmax(np.where(ratios == worst_ratio, errors, -1.0))) if worst_ratio > 0 else int(np.argmax(errors))
    index = tuple(int(i) for i in np.unravel_index(flat, actual.shape))
    return Comparison(
        max_error=float(errors.max()),
        ratio=float(ratios[index]),
        worst_index=index,
        actual=_scalar(actual[index]),
        expected=_scalar(expected[index]),
        bound=float(bound[index]),
        error=float(errors[index]),
    )


# ---- inlined from convfuzz fuzz.consensus ----
from collections.abc import Callable, Mapping, Sequence
from itertools import combinations


def framework_of(name: str) -> str:
    """The framework an oracle belongs to: 'torch-nomkldnn@cuda' -> 'torch', 'jax-eager' -> 'jax'. Variants of one
    framework share most of their code, and so their bugs: together they are one voter."""
    return name.partition("@")[0].split("-")[0]


def minimal_suspects(
    names: Sequence[str],
    consistent: Callable[[str, str], bool],
    deviation: Mapping[str, float],
    trusted: str = "reference",
) -> tuple[str, ...]:
    """The subset whose removal leaves every remaining pair consistent, blaming as few frameworks as possible.

    Frameworks are counted, not oracles: four JAX variants that share an XLA bug must not outvote torch and the
    reference. Then ties prefer fewer oracles, then sets without `trusted` (our own reference is the suspect only
    when the frameworks outvote it), then the set that deviates most from the reference (`deviation`: each
    oracle's err/bound against it), then alphabetical order. Returns () when all agree.
    """
    ordered = sorted(names)
    agrees = {pair: consistent(*pair) for pair in combinations(ordered, 2)}
    neighbours = {n: {m for m in ordered if m != n and agrees[(min(n, m), max(n, m))]} for n in ordered}
    best: tuple[str, ...] = tuple(ordered)
    best_key: tuple[object, ...] | None = None
    # The remaining oracles must agree pairwise: a clique of the agreement graph. Keeping more never blames more
    # frameworks or more oracles, so only the complements of maximal cliques can be best; enumerating those
    # (Bron-Kerbosch) gives the same answer as trying every subset, without 2^n subsets for n oracles.
    for clique in maximal_cliques(ordered, neighbours):
        subset = tuple(n for n in ordered if n not in clique)
        key = (len({framework_of(n) for n in subset}), len(subset), trusted in subset,
               -sum(deviation.get(n, 0.0) for n in subset), subset)
        if best_key is None or key < best_key:
            best, best_key = subset, key
    return best


def maximal_cliques(nodes: Sequence[str], neighbours: Mapping[str, set[str]]) -> list[frozenset[str]]:
    """Every maximal set of pairwise-adjacent `nodes` (Bron-Kerbosch with a pivot; iterative, no recursion)."""
    found: list[frozenset[str]] = []
    stack: list[tuple[frozenset[str], set[str], set[str]]] = [(frozenset(), set(nodes), set())]
    while stack:
        chosen, candidates, excluded = stack.pop()
        if not candidates and not excluded:
            found.append(chosen)
            continue
        pivot = max(candidates | excluded, key=lambda n: len(neighbours[n] & candidates))
        for node in sorted(candidates - neighbours[pivot]):
            stack.append((chosen | {node}, candidates & neighbours[node], excluded & neighbours[node]))
            candidates = candidates - {node}
            excluded = excluded | {node}
    return found


# ---- inlined from convfuzz fuzz.decide ----
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt


REFERENCE = "reference"
# Severity order of finding kinds, used when several suspects disagree in different ways.
KIND_ORDER = ("precision", "mismatch", "nonfinite", "error_mismatch", "timeout", "crash")
# The kinds whose finding compares numbers (an element's value against its exact value and bound).
NUMERIC_KINDS = ("precision", "mismatch", "nonfinite")


def _json_number(value: float | complex) -> float | list[float]:
    """A float as it is; a complex number (complex dtypes) as [real, imag]."""
    return [value.real, value.imag] if isinstance(value, complex) else value


def shown_values(actual: float | complex, expected: float | complex, error: float) -> tuple[str, str]:
    """An element's value and exact value printed with enough digits that their difference shows the error (to
    about 1%): six significant digits at least, up to every digit a float64 has."""
    magnitude = max(abs(actual), abs(expected)) if np.isfinite(error) else 0.0
    digits = 6
    if magnitude > 0 and 0 < error < magnitude:
        digits = int(min(17, max(6, np.ceil(np.log10(magnitude / error)) + 3)))
    return f"{actual:.{digits}g}", f"{expected:.{digits}g}"


def shown_error_and_bound(error: float, bound: float) -> tuple[str, str]:
    """|error| and bound printed so that their order can be read off the printed numbers: three significant digits,
    more where three would print two different numbers alike."""
    for digits in range(3, 18):
        shown = f"{error:.{digits}g}", f"{bound:.{digits}g}"
        if error == bound or shown[0] != shown[1]:
            return shown
    return f"{error!r}", f"{bound!r}"


def _stored_number(value: object) -> float | complex:
    """A number as observations store it: a float, or [re, im] for a complex one."""
    if isinstance(value, list):
        return complex(float(value[0]), float(value[1]))
    return float(value)  # type: ignore[arg-type]


def stored_error(seen: Mapping[str, Any]) -> float | None:
    """|actual - expected| at a stored observation's worst element: its abs_error, or for findings stored before
    that was kept, computed from the stored actual and expected (None where the observation holds no numbers)."""
    if "abs_error" in seen:
        return float(seen["abs_error"])
    if seen.get("actual") is None or seen.get("expected") is None:
        return None
    actual, expected = _stored_number(seen["actual"]), _stored_number(seen["expected"])
    if actual == expected or (np.isnan(actual) and np.isnan(expected)):
        return 0.0
    error = float(abs(actual - expected))
    return float("inf") if np.isnan(error) else error


def observation_from_json(oracle: str, seen: Mapping[str, Any]) -> Observation:
    """The Observation a finding's `observed` block stores for `oracle` (the inverse of Observation.to_json)."""
    against = str(seen.get("against", REFERENCE))
    if "accepted_shape" in seen:
        return Observation(oracle, against, accepted=tuple(int(n) for n in seen["accepted_shape"]))
    if "error" in seen:
        return Observation(oracle, against, error=str(seen["error"]), failure=seen.get("failure"))
    comparison = Comparison(
        max_error=float(seen["max_error"]), ratio=float(seen["ratio"]),
        worst_index=tuple(int(i) for i in seen.get("worst_index", ())),
        actual=_stored_number(seen["actual"]), expected=_stored_number(seen["expected"]),
        bound=float(seen["bound"]), error=stored_error(seen) or 0.0,
    )
    return Observation(oracle, against, comparison)


@dataclass(frozen=True)
class Observation:
    """One oracle's result against what it should have returned (the reference, or the consensus)."""

    oracle: str
    against: str
    comparison: Comparison | None = None
    error: str | None = None
    failure: str | None = None  # 'crash' or 'timeout' when the oracle's process died or hung
    accepted: tuple[int, ...] | None = None  # invalid stream: the shape of the output returned instead of refusing

    def to_json(self) -> dict[str, object]:
        """JSON form used in findings' `observed` block."""
        if self.accepted is not None:
            return {"against": self.against, "accepted_shape": list(self.accepted)}
        if self.error is not None:
            return {"against": self.against, "error": self.error, **({"failure": self.failure} if self.failure else {})}
        assert self.comparison is not None
        c = self.comparison
        return {
            "against": self.against,
            "max_error": c.max_error,
            "abs_error": c.error,
            "bound": c.bound,
            "ratio": c.ratio,
            "worst_index": list(c.worst_index),
            "actual": _json_number(c.actual),
            "expected": _json_number(c.expected),
        }

    def describe(self) -> str:
        """One line: out[0, 3, 1]=0.51, but should be 0.49 (|err|=2e-2 > bound=1e-5) [torch vs reference]."""
        pair = f"[{self.oracle} vs {self.against}]"
        if self.accepted is not None:
            shape = self.accepted
            returned = "an empty output (no numbers)" if 0 in shape else "numbers instead of refusing"
            return f"{self.oracle} returned {returned}: an output of shape {shape} {pair}"
        if self.failure is not None:
            verb = {"crash": "crashed", "timeout": "timed out"}.get(self.failure, self.failure)
            return f"{self.oracle} {verb}: {self.error} {pair}"
        if self.error is not None:
            return f"{self.oracle} raised {self.error} {pair}"
        c = self.comparison
        assert c is not None
        if not c.worst_index and np.isnan(c.actual):
            return f"{self.oracle} returned an output of the wrong shape {pair}"
        # Value, exact value, |error| and bound, all at the one element shown.
        where = "out[" + ", ".join(str(i) for i in c.worst_index) + "]"
        value, exact = shown_values(c.actual, c.expected, c.error)
        error, bound = shown_error_and_bound(c.error, c.bound)
        if c.ratio <= 1:
            return f"{where}={value} matches {exact} (|err|={error} <= bound={bound}) {pair}"
        return f"{where}={value}, but should be {exact} (|err|={error} > bound={bound}) {pair}"


@dataclass(frozen=True)
class Decision:
    """The verdict on one case. kind is None when every oracle is consistent."""

    kind: str | None
    suspects: tuple[str, ...]
    observations: dict[str, Observation]
    exact_tier: bool
    max_ratio: float
    messages: tuple[str, ...] = field(default=())
    # A class of deviation maintainers often call by design (fuzz.deviation), or None.
    deviation: str | None = None

    @property
    def discrepant(self) -> bool:
        """True when the case is a finding."""
        return self.kind is not None

    @property
    def message(self) -> str:
        """All suspect lines in the one failure grammar."""
        return "\n".join(self.messages)


@dataclass(frozen=True)
class Yardstick:
    """The float64 truth of a case and what bounds it: y, A = |x| conv |w| + |b|, y - b, K, dtype."""

    exact: Array64
    abs_sum: Array64
    bias_free: Array64
    terms: int
    dtype: str
    exact_tier: bool
    # Where the propagation rule makes the output NaN or infinite (inputs with inf/nan): exact match required.
    nonfinite: npt.NDArray[np.bool_] | None = None
    # Partial results, each rounded to the dtype, that a correct implementation may add up (fuzz.bounds)
    folds: int = 1

    @classmethod
    def build(
        cls, exact: Array64, abs_sum: Array64, inputs: list[Array64], bias: Array64 | None, terms: int, dtype: str,
        nonfinite: tuple[npt.NDArray[np.bool_], Array64] | None = None, folds: int = 1,
    ) -> Yardstick:
        """From the reference output and abs-conv; `inputs` decide the exact tier. `nonfinite` is the propagation
        rule's (mask, values) for inputs holding inf/nan: there the output must be exactly those values."""
        mask = None
        if nonfinite is not None:
            mask, special = nonfinite
            exact = np.where(mask, special, exact)
            abs_sum = np.where(mask, 0.0, abs_sum)
        if bias is None:
            bias_free = np.zeros_like(exact)
        else:
            bias_free = exact - bias.reshape(1, -1, *([1] * (exact.ndim - 2)))
        if mask is not None:
            bias_free = np.where(mask, 0.0, bias_free)
        return cls(exact, abs_sum, bias_free, terms, dtype, is_exact_tier(inputs, abs_sum, dtype), mask, folds)

    def touches_nonfinite(self, comparison: Comparison) -> bool:
        """True when a comparison's worst element is one the rule makes non-finite, or came back non-finite."""
        if self.nonfinite is None or not comparison.worst_index:
            return False
        return bool(self.nonfinite[comparison.worst_index]) or not np.isfinite(comparison.actual)

    def bound(self, oracle: str, level: str) -> Array64:
        """Elementwise bound for `oracle` at `level`; zero for PASS in the exact tier."""
        if oracle == REFERENCE and level == PASS:
            if self.exact_tier:
                return np.zeros_like(self.abs_sum)
            return reference_bound(self.abs_sum, self.terms, self.dtype)
        # An oracle with a weaker contract than its dtype (TF32) rounds even integers above 2^11: no exact tier.
        exact_tier = self.exact_tier and levels_of(oracle, self.dtype) is LEVELS[self.dtype]
        if exact_tier and level == PASS:
            return np.zeros_like(self.abs_sum)
        # In the exact tier the ordinary float bound is the second level: within it, the error is one of precision.
        level = PASS if exact_tier else level
        folds = max(self.folds, rounded_parts(oracle))
        bound = error_bound(self.abs_sum, self.exact, self.bias_free, self.terms, self.dtype, level, oracle, folds)
        return bound if self.nonfinite is None else np.where(self.nonfinite, 0.0, bound)


MUST_REFUSE = "must refuse"


def decide_invalid(
    values: Mapping[str, Array64 | None], errors: Mapping[str, str], failures: Mapping[str, str] | None = None
) -> Decision:
    """The verdict on an invalid-stream case, which every oracle given must refuse: an oracle that returns numbers
    (a non-empty output) is an error_mismatch suspect, one that crashes or hangs a crash/timeout suspect. An empty
    output carries no numbers and counts as refusing (JAX's rule for a kernel larger than the padded input).
    Every oracle's line, the refusals' error texts included, goes into the message."""
    failures = failures or {}
    observations: dict[str, Observation] = {}
    suspects: list[str] = []
    kinds: list[str] = []
    for name, value in values.items():
        if value is not None:
            observations[name] = Observation(name, MUST_REFUSE, accepted=tuple(int(n) for n in value.shape))
            if value.size:
                suspects.append(name)
                kinds.append("error_mismatch")
            continue
        failure = failures.get(name)
        observations[name] = Observation(name, MUST_REFUSE, error=errors.get(name, "error"), failure=failure)
        if failure is not None:
            suspects.append(name)
            kinds.append(failure)
    kind = max(kinds, key=KIND_ORDER.index) if kinds else None
    return Decision(
        kind=kind,
        suspects=tuple(sorted(suspects)),
        observations=observations,
        exact_tier=False,
        max_ratio=0.0,
        messages=tuple(o.describe() for o in observations.values()) if kind else (),
    )


def _within_precision_of_reference(values: Mapping[str, Array64 | None], yard: Yardstick) -> bool:
    """True when every framework answered and is within its PRECISION-level bound of the reference."""
    frameworks = {n: v for n, v in values.items() if n != REFERENCE}
    return bool(frameworks) and all(
        v is not None and compare(v, yard.exact, yard.bound(n, PRECISION)).within for n, v in frameworks.items()
    )


def _breaks_propagation_rule(value: Array64, yard: Yardstick) -> bool:
    """True when `value` is non-finite where the IEEE propagation rule says finite, or differs from the rule's
    inf/NaN where it says non-finite (only for cases whose inputs hold inf/NaN)."""
    if yard.nonfinite is None or value.shape != yard.exact.shape:
        return False
    mask = yard.nonfinite
    with np.errstate(invalid="ignore"):
        same = (value == yard.exact) | (np.isnan(value) & np.isnan(yard.exact))
    return bool(np.any(~np.isfinite(value) & ~mask) or np.any(mask & ~same))


def agreement(
    values: Mapping[str, Array64 | None], yard: Yardstick, failures: Mapping[str, str],
    pass_bounds: Mapping[str, Array64] | None = None,
) -> tuple[Callable[[str, str], Array64], Callable[[str, str], bool]]:
    """(pair_bound, consistent) for the oracles of `values`: the elementwise bound two oracles may differ by (the
    sum of their PASS bounds), and whether two of them agree within it at every element."""
    bounds = pass_bounds if pass_bounds is not None else {n: yard.bound(n, PASS) for n in values}
    zero = np.zeros_like(yard.abs_sum)

    def pair_bound(a: str, b: str) -> Array64:
        return bounds.get(a, zero) + bounds.get(b, zero)

    def consistent(a: str, b: str) -> bool:
        # A crash or hang is never a correct answer, so it agrees with nothing; two ordinary errors agree
        # (both frameworks rejecting a case is consistent, whatever their messages say).
        if a in failures or b in failures:
            return False
        va, vb = values[a], values[b]
        if va is None or vb is None:
            return va is None and vb is None
        return compare(va, vb, pair_bound(a, b)).within

    return pair_bound, consistent


def decide(
    values: Mapping[str, Array64 | None],
    errors: Mapping[str, str],
    yard: Yardstick,
    failures: Mapping[str, str] | None = None,
) -> Decision:
    """Judge every oracle's output (`values`, None where it raised `errors[name]`) against the yardstick.

    `failures` names the oracles whose process crashed or hung ('crash' / 'timeout'): a suspect among them
    makes a finding of that kind rather than error_mismatch.
    """
    failures = failures or {}
    names = list(values)
    exact = yard.exact
    pass_bounds = {n: yard.bound(n, PASS) for n in names}
    zero = np.zeros_like(yard.abs_sum)
    pair_bound, consistent = agreement(values, yard, failures, pass_bounds)

    deviation = {
        n: (float("inf") if v is None else 0.0 if n == REFERENCE else compare(v, exact, pair_bound(n, REFERENCE)).ratio)
        for n, v in values.items()
    }
    suspects = minimal_suspects(names, consistent, deviation)
    if REFERENCE in suspects and _within_precision_of_reference(values, yard):
        # Frameworks that share a rounding shortcut (half-precision accumulation) can agree with each other
        # within their summed bounds and so outvote the reference. But when every framework is within its own
        # PRECISION contract of the float64 reference, their distance from it is rounding, not a wrong
        # reference: the reference stays the truth and the frameworks beyond their PASS bound are the suspects.
        suspects = tuple(sorted(n for n in names if n != REFERENCE and not consistent(n, REFERENCE)))
    if REFERENCE in suspects and yard.nonfinite is not None:
        # The propagation rule is counted exactly, so no vote can overturn it: frameworks that share a way of
        # spreading NaN (a grouped conv run as a dense one with zero blocks, NaN * 0) outvoted the reference and
        # the framework that kept to the rule. When every oracle at odds with the reference breaks the rule,
        # they are the suspects.
        at_odds = [n for n in names if n != REFERENCE and not consistent(n, REFERENCE)]
        if at_odds and all(
            (v := values[n]) is not None and _breaks_propagation_rule(v, yard) for n in at_odds
        ):
            suspects = tuple(sorted(at_odds))
    trusted = [n for n in names if n not in suspects]
    # What the others are measured against: the reference unless it is itself a suspect.
    truth_name = REFERENCE if REFERENCE in trusted or not trusted else trusted[0]
    truth = values.get(truth_name, exact)
    observations: dict[str, Observation] = {}
    kinds: list[str] = []
    for name in names:
        value = values[name]
        if value is None:
            observations[name] = Observation(
                name, truth_name, error=errors.get(name, "error"), failure=failures.get(name)
            )
            kinds += [failures.get(name, "error_mismatch")] if name in suspects else []
            continue
        if truth is None:
            observations[name] = Observation(name, REFERENCE, compare(value, exact, pair_bound(name, REFERENCE)))
            kinds += ["error_mismatch"] if name in suspects else []
            continue
        against = truth_name if name != truth_name else REFERENCE
        reference_value = truth if name != truth_name else exact
        observations[name] = Observation(name, against, compare(value, reference_value, pair_bound(name, against)))
        if name in suspects:
            weaker = yard.bound(name, PRECISION) + pass_bounds.get(against, zero)
            comparison = observations[name].comparison
            if comparison is not None and yard.touches_nonfinite(comparison):
                kinds.append("nonfinite")  # the inf/nan propagation rule is broken
            else:
                kinds.append("precision" if compare(value, reference_value, weaker).within else "mismatch")
    kind = max(kinds, key=KIND_ORDER.index) if kinds else None
    framework_ratios = [r for n, r in deviation.items() if n != REFERENCE and values[n] is not None]
    return Decision(
        kind=kind,
        suspects=suspects if kind else (),
        observations=observations,
        exact_tier=yard.exact_tier,
        max_ratio=min(max(framework_ratios, default=0.0), 1e300),
        messages=tuple(observations[s].describe() for s in suspects) if kind else (),
    )


# ---- inlined from convfuzz oracles.torch_variants ----
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TorchSettings:
    """Backend settings of one torch variant (see TORCH_VARIANTS)."""

    devices: tuple[str, ...] = ("cpu", "cuda")
    mkldnn: bool = True  # oneDNN (MKL-DNN) kernels on CPU
    cudnn: bool = True
    tf32: bool = False  # let cuDNN round float32 inputs to TF32 (torch's own default is to allow it)
    # let cuBLAS reduce half-type GEMMs in reduced precision (torch's default; the non-cuDNN CUDA conv is a GEMM)
    reduced_reduction: bool = False
    compiled: bool = False  # through torch.compile (inductor)
    # conv_transposeNd computed as the vector-Jacobian product of convNd (autograd), the identity between them
    adjoint: bool = False

    def computes(self, op: str) -> bool:
        """Whether this variant computes `op` ('conv2d', or a gradient 'conv2d.grad_weight'): the adjoint variant
        computes transposed convolutions only (not their gradients), every other variant everything."""
        if self.adjoint:
            return op.startswith("conv_transpose") and ".grad_" not in op
        return True


# Every variant is strict unless its name says otherwise. torch allows TF32 for cuDNN convolutions by default,
# and a float32 result computed from 10-bit mantissas is not a float32 result: 'torch-tf32' is that default,
# judged with the TF32 contract of fuzz.bounds (the '-tf32' suffix selects it). Likewise torch lets cuBLAS
# accumulate float16/bfloat16 GEMMs in reduced precision by default; strict variants turn that off.
TORCH_VARIANTS: dict[str, TorchSettings] = {
    "torch": TorchSettings(),
    "torch-nomkldnn": TorchSettings(devices=("cpu",), mkldnn=False),
    "torch-nocudnn": TorchSettings(devices=("cuda",), cudnn=False),
    "torch-tf32": TorchSettings(devices=("cuda",), tf32=True),
    "torch-compile": TorchSettings(compiled=True),
    "torch-vjp": TorchSettings(adjoint=True),
}


@contextlib.contextmanager
def backend_settings(torch: Any, settings: TorchSettings) -> Iterator[None]:
    """Apply `settings` to torch's process-wide backend flags for one call, then restore them."""
    cudnn = torch.backends.cudnn
    # torch >= 2.9 has a per-operation precision switch; older releases only the allow_tf32 flag.
    precision_switch = getattr(getattr(cudnn, "conv", None), "fp32_precision", None)
    # Reading the legacy flag after the new switch was set is refused by newer torch: read only the one in use.
    saved = (torch.backends.mkldnn.enabled, cudnn.enabled, precision_switch)
    saved_tf32 = cudnn.allow_tf32 if precision_switch is None else None
    matmul = torch.backends.cuda.matmul
    reductions = [f"allow_{half}_reduced_precision_reduction" for half in ("fp16", "bf16")]
    saved_reductions = [getattr(matmul, flag) for flag in reductions]
    try:
        torch.backends.mkldnn.enabled = settings.mkldnn
        cudnn.enabled = settings.cudnn
        for flag in reductions:
            setattr(matmul, flag, settings.reduced_reduction)
        if precision_switch is not None:
            cudnn.conv.fp32_precision = "tf32" if settings.tf32 else "ieee"
        else:
            cudnn.allow_tf32 = settings.tf32
        yield
    finally:
        torch.backends.mkldnn.enabled, cudnn.enabled = saved[0], saved[1]
        for flag, value in zip(reductions, saved_reductions, strict=True):
            setattr(matmul, flag, value)
        if precision_switch is not None:
            cudnn.conv.fp32_precision = saved[2]
        else:
            cudnn.allow_tf32 = saved_tf32


def arrange(torch: Any, x: Any, w: Any, layout: str) -> tuple[Any, Any]:
    """x and w with the memory layout a case names (strategies.case.LAYOUTS); their values never change."""
    if layout == "channels_last":
        memory_format = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
        return x.contiguous(memory_format=memory_format), w.contiguous(memory_format=memory_format)
    if layout == "strided_input":
        # Every other element of a buffer twice as wide; the gaps hold NaN, so a dense read shows.
        wide = torch.full((*x.shape[:-1], 2 * x.shape[-1]), float("nan"), dtype=x.dtype, device=x.device)
        wide[..., ::2] = x
        return wide[..., ::2], w
    if layout == "transposed_weight":
        return x, w.transpose(0, 1).contiguous().transpose(0, 1)
    if layout == "sliced_weight":
        longer = torch.full((*w.shape[:-1], w.shape[-1] + 1), float("nan"), dtype=w.dtype, device=w.device)
        longer[..., : w.shape[-1]] = w
        return x, longer[..., : w.shape[-1]]
    return x, w


def to_host(torch: Any, out: Any) -> Any:
    """A torch result as a NumPy array on the host, widened exactly: float64, or complex128 for a complex result."""
    wide = torch.complex128 if out.is_complex() else torch.float64
    return out.detach().to(device="cpu", dtype=wide).resolve_conj().numpy()  # conj() is lazy in torch


# ---- inlined from convfuzz oracles.kernel_facts ----
import contextlib
import ctypes
import importlib
import platform
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# The flags (as Linux's /proc/cpuinfo names them) that oneDNN, XLA:CPU's LLVM back end and ATen's CPU dispatch
# choose kernels by. x86: vector width, FMA and the half-precision dot-product and matrix extensions; ARM: the
# half-precision, SVE and matrix extensions.
X86_FLAGS = (
    "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16",
    "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16",
)
ARM_FLAGS = ("asimd", "asimdhp", "fphp", "sve", "sve2", "bf16", "i8mm", "sme")

# The facts compared per section: a difference in any of them means another kernel may run. Versions, driver and
# model strings are recorded only (a virtual machine may hide the model; a version change is a change of code).
COMPARED_TORCH_CPU = ("cpu_capability", "mkldnn", "mkldnn_bf16", "mkldnn_fp16", "mkl")
COMPARED_GPU = ("name", "capability")

# How a difference is said, for the facts whose names mean little to a reader.
FACT_WORDS = {
    "cpu_capability": "torch's CPU capability",
    "mkldnn": "torch's oneDNN (mkldnn) kernels",
    "mkldnn_bf16": "oneDNN bfloat16 support in torch",
    "mkldnn_fp16": "oneDNN float16 support in torch",
    "mkl": "torch's MKL",
    "vendor": "CPU vendor",
    "name": "GPU",
    "capability": "GPU compute capability",
}


def _cpuinfo() -> dict[str, str]:
    """The first processor's block of /proc/cpuinfo as a dict ({} where there is no such file)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if not line.strip():
                    if fields:
                        break
                    continue
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_facts() -> dict[str, Any]:
    """Vendor, model and the kernel-selecting instruction-set flags of this machine's CPU ({} of flags where the
    OS does not list them: such a machine has nothing to compare, and no comparison is made)."""
    info = _cpuinfo()
    machine = platform.machine()
    listed = info.get("flags") or info.get("Features")
    flags = set(listed.split()) if listed else None
    known = X86_FLAGS if machine in ("x86_64", "AMD64", "i686") else ARM_FLAGS
    return {
        "vendor": info.get("vendor_id") or info.get("CPU implementer") or None,
        "model": info.get("model name") or platform.processor() or machine,
        "machine": machine,
        "isa": {} if flags is None else {flag: flag in flags for flag in known},
    }


def _gpu_driver() -> str | None:
    """The NVIDIA driver's version: from /proc on Linux, else from libcuda (None where neither answers)."""
    try:
        with open("/proc/driver/nvidia/version", encoding="utf-8") as text:
            found = re.search(r"Kernel Module\s+(?:for \S+\s+)?([\d.]+)", text.read())
            if found:
                return found.group(1)
    except OSError:
        pass
    with contextlib.suppress(OSError, AttributeError):
        version = ctypes.c_int()
        if ctypes.CDLL("libcuda.so.1").cuDriverGetVersion(ctypes.byref(version)) == 0:
            return f"CUDA {version.value // 1000}.{version.value % 1000 // 10}"
    return None


def _onednn_version(config: str) -> str | None:
    """oneDNN's version in torch's build configuration text ('MKL-DNN v3.12.0'), or None."""
    found = re.search(r"(?:MKL-DNN|oneDNN) v([\d.]+)", config)
    return found.group(1) if found else None


def torch_facts() -> dict[str, Any]:
    """What selects torch's convolution kernels here: its CPU dispatch level, oneDNN and MKL, oneDNN's
    bfloat16/float16 support on this CPU, and the GPU torch sees (name, compute capability, driver, CUDA runtime,
    cuDNN). Imports torch."""
    torch: Any = importlib.import_module("torch")  # Any: several of these probes are untyped in torch's stubs

    facts: dict[str, Any] = {"version": str(torch.__version__)}
    probes: dict[str, Callable[[], object]] = {
        "cpu_capability": lambda: str(torch.backends.cpu.get_cpu_capability()),
        "mkldnn": lambda: bool(torch.backends.mkldnn.is_available()),
        "mkldnn_bf16": lambda: bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        "mkldnn_fp16": lambda: bool(torch.ops.mkldnn._is_mkldnn_fp16_supported()),
        "mkl": lambda: bool(torch.backends.mkl.is_available()),
        "mkldnn_version": lambda: _onednn_version(str(torch.__config__.show())),
    }
    for name, probe in probes.items():
        try:
            facts[name] = probe()
        except Exception:  # noqa: BLE001 - an older or leaner torch build lacks some probes: the fact is unknown
            facts[name] = None
    with contextlib.suppress(Exception):
        if torch.cuda.is_available():
            major, minor = torch.cuda.get_device_capability(0)
            facts["cuda"] = {
                "name": str(torch.cuda.get_device_name(0)),
                "capability": f"{major}.{minor}",
                "driver": _gpu_driver(),
                "runtime": torch.version.cuda,
                "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            }
    return facts


def jax_facts() -> dict[str, Any]:
    """What selects XLA's kernels here: the default backend and its platform version, and the GPU it runs on.
    Imports jax."""
    import jax

    device = jax.devices()[0]
    facts: dict[str, Any] = {
        "version": str(jax.__version__),
        "backend": str(device.platform),
        "platform_version": str(getattr(device.client, "platform_version", "") or "") or None,
    }
    if device.platform == "gpu":
        capability = getattr(device, "compute_capability", None)
        facts["gpu"] = {
            "name": str(device.device_kind),
            "capability": None if capability is None else str(capability),
            "driver": _gpu_driver(),
        }
    return facts


FRAMEWORK_FACTS = {"torch": torch_facts, "jax": jax_facts}


def collect_facts(frameworks: Iterable[str]) -> dict[str, Any]:
    """The CPU's facts and those of each named framework ('torch', 'jax'; others have none) that can be
    imported here. A framework whose probe fails is left out rather than failing the caller."""
    facts: dict[str, Any] = {"cpu": cpu_facts()}
    for framework in sorted(set(frameworks)):
        probe = FRAMEWORK_FACTS.get(framework)
        if probe is None:
            continue
        try:
            facts[framework] = probe()
        except Exception:  # noqa: BLE001 - not installed, or no device: nothing known about it
            continue
    return facts


def loaded_frameworks() -> list[str]:
    """The frameworks this process has imported (the ones whose facts it can give without importing more)."""
    return [name for name in FRAMEWORK_FACTS if name in sys.modules]


def merge_facts(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One facts object from several processes' (each oracle's worker gives its framework's section): a section
    seen more than once keeps its first, fuller-or-equal form, with keys only a later one knows added."""
    merged: dict[str, Any] = {}
    for part in parts:
        for section, values in part.items():
            if section not in merged:
                merged[section] = dict(values)
            else:
                for key, value in values.items():
                    if merged[section].get(key) is None:
                        merged[section][key] = value
    return merged


def _compared(facts: Mapping[str, Any], framework: str, device: str) -> dict[str, Any]:
    """The facts that pick `framework`'s kernel on `device`, flattened: {label: value}."""
    flat: dict[str, Any] = {}
    if device == "cpu":
        cpu = facts.get("cpu") or {}
        flat["vendor"] = cpu.get("vendor")
        flat.update(cpu.get("isa") or {})
        if framework == "torch":
            section = facts.get("torch") or {}
            flat.update({key: section.get(key) for key in COMPARED_TORCH_CPU})
    else:
        section = (facts.get("torch") or {}).get("cuda") if framework == "torch" else (
            (facts.get("jax") or {}).get("gpu") if framework == "jax" else None
        )
        if section is None:  # another framework's GPU facts tell which GPU it was all the same
            section = (facts.get("torch") or {}).get("cuda") or (facts.get("jax") or {}).get("gpu") or {}
        flat.update({key: section.get(key) for key in COMPARED_GPU})
    return flat


def _difference(label: str, then: Any, now: Any, device: str) -> str:
    """One difference in words: 'found with avx512_bf16, this CPU lacks it'."""
    words = FACT_WORDS.get(label, label)
    if isinstance(then, bool) and isinstance(now, bool):
        where = "this CPU" if label not in FACT_WORDS else "this machine"
        return f"found with {words}, {where} lacks it" if then else f"found without {words}, {where} has it"
    return f"found with {words} {then!r}, this machine's is {now!r}"


def fact_differences(
    recorded: Mapping[str, Any], here: Mapping[str, Any], frameworks: Iterable[str], device: str
) -> list[str]:
    """Every kernel-selecting fact of `frameworks` on `device` that was recorded and is known here, but differs:
    one line each ('found with avx512_bf16, this CPU lacks it'). A fact unknown on either side is not compared."""
    lines: list[str] = []
    for framework in sorted(set(frameworks)) or [""]:
        then, now = _compared(recorded, framework, device), _compared(here, framework, device)
        for label, value in then.items():
            current = now.get(label)
            if value is None or current is None or value == current:
                continue
            line = _difference(label, value, current, device)
            if line not in lines:
                lines.append(line)
    return lines


def reference(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, g: np.ndarray | None) -> np.ndarray:
    """The float64 reference conv_transpose1d of this case."""
    with np.errstate(invalid='ignore'):  # inputs with inf/nan follow IEEE arithmetic
        return conv_transpose_reference(x, w, b, STRIDE, PADS, OUTPUT_PADDING, DILATION, GROUPS)


def run_reference(X: np.ndarray = X, W: np.ndarray = W, B: np.ndarray | None = B, G: np.ndarray | None = G) -> np.ndarray:
    return reference(X, W, B, G)


def run_torch(X: np.ndarray = X, W: np.ndarray = W, B: np.ndarray | None = B, G: np.ndarray | None = G) -> np.ndarray:
    """torch: F.conv_transpose1d with the backend settings TorchSettings(devices=('cpu', 'cuda'), mkldnn=True, cudnn=True, tf32=False, reduced_reduction=False, compiled=False, adjoint=False)."""
    import torch
    import torch.nn.functional as F

    dtype = torch.bfloat16
    x = torch.tensor(X, dtype=dtype, device='cpu')
    w = torch.tensor(W, dtype=torch.bfloat16, device='cpu')

    # The parameters are captured by a closure, as convfuzz's oracle holds them.
    def make_conv(stride, padding, output_padding, groups, dilation):
        def conv(x, w, b):
            return F.conv_transpose1d(x, w, b, stride=stride, padding=padding, output_padding=output_padding,
                groups=groups, dilation=dilation)

        return conv

    conv = make_conv((2,), (0,), (1,), 1, (1,))
    with backend_settings(torch, TORCH_VARIANTS['torch']):
        out = conv(x, w, None)
    return to_host(torch, out)


def run_jax(X: np.ndarray = X, W: np.ndarray = W, B: np.ndarray | None = B, G: np.ndarray | None = G) -> np.ndarray:
    """jax: lax.conv_general_dilated."""
    import jax

    jax.config.update('jax_enable_x64', True)
    import jax.numpy as jnp
    from jax import lax

    # Jitted as convfuzz runs it (and as models run it): the conv and the bias add compile together.
    @jax.jit
    def conv(x, w, b):
        # torch's (C_in, C_out/groups, *kernel) weight as the forward kernel: in/out swapped per group,
        # flipped.
        grouped = w.reshape(1, w.shape[0] // 1, *w.shape[1:])
        kernel = jnp.swapaxes(grouped, 1, 2).reshape(-1, w.shape[0] // 1, *w.shape[2:])
        kernel = jnp.flip(kernel, axis=tuple(range(2, kernel.ndim)))
        return lax.conv_general_dilated(x, kernel, window_strides=(1,), padding=((0, 1),),
            lhs_dilation=(2,), rhs_dilation=(1,), dimension_numbers=('NCW', 'OIW', 'NCW'),
            feature_group_count=1, precision=lax.Precision.HIGHEST)

    device = jax.devices('cpu')[0]
    x_values, w_values = X, W
    x = jax.device_put(np.asarray(x_values, dtype=jnp.bfloat16), device)
    w = jax.device_put(np.asarray(w_values, dtype=jnp.bfloat16), device)
    b = None if B is None else jax.device_put(np.asarray(B, dtype=jnp.bfloat16), device)
    return widened(np.asarray(np.asarray(conv(x, w, b))))


RUNNERS: dict[str, Callable[[], np.ndarray]] = {'reference': run_reference, 'torch': run_torch, 'jax': run_jax}

MEMORY_ERROR_STATUS = 3
CANNOT_TELL_STATUS = 2  # neither reproduces nor gone: the device or the kernel the finding needs is not here


def run_in_child(name: str) -> str | None:
    """Run one oracle in a child process of this script: how it ended if it crashed or hung, else None."""
    try:
        done = subprocess.run([sys.executable, __file__, "--only", name], capture_output=True, text=True,
                              timeout=CASE_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return f"timeout: no answer within {CASE_TIMEOUT} s"
    if done.returncode < 0:
        return f"crash: killed by {signal.Signals(-done.returncode).name}"
    if done.returncode == MEMORY_ERROR_STATUS:
        return "crash: MemoryError"
    return None


def gone(why: str) -> int:
    """The discrepancy did not show: GONE (0), or CANNOT TELL (2) where a kernel-selecting fact of this machine
    differs from where it was found, so that another kernel than the one with the bug may have run here."""
    here = collect_facts(framework_of(s) for s in SUSPECTS)
    differences: list[str] = []
    for suspect in SUSPECTS:
        for line in fact_differences(RECORDED_FACTS, here, [framework_of(suspect)], SUSPECT_DEVICES[suspect]):
            differences += [line] if line not in differences else []
    if differences:
        print(f"CANNOT TELL: {why} here, but another kernel may have run: {'; '.join(differences)}")
        return CANNOT_TELL_STATUS
    print(f"GONE: {why}")
    return 0


def reproduce_crash() -> int:
    ended = {name: run_in_child(name) for name in SUSPECTS if name in RUNNERS}
    for name, how in ended.items():
        print(f"{name}: {how or 'answered'}")
    if any(ended.values()):
        print(f"REPRODUCES: {KIND}, suspect(s) {', '.join(n for n, how in ended.items() if how)}")
        return 1
    return gone(f"{', '.join(SUSPECTS)} no longer crash or hang")


def cuda_seen() -> bool:
    """Whether torch or JAX sees a CUDA GPU here (a CUDA finding cannot be checked without one)."""
    try:
        import torch

        if torch.cuda.is_available():
            return True
    except ImportError:
        pass
    try:
        import jax

        return bool(jax.devices("gpu"))
    except (ImportError, RuntimeError):
        return False


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--only":
        try:
            RUNNERS[sys.argv[2]]()
        except MemoryError:
            return MEMORY_ERROR_STATUS
        return 0
    if DEVICE == "cuda" and not cuda_seen():
        print("SKIPPED: this finding was seen on a CUDA GPU and neither torch nor jax sees one here")
        return CANNOT_TELL_STATUS
    if KIND in ("crash", "timeout"):
        return reproduce_crash()
    values: dict[str, np.ndarray | None] = {}
    errors: dict[str, str] = {}
    if PRECEDING:
        print(f"each oracle is first called with {len(PRECEDING)} earlier input set(s) of the same shapes")
    for name in ORACLES:
        if name not in RUNNERS:
            print(f"{name}: this oracle exists only inside convfuzz; skipped")
            continue
        try:
            for earlier in PRECEDING:  # a stale-buffer bug shows only after these calls
                RUNNERS[name](*earlier)
            values[name] = widened(RUNNERS[name]())
        except ImportError as exc:
            print(f"{name}: not installed ({exc}); skipped")
        except Exception as exc:
            values[name], errors[name] = None, f"{type(exc).__name__}: {exc}".strip()
    if DEFECT:
        # An invalid case every oracle here must refuse: returning numbers (or crashing) is the discrepancy.
        print(f"invalid on purpose: {DEFECT}")
        verdict = decide_invalid(values, errors)
        for observation in verdict.observations.values():
            print(observation.describe())
        still = sorted(set(verdict.suspects) & set(SUSPECTS))
        if still:
            print(f"REPRODUCES: {verdict.kind}, suspect(s) {', '.join(still)}")
            return 1
        return gone(f"{', '.join(SUSPECTS)} now refuse the case")
    exact = reference(X, W, B, G)
    absolute = [None if t is None else np.abs(t) for t in (X, W, B, G)]
    abs_sum = reference(absolute[0], absolute[1], None if GRADIENT else absolute[2], absolute[3])
    # Inputs holding inf/nan: where the propagation rule makes the output non-finite, it must match exactly.
    nonfinite = None if np.isfinite(X).all() else nonfinite_rule(lambda a, k: reference(a, k, None, None), X, W)
    # A gradient is a sum of products too, with no bias term of its own (see TERMS and FOLDS above).
    yardstick = Yardstick.build(exact, abs_sum, RESULT_INPUTS, None if GRADIENT else B, TERMS, DTYPE, nonfinite,
                                folds=FOLDS)
    verdict = decide(values, errors, yardstick)
    for observation in verdict.observations.values():
        print(observation.describe())
    if verdict.exact_tier:
        print("exact tier: integer data, so any difference at all is a bug")
    still = sorted(set(verdict.suspects) & set(SUSPECTS))
    if still:
        print(f"REPRODUCES: {verdict.kind}, suspect(s) {', '.join(verdict.suspects)}")
        return 1
    return gone(f"no discrepancy from {', '.join(SUSPECTS)} (verdict: {verdict.kind or 'all consistent'})")


if __name__ == "__main__":
    sys.exit(main())
