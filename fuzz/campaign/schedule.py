"""The campaign's schedule: which (op, dtype, device) combination each Hypothesis run covers, with how many
examples, and with which seed.

Coverage: left alone, Hypothesis's mutator keeps reusing the first choices of a good example, so one op and dtype
can take most of a run. A campaign therefore rotates Hypothesis runs through every combination in a seed-shuffled
order, giving each run a quota of examples. Every run is seeded by (campaign seed, position, attempt), so a
campaign with an example budget is the same whether one worker or several (fuzz.campaign.parallel) run it.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from dataclasses import dataclass

from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.oracles.registry import serves_op
from convfuzz.strategies.case import GRADIENT_SEPARATOR, GRADIENTS, INVALID_STREAM, ops_with_layouts, split_op_name

# Examples per Hypothesis run before the engine moves on to the next (op, dtype, device) combination. Passes
# over the schedule start short, so that even a brief run touches every combination, then grow.
PASS_QUOTAS = (10, 30)
MAX_RUN_QUOTA = 100
MIN_RUN_QUOTA = 10
# In the first pass of a time-budgeted campaign, a Hypothesis run shrinks what it found for at most this long: the
# finding is written already (not fully shrunk), and the rest of the schedule gets its first look sooner. The
# combination's run in the next pass goes on shrinking it (from the example database where there is one).
FIRST_PASS_SHRINK_SECONDS = 5.0


def derived_seed(seed: int, position: int, attempt: int = 0) -> int:
    """Seed of a campaign's Hypothesis run at a schedule position (and attempt there): fixed, well mixed."""
    digest = hashlib.sha256(f"convfuzz:{seed}:{position}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(frozen=True)
class Schedule:
    """The schedule of a campaign with `settings` over the oracles `oracle_names`."""

    settings: CampaignSettings
    oracle_names: tuple[str, ...]

    def combinations(self) -> list[tuple[str, str, str]]:
        """The (op, dtype, device) combinations in this campaign's seed-shuffled order."""
        s = self.settings
        # An op none of whose layouts was chosen (conv1d with only channels_last) has nothing to run.
        ops = ops_with_layouts([op for op in s.ops if op != INVALID_STREAM], s.layouts)
        streams = (*ops, INVALID_STREAM) if INVALID_STREAM in s.ops else ops
        combos = list(itertools.product(streams, s.dtypes, s.devices))
        random.Random(s.seed).shuffle(combos)
        return combos

    def gradients_of(self, op: str) -> tuple[str, tuple[str, ...]]:
        """A schedule entry's op and what its cases compute: a gradient named in it ('conv2d.grad_weight'), or
        the op itself plus, unless gradients are off, each gradient that at least two of the oracles compute."""
        if op == INVALID_STREAM:
            return op, ("",)
        base, named = split_op_name(op)
        if named:
            return base, (named,)
        if self.settings.gradients == "none":
            return base, ("",)
        served = [
            g for g in GRADIENTS if sum(serves_op(n, f"{base}{GRADIENT_SEPARATOR}{g}") for n in self.oracle_names) >= 2
        ]
        return base, ("", *served)

    def run_quota(self, schedule_pass: int) -> int:
        """Examples per Hypothesis run in the given pass over the schedule.

        With an example budget: an even share of it (at least MIN_RUN_QUOTA, at most MAX_RUN_QUOTA). With only a
        time budget: PASS_QUOTAS for the first passes, then MAX_RUN_QUOTA.
        """
        s = self.settings
        if s.max_examples is not None:
            share = s.max_examples // max(len(self.combinations()), 1)
            return min(max(share, MIN_RUN_QUOTA), MAX_RUN_QUOTA)
        return PASS_QUOTAS[schedule_pass] if schedule_pass < len(PASS_QUOTAS) else MAX_RUN_QUOTA

    def shrink_limit(self, position: int) -> float | None:
        """Seconds the Hypothesis run at schedule `position` may shrink for (None: until done or the budget ends):
        FIRST_PASS_SHRINK_SECONDS in the first pass of a campaign with only a time budget. With an example budget
        there may be no later pass to finish the job, so shrinking is never cut there."""
        s = self.settings
        first_pass = position < len(self.combinations())
        return FIRST_PASS_SHRINK_SECONDS if s.max_examples is None and first_pass else None

    def run_count(self) -> int | None:
        """With an example budget, how many Hypothesis runs the whole campaign makes (each generates its quota;
        shrinking comes on top). The same runs, with the same seeds, whatever the number of workers."""
        s = self.settings
        if s.max_examples is None:
            return None
        return -(-s.max_examples // self.run_quota(0))
