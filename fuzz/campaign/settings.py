"""What a campaign covers and how long it runs: the settings every part of a campaign reads."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from convfuzz.strategies.budget import SizeBudget
from convfuzz.strategies.case import DTYPES, INVALID_STREAM, LAYOUTS, OPS, PADDING_MODES
from convfuzz.strategies.sizes import sizes_from_environment

# How much of a campaign checks backward passes: none; some (one case of an op in BACKWARD_ONE_IN is one of its
# gradients, the rest the op itself: training runs convolution_backward as often as the forward pass, and a default
# campaign must meet a backward bug); all (the op and each gradient equally often).
GRADIENT_SHARES = ("none", "some", "all")
BACKWARD_ONE_IN = 4
GRADIENTS_ENV = "CONVFUZZ_GRADIENTS"


def gradients_from_environment() -> str:
    """The gradient share $CONVFUZZ_GRADIENTS names, or 'some' when it is unset; ValueError naming a bad one."""
    raw = os.environ.get(GRADIENTS_ENV, "").strip()
    if not raw:
        return "some"
    if raw not in GRADIENT_SHARES:
        raise ValueError(f"{GRADIENTS_ENV}={raw!r} is not one of {GRADIENT_SHARES}")
    return raw


# Examples a campaign draws when neither an example count nor a time budget is given (CLI and API alike).
DEFAULT_MAX_EXAMPLES = 500


@dataclass(frozen=True)
class CampaignSettings:
    """What a campaign covers and how long it runs. max_examples/time_budget of None mean unlimited."""

    seed: int
    max_examples: int | None = DEFAULT_MAX_EXAMPLES
    time_budget: float | None = None
    # Of the time budget, the last seconds kept for shrinking what was found: no new examples are drawn then.
    shrink_time: float = 0.0
    # Shrinking may go on this long past the time budget; then the smallest case reached is recorded, marked not
    # fully shrunk, and the example database keeps it for a later campaign to go on from.
    shrink_grace: float = 5.0
    # When the time budget started (time.time()): the command's start, so that start-up counts against it. None:
    # when the campaign itself starts.
    budget_started: float | None = None
    ops: tuple[str, ...] = (*OPS, INVALID_STREAM)
    dtypes: tuple[str, ...] = DTYPES
    devices: tuple[str, ...] = ("cpu",)
    layouts: tuple[str, ...] = LAYOUTS
    padding_modes: tuple[str, ...] = PADDING_MODES
    # The size classes drawn (strategies.sizes); default: $CONVFUZZ_SIZES, or all.
    sizes: tuple[str, ...] = field(default_factory=sizes_from_environment)
    nonfinite: bool = False  # opt-in: inputs holding inf/NaN, judged by the propagation rule
    # Deviation classes (fuzz.judge.deviation) judged as passing: a team that calls them by design keeps them out.
    accept: tuple[str, ...] = ()
    # How often a case of an op is drawn as one of its gradients (input, weight, bias) against a cotangent: one of
    # GRADIENT_SHARES; default: $CONVFUZZ_GRADIENTS, else 'some'.
    gradients: str = field(default_factory=gradients_from_environment)
    budget: SizeBudget = field(default_factory=SizeBudget.from_environment)
    # The Hypothesis example database (fuzz.campaign.example_db spec: a folder, redis://..., or None): saved examples of
    # earlier runs are retried first. None keeps a campaign a function of its seed alone.
    database: str | None = None
    # Parallel campaigns: this process runs the schedule positions p with p % worker_count == worker_index.
    worker_index: int = 0
    worker_count: int = 1

    def drawing_over(self, elapsed: float) -> bool:
        """True when no new example may start `elapsed` seconds into the time budget: the budget less the shrink
        time kept at its end is spent (never without a time budget)."""
        return self.time_budget is not None and elapsed >= self.time_budget - self.shrink_time
