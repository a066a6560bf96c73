"""The judge: builds the float64 yardstick for a case and decides who is wrong (logic in fuzz.judge.decide)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from convfuzz.fuzz.judge.decide import REFERENCE, Decision, Observation, Yardstick, decide, decide_invalid
from convfuzz.fuzz.judge.deviation import classify
from convfuzz.oracles.base import Outcome
from convfuzz.oracles.reference import nonfinite_rule
from convfuzz.oracles.reference_oracle import reference_output, reference_result
from convfuzz.strategies.case import DEFECTS, ConvCase

# The engine's name for the judge's Decision.
Verdict = Decision


def yardstick(case: ConvCase, exact: np.ndarray | None = None) -> Yardstick:
    """Reference result (recomputed unless given), |x| conv |w| + |b| and the exact-tier test for `case`.

    A gradient is a sum of products too (of w and g, of x and g, or of g alone): the same bound applies with the
    gradient of absolute values in the place of |x| conv |w|, and no bias."""
    cfg = case.config
    if cfg.gradient:
        absolute = {name: np.abs(t) for name, t in case.tensors().items()}
        if exact is None:
            exact = reference_result(cfg, case.x, case.w, case.b, case.g)
        abs_sum = reference_result(cfg, absolute["x"], absolute["w"], None, absolute.get("g"))
        return Yardstick.build(
            exact, abs_sum, list(case.result_tensors().values()), None, cfg.terms_per_output(), cfg.dtype,
            folds=cfg.folds(),
        )
    # Reflect, replicate and circular padding copy input values, so |pad(x)| = pad(|x|): A uses the same mode.
    nonfinite = None
    with np.errstate(invalid="ignore"):  # inf * 0 and inf - inf in a --nonfinite case: the rule below says what
        if exact is None:
            exact = reference_output(cfg, case.x, case.w, case.b)
        abs_bias = None if case.b is None else np.abs(case.b)
        abs_sum = reference_output(cfg, np.abs(case.x), np.abs(case.w), abs_bias)
    if not np.isfinite(case.x).all():
        nonfinite = nonfinite_rule(lambda a, k: reference_output(cfg, a, k, None), case.x, case.w)
    return Yardstick.build(
        exact, abs_sum, list(case.tensors().values()), case.b, cfg.terms_per_output(), cfg.dtype, nonfinite
    )


def judge(case: ConvCase, outcomes: Mapping[str, Outcome]) -> Verdict:
    """Decide which oracles (if any) are wrong on `case`, given every oracle's outcome."""
    if _must_refuse(case, outcomes):  # the invalid stream: every oracle given must refuse the case
        return decide_invalid(
            {n: o.value for n, o in outcomes.items()},
            {n: o.error for n, o in outcomes.items() if o.error is not None},
            {n: o.failure for n, o in outcomes.items() if o.failure is not None},
        )
    reference = outcomes.get(REFERENCE)
    try:
        yard = yardstick(case, reference.value if reference is not None else None)
    except Exception as exc:  # noqa: BLE001 - our reference failing on a valid case is itself a finding
        return _reference_failed(outcomes, f"{type(exc).__name__}: {exc}")
    values = {n: o.value for n, o in outcomes.items()}
    errors = {n: o.error for n, o in outcomes.items() if o.error is not None}
    failures = {n: o.failure for n, o in outcomes.items() if o.failure is not None}
    return classify(case, decide(values, errors, yard, failures), values, yard)


def _must_refuse(case: ConvCase, outcomes: Mapping[str, Outcome]) -> bool:
    """True for an invalid-stream case every oracle must refuse: an invalid configuration, or a hostile parameter
    the reference refused (without the reference, frameworks that compute it are held to agree instead)."""
    defect = case.config.defect
    if not defect:
        return False
    if DEFECTS[defect].must_refuse:
        return True
    reference = outcomes.get(REFERENCE)
    return reference is not None and reference.value is None


def _reference_failed(outcomes: Mapping[str, Outcome], error: str) -> Verdict:
    """The reference could not compute a case the strategies call valid: the reference is the suspect."""
    observations = {n: Observation(n, REFERENCE, error=o.error) for n, o in outcomes.items() if o.error}
    observations[REFERENCE] = Observation(REFERENCE, "frameworks", error=error)
    return Decision(
        kind="error_mismatch",
        suspects=(REFERENCE,),
        observations=observations,
        exact_tier=False,
        max_ratio=0.0,
        messages=(observations[REFERENCE].describe(),),
    )
