"""Rounding float64 data to the fuzzed dtypes with NumPy alone (NumPy has no bfloat16)."""

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


def round_to_bfloat16(values: FloatArray) -> FloatArray:
    """Round to the nearest bfloat16 (ties to even), returned as float64."""
    as_f32 = np.ascontiguousarray(values, dtype=np.float32)
    bits = as_f32.view(np.uint32).astype(np.uint64)
    # Round to nearest even on the 16 bits that bfloat16 drops.
    rounding = ((bits >> 16) & 1) + 0x7FFF
    rounded = ((bits + rounding) >> 16) << 16
    return rounded.astype(np.uint32).view(np.float32).astype(np.float64)


def round_to_dtype(values: FloatArray, dtype: str) -> FloatArray:
    """Round float64 values to `dtype` and flush subnormal results to zero; returns float64."""
    if dtype == "bfloat16":
        rounded = round_to_bfloat16(values)
    else:
        rounded = np.asarray(values, dtype=np.dtype(dtype)).astype(np.float64)
    rounded[np.abs(rounded) < SMALLEST_NORMAL[dtype]] = 0.0
    return rounded
