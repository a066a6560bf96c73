"""Sound floating-point error bounds for a convolution output, and how far a result is from its truth.

For y = sum of K products x*w (+ b), an implementation whose inputs are rounded with unit roundoff u_r,
that accumulates with u_acc and stores with u_out, satisfies elementwise
    |y_hat - y| <= ((1 + u_r)^2 (1 + gamma_{K+1}(u_acc)) - 1) * A + u_out * (|y| + |y - b|) + tiny terms
where A = |x| conv |w| + |b| and gamma_n(u) = n*u / (1 - n*u). The |y - b| term covers a bias added after the
conv was already rounded to the output dtype; the tiny terms cover underflow with flush-to-zero.

Complex dtypes (complex64, complex128) are judged by the modulus of the error, with A taken of the moduli
|x| and |w|: see complex_terms.
"""

from __future__ import annotations

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
