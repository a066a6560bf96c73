"""The verdict on one case from raw outcomes: who is wrong, how badly, and the message that says so."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from convfuzz.fuzz.judge.bounds import (
    LEVELS,
    PASS,
    PRECISION,
    Array64,
    Comparison,
    compare,
    error_bound,
    is_exact_tier,
    levels_of,
    reference_bound,
    rounded_parts,
)
from convfuzz.fuzz.judge.consensus import minimal_suspects

REFERENCE = "reference"
# The kinds of finding, the one list of them, in severity order (used when several suspects disagree in different
# ways): the numeric kinds compare an element's value against its exact value and bound; error_mismatch is an error
# where the others computed (or a result where they refused); crash and timeout are how a process ended.
KINDS = ("precision", "mismatch", "nonfinite", "error_mismatch", "timeout", "crash")
NUMERIC_KINDS = KINDS[:3]
# Kinds whose finding has an exact result to compare a framework's output with.
VALUE_KINDS = KINDS[:4]
# Kinds about a call that did not return numbers as it should (compared by the error, not by values).
ERROR_KINDS = KINDS[3:]
# Kinds about how the process running the call ended: re-running one restarts a worker.
PROCESS_KINDS = KINDS[4:]


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


def stored_number(value: object) -> float | complex:
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
    actual, expected = stored_number(seen["actual"]), stored_number(seen["expected"])
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
        actual=stored_number(seen["actual"]), expected=stored_number(seen["expected"]),
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
    # A class of deviation maintainers often call by design (fuzz.judge.deviation), or None.
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
    # Partial results, each rounded to the dtype, that a correct implementation may add up (fuzz.judge.bounds)
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
    kind = max(kinds, key=KINDS.index) if kinds else None
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
    kind = max(kinds, key=KINDS.index) if kinds else None
    framework_ratios = [r for n, r in deviation.items() if n != REFERENCE and values[n] is not None]
    return Decision(
        kind=kind,
        suspects=suspects if kind else (),
        observations=observations,
        exact_tier=yard.exact_tier,
        max_ratio=min(max(framework_ratios, default=0.0), 1e300),
        messages=tuple(observations[s].describe() for s in suspects) if kind else (),
    )
