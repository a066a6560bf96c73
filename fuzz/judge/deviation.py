"""Two classes of deviation that framework maintainers often call by design, named by the judge instead of being
left for the reader to find out.

reduced-accumulation: a float16/bfloat16 result outside the bound of accumulating in float32 but inside the bound of
  accumulating in the storage dtype itself (a `precision` finding of a half type): the kernel sums in half
  precision, which some backends do on purpose.
nan-through-zero: NaN in outputs that the IEEE propagation rule keeps finite, but only where a correct
  implementation could put it by multiplying a non-finite input by a zero that it materialises: the zero blocks of
  a grouped convolution computed as a dense one, or the zeros between the taps of a dilated kernel written out. Every
  other element must be right. NaN that no non-finite input could reach that way stays a plain nonfinite bug.

Both stay findings unless a campaign is told to accept them (`convfuzz run --accept`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from convfuzz.fuzz.judge.bounds import PASS
from convfuzz.fuzz.judge.decide import REFERENCE, Decision, Yardstick
from convfuzz.oracles.reference import conv_reference, conv_transpose_reference
from convfuzz.strategies.case import ConvCase

REDUCED_ACCUMULATION = "reduced-accumulation"
NAN_THROUGH_ZERO = "nan-through-zero"
DEVIATIONS = (REDUCED_ACCUMULATION, NAN_THROUGH_ZERO)
HALF_DTYPES = ("float16", "bfloat16")
# Each class in a few words, for explain and the report.
DEVIATION_WORDS = {
    REDUCED_ACCUMULATION: "a half-precision result inside the bound of summing in the storage dtype itself; often by "
    "design",
    NAN_THROUGH_ZERO: "NaN only where a non-finite input meets a zero a correct kernel may write out; often by design",
}

Array64 = npt.NDArray[np.float64]


def materialised_zero_reach(case: ConvCase) -> npt.NDArray[np.bool_] | None:
    """The output elements that a non-finite input element reaches when every group's input meets every output
    channel (grouped as dense, zero blocks) through the kernel's whole span (dilation as a kernel with zeros
    between its taps). None where the case is not a plain forward or transposed convolution."""
    cfg = case.config
    if cfg.gradient or cfg.batch_groups > 1:
        return None
    touched = (~np.isfinite(case.x)).astype(np.float64)
    span = tuple(d * (k - 1) + 1 for k, d in zip(cfg.kernel, cfg.dilation, strict=True))
    ones = (1,) * cfg.rank
    if cfg.transposed:
        dense = np.ones((cfg.in_channels, cfg.out_channels, *span))
        reach = conv_transpose_reference(touched, dense, None, cfg.stride, cfg.pad_pairs(), cfg.output_padding,
                                         ones, 1)
    else:
        dense = np.ones((cfg.out_channels, cfg.in_channels, *span))
        reach = conv_reference(touched, dense, None, cfg.stride, cfg.pad_pairs(), ones, 1, cfg.padding_mode)
    result: npt.NDArray[np.bool_] = reach > 0
    return result


def is_nan_through_zero(case: ConvCase, value: Array64, yard: Yardstick, bound: Array64) -> bool:
    """True when `value` breaks the propagation rule only by NaN that materialised zeros explain (module
    docstring), and is within `bound` of the exact result everywhere else."""
    rule = yard.nonfinite
    if rule is None or value.shape != yard.exact.shape:
        return False
    exact = yard.exact
    with np.errstate(invalid="ignore"):
        same = (value == exact) | (np.isnan(value) & np.isnan(exact))
        if np.any(rule & ~same):
            return False  # an inf or NaN the rule demands is missing or changed: no zero explains that
        extra = ~rule & ~np.isfinite(value)
        if not extra.any() or not np.isnan(value[extra]).all():
            return False  # inf * 0 and NaN * 0 are NaN: an infinity through a zero is impossible
        reach = materialised_zero_reach(case)
        if reach is None or np.any(extra & ~reach):
            return False
        finite = ~rule & np.isfinite(value)
        return bool(np.all(np.abs(value[finite] - exact[finite]) <= bound[finite]))


def classify(case: ConvCase, decision: Decision, values: Mapping[str, Array64 | None], yard: Yardstick) -> Decision:
    """`decision` with its deviation class set (or left None): see the module docstring."""
    if not decision.discrepant or case.config.defect:
        return decision
    if decision.kind == "precision" and case.config.dtype in HALF_DTYPES:
        return replace(decision, deviation=REDUCED_ACCUMULATION)
    if decision.kind == "nonfinite" and decision.suspects:
        reference_bound = yard.bound(REFERENCE, PASS)
        explained = all(
            (value := values.get(suspect)) is not None
            and is_nan_through_zero(case, value, yard, yard.bound(suspect, PASS) + reference_bound)
            for suspect in decision.suspects
        )
        if explained:
            return replace(decision, deviation=NAN_THROUGH_ZERO)
    return decision


def accepted(decision: Decision, classes: tuple[str, ...]) -> Decision:
    """`decision` as a pass when its deviation class is one the campaign accepts (`convfuzz run --accept`); the
    class stays on it, so statistics can count what was accepted."""
    if decision.deviation is None or decision.deviation not in classes:
        return decision
    return replace(decision, kind=None, suspects=(), messages=())
