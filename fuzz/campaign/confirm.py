"""The evaluate-and-confirm loop the engine and replay share: run a case again, after the calls it needs before it,
until its discrepancy shows or the runs are spent.

More than one run because some real bugs are intermittent (an out-of-bounds read returns whatever memory holds):
the engine records a finding only once a re-run shows it again, and replay calls a finding gone only after every
run is clean.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from convfuzz.fuzz.judge.verdict import Verdict
from convfuzz.strategies.case import ConvCase


def palate_cleanser(case: ConvCase) -> ConvCase:
    """A call of another shape served by the same oracles: `case` with one more batch sample (its first, or zeros).
    Run before a confirmation so that a stale-buffer bug cannot borrow the state an earlier same-shape call left."""
    cfg = case.config
    extra = case.x[:1] if cfg.batch else np.zeros((1, *case.x.shape[1:]))
    # A gradient case's cotangent grows by one sample as well (zeros: that sample adds nothing to the gradient).
    g = None if case.g is None else np.concatenate([case.g, np.zeros((1, *case.g.shape[1:]))])
    return replace(case, config=replace(cfg, batch=cfg.batch + 1), x=np.concatenate([case.x, extra]), g=g)


def rerun_until_shown(
    evaluate: Callable[[ConvCase], Verdict],
    case: ConvCase,
    shows: Callable[[Verdict], bool],
    runs: int,
    preceding: Sequence[ConvCase] = (),
    cleanse: bool = False,
) -> tuple[Verdict, bool]:
    """Evaluate `case` up to `runs` times, each time after the `preceding` calls (and, with `cleanse`, after a
    palate cleanser first), until `shows(verdict)`. Returns the last verdict and whether it showed."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    for _ in range(runs):
        if cleanse:
            evaluate(palate_cleanser(case))  # whatever ran before must not be what makes it show
        for earlier in preceding:
            evaluate(earlier)
        verdict = evaluate(case)
        if shows(verdict):
            return verdict, True
    return verdict, False
