"""Rounding float64 data to the fuzzed dtypes with NumPy alone (NumPy has no bfloat16).

A complex dtype is a pair of real components (complex64: two float32), rounded one component at a time.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Smallest positive normal number of each dtype: generated values below it are flushed to zero so that
# no case depends on how a backend treats subnormals (flush-to-zero is legal on many CPU and GPU paths).
SMALLEST_NORMAL: dict[str, float] = {
    "float64": float(np.finfo(np.float64).tiny),
    "float32": float(np.finfo(np.float32).tiny),
    "float16": float(np.finfo(np.float16).tiny),
    "bfloat16": float(np.finfo(np.float32).tiny),
}

# The real dtype of each complex dtype's components.
COMPLEX_COMPONENTS: dict[str, str] = {"complex64": "float32", "complex128": "float64"}


def component_dtype(dtype: str) -> str:
    """The real dtype of one component: 'float32' for complex64, `dtype` itself for a real dtype."""
    return COMPLEX_COMPONENTS.get(dtype, dtype)


def is_complex(dtype: str) -> bool:
    """True for complex64 and complex128."""
    return dtype in COMPLEX_COMPONENTS


def join_parts(real: FloatArray, imag: FloatArray) -> FloatArray:
    """The complex128 array of these real and imaginary parts, set part by part (real + 1j * imag may change the
    sign of a zero)."""
    joined: FloatArray = np.empty(real.shape, dtype=np.complex128)
    joined.real, joined.imag = real, imag
    return joined


def round_to_bfloat16(values: FloatArray) -> FloatArray:
    """Round to the nearest bfloat16 (ties to even), returned as float64."""
    as_f32 = np.ascontiguousarray(values, dtype=np.float32)
    bits = as_f32.view(np.uint32).astype(np.uint64)
    # Round to nearest even on the 16 bits that bfloat16 drops.
    rounding = ((bits >> 16) & 1) + 0x7FFF
    rounded = ((bits + rounding) >> 16) << 16
    return rounded.astype(np.uint32).view(np.float32).astype(np.float64)


def round_to_dtype(values: FloatArray, dtype: str) -> FloatArray:
    """Round float64 values to `dtype` and flush subnormal results to zero; returns float64 (complex128 for a
    complex dtype, whose real and imaginary parts are rounded to the component dtype one after the other)."""
    if is_complex(dtype):
        part = component_dtype(dtype)
        real = round_to_dtype(np.real(values).astype(np.float64), part)
        imag = round_to_dtype(np.imag(values).astype(np.float64), part)
        return join_parts(real, imag)
    if dtype == "bfloat16":
        rounded = round_to_bfloat16(values)
    else:
        rounded = np.asarray(values, dtype=np.dtype(dtype)).astype(np.float64)
    rounded[np.abs(rounded) < SMALLEST_NORMAL[dtype]] = 0.0
    return rounded
