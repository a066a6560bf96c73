"""One Hypothesis run of a campaign: up to a quota of examples of one (op, dtype, device) combination, each
checked by the campaign, every new discrepancy shrunk by Hypothesis.

A new discrepancy is handed to the campaign as soon as it shows (confirmed and written, marked not fully shrunk),
then again as shrinking reaches smaller cases, and last fully shrunk (or as far as the run's shrink limit let it
go). How one run finds several bugs: each discrepancy signature (op, dtype, device, kind, suspects) gets its own
exception type, so Hypothesis shrinks distinct bugs separately. The run ends once it has shrunk a new failure; its
failures go to the campaign, which confirms and records them and adds the fully shrunk ones to the known
signatures (which later examples then let pass).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from hypothesis import HealthCheck, Phase, Verbosity, given, settings, target
from hypothesis import seed as hypothesis_seed

from convfuzz.fuzz.campaign.confirm import palate_cleanser
from convfuzz.fuzz.campaign.example_db import database_key
from convfuzz.fuzz.campaign.minimize import minimized
from convfuzz.fuzz.campaign.schedule import Schedule, derived_seed
from convfuzz.fuzz.campaign.settings import BACKWARD_ONE_IN, CampaignSettings
from convfuzz.fuzz.campaign.statistics import CampaignStats
from convfuzz.fuzz.judge.decide import PROCESS_KINDS
from convfuzz.fuzz.judge.verdict import Verdict
from convfuzz.fuzz.store.records import kind_of_signature, signature_of
from convfuzz.strategies.case import INVALID_STREAM, ConvCase
from convfuzz.strategies.conv import beyond_small_class, conv_case_groups
from convfuzz.strategies.invalid import invalid_cases
from convfuzz.strategies.sizes import large_budget


class BudgetExhausted(BaseException):
    """Raised inside the Hypothesis test to end a run; a BaseException so Hypothesis does not shrink it."""


class Discrepancy(Exception):
    """Base of the per-signature exception types raised for new discrepancies."""


_EXCEPTION_TYPES: dict[str, type[Discrepancy]] = {}


def exception_for(signature: str) -> type[Discrepancy]:
    """The exception type of one discrepancy signature (one per signature, so Hypothesis shrinks each apart)."""
    if signature not in _EXCEPTION_TYPES:
        _EXCEPTION_TYPES[signature] = type(f"Discrepancy[{signature}]", (Discrepancy,), {})
    return _EXCEPTION_TYPES[signature]


class Failure(NamedTuple):
    """A failing case, the cases called before it in the same example (a stale-buffer bug needs them), and the
    verdict it got (a crash or hang is recorded from it as seen: re-running one costs a worker restart or a case
    timeout)."""

    case: ConvCase
    earlier: tuple[ConvCase, ...]
    verdict: Verdict


class RunningCampaign(Protocol):
    """What a Hypothesis run needs of its campaign (fuzz.campaign.engine.Campaign)."""

    settings: CampaignSettings
    schedule: Schedule
    stats: CampaignStats
    known: set[str]
    example_database: Any
    interrupt_requested: bool
    last_paths: list[str]

    def evaluate(self, case: ConvCase) -> Verdict: ...

    def check_one(self, case: ConvCase) -> Verdict: ...

    def time_spent(self) -> bool: ...

    def shrinking_over(self) -> bool: ...

    def report_progress(self) -> None: ...

    def record_all(self, cases: Mapping[str, Failure], shrink_complete: bool = True) -> None: ...

    def record_provisional(self, signature: str, failure: Failure) -> bool: ...

    def improve_provisional(self, signature: str, failure: Failure) -> None: ...

    def sit_out_after_stored_crash(self, case: ConvCase, verdict: Verdict, signature: str) -> None: ...


class HypothesisRun:
    """The Hypothesis run at schedule `position` (its `attempt`-th there) over (op, dtype, device), generating up
    to `quota` examples."""

    def __init__(
        self, campaign: RunningCampaign, op: str, dtype: str, device: str, quota: int, position: int, attempt: int
    ) -> None:
        self.campaign = campaign
        self.op, self.dtype, self.device = op, dtype, device
        self.quota, self.position, self.attempt = quota, position, attempt
        self.generated = 0
        # signature -> (the failing case, the cases called before it in the same example): the last failing
        # example of each signature, and the smallest one seen
        self.failing: dict[str, Failure] = {}
        self.smallest: dict[str, Failure] = {}
        self.stopped_while_shrinking = False
        self.shrink_limit = campaign.schedule.shrink_limit(position)
        self.shrink_started: float | None = None  # time.monotonic() of this run's first failure

    def run(self) -> int:
        """Run it; returns how many examples it generated. Its failures are handed to the campaign's record_all
        (also when Ctrl-C ends it: what was found so far is kept, then the interrupt goes on)."""
        self.campaign.stats.hypothesis_runs += 1
        try:
            self._test()()
        except (BudgetExhausted, Discrepancy, ExceptionGroup):
            pass
        except KeyboardInterrupt:
            # Keep what was found so far: the smallest failing case of each signature is still a valid finding.
            self.campaign.record_all(self.smallest, shrink_complete=False)
            raise
        # After a completed shrink Hypothesis replays each minimal example last, so `failing` holds them;
        # a shrink cut short leaves only the smallest failing case seen so far.
        if self.stopped_while_shrinking:
            self.campaign.record_all(self.smallest, shrink_complete=False)
        else:
            finished: dict[str, Failure] = {}
            cut: dict[str, Failure] = {}
            for signature, failure in self.failing.items():
                smaller, complete = self._minimized(signature, failure)
                (finished if complete else cut)[signature] = smaller
            self.campaign.record_all(finished)
            if cut:  # time ran out while minimising: stored as not fully shrunk, for a later run to go on
                self.campaign.record_all(cut, shrink_complete=False)
        return self.generated

    def _minimized(self, signature: str, failure: Failure) -> tuple[Failure, bool]:
        """A shrunk failure beyond the small size class, lowered one parameter at a time (fuzz.campaign.minimize)
        while it fails the same way, and whether that went to the end (False: time ran out). Candidates are called
        alone: a failure that needs the calls before it (a stale buffer) finds no smaller candidate and keeps them.
        Crashes and hangs (each re-run costs a worker) are left as Hypothesis shrank them."""
        campaign = self.campaign
        cfg = failure.case.config
        if kind_of_signature(signature) in PROCESS_KINDS or cfg.defect:
            return failure, True
        if not beyond_small_class(cfg, campaign.settings.budget):
            return failure, True
        # The verdict of the last case that failed: the minimiser only ever moves to a failing case, so it is the
        # verdict of the case it ends on.
        last_failing = [failure.verdict]

        def fails(case: ConvCase) -> bool:
            verdict = campaign.evaluate(case)
            same = verdict.discrepant and signature_of(case, verdict) == signature
            if same:
                last_failing.append(verdict)
            return same

        def over() -> bool:
            return self._past_shrink_limit() or campaign.shrinking_over()

        smallest = minimized(failure.case, fails, large_budget(campaign.settings.budget), over)
        complete = not over()
        if smallest is failure.case:
            return failure, complete
        return Failure(smallest, (), last_failing[-1]), complete

    def _test(self) -> Any:
        """The Hypothesis test of this run: `_check` over the run's strategy, seeded, with its settings."""
        campaign, s = self.campaign, self.campaign.settings
        base_op, gradients = campaign.schedule.gradients_of(self.op)
        cases = (
            invalid_cases(dtypes=(self.dtype,), devices=(self.device,)) if self.op == INVALID_STREAM else
            conv_case_groups(
                ops=(base_op,), dtypes=(self.dtype,), devices=(self.device,), budget=s.budget, layouts=s.layouts,
                padding_modes=s.padding_modes, nonfinite=s.nonfinite, gradients=gradients, sizes=s.sizes,
                backward_one_in=BACKWARD_ONE_IN if s.gradients == "some" else None,
            )
        )
        # Seeded by schedule position, so a run is the same whichever worker of a parallel campaign runs it. The
        # settings go on after the seed: @seed on its own turns the example database off.
        seeded = hypothesis_seed(derived_seed(s.seed, self.position, self.attempt))(given(cases)(self._check))
        reuse = (Phase.reuse,) if campaign.example_database is not None else ()
        test = settings(
            max_examples=self.quota,
            deadline=None,
            database=campaign.example_database,
            derandomize=False,
            report_multiple_bugs=True,
            verbosity=Verbosity.quiet,
            phases=(*reuse, Phase.generate, Phase.target, Phase.shrink),
            suppress_health_check=list(HealthCheck),
        )(seeded)
        # Hypothesis would key saved examples by the test function, which every run shares; key them by entry.
        test._hypothesis_internal_database_key = database_key(self.op, self.dtype, self.device)  # type: ignore[attr-defined]
        return test

    def _out_of_budget(self, shrinking: bool) -> bool:
        """Whether this example must not run: the run's quota or the campaign's time is spent (shrinking a found
        failure may go on a little past the time budget: Campaign.shrinking_over), the run's shrink limit is
        reached, or the campaign was interrupted."""
        campaign = self.campaign
        if campaign.shrinking_over():
            return True
        if shrinking and self._past_shrink_limit():
            return True
        return not shrinking and (campaign.time_spent() or self.generated >= self.quota)

    def _past_shrink_limit(self) -> bool:
        """Whether this run has shrunk what it found for longer than its shrink limit (never without one)."""
        limit, started = self.shrink_limit, self.shrink_started
        return limit is not None and started is not None and time.monotonic() - started > limit

    def _check(self, cases: list[ConvCase]) -> None:
        """One example: each of its cases checked by the campaign; the first new discrepancy raises its
        signature's exception, which Hypothesis then shrinks."""
        campaign, stats = self.campaign, self.campaign.stats
        shrinking = bool(self.failing)
        if self._out_of_budget(shrinking):
            self.stopped_while_shrinking |= shrinking
            raise BudgetExhausted
        if shrinking and any(failure.earlier for failure in self.failing.values()):
            # Shrinking a failure that showed on a later call of one shape: start every candidate from a state the
            # previous candidate (often the same shape) did not leave behind, so the earlier calls it needs are
            # kept rather than supplied by whatever ran before.
            campaign.evaluate(palate_cleanser(cases[0]))
        stats.examples += 1
        stats.examples_by_op_dtype_device[f"{self.op} {self.dtype} {self.device}"] += 1
        self.generated += not shrinking
        worst = rarest = 0.0
        for position_in_group, case in enumerate(cases):
            verdict = campaign.check_one(case)
            worst = max(worst, verdict.max_ratio)
            rarest = max([rarest, *(1.0 / stats.features[path] for path in campaign.last_paths)])
            if not verdict.discrepant:
                continue
            signature = signature_of(case, verdict)
            if signature in campaign.known:
                stats.known_discrepancies += 1
                if not self.failing:
                    campaign.sit_out_after_stored_crash(case, verdict, signature)
                continue
            if stats.first_discrepancy_at is None:
                stats.first_discrepancy_at = stats.examples
            first_seen = signature not in self.smallest
            self.failing[signature] = Failure(case, tuple(cases[:position_in_group]), verdict)
            best = self.smallest.get(signature)
            if best is None or case.element_count() <= best[0].element_count():
                self.smallest[signature] = self.failing[signature]
            # Written as soon as it is confirmed, then replaced by smaller cases as shrinking goes on.
            if self.shrink_started is None:
                self.shrink_started = time.monotonic()
            if first_seen:
                campaign.record_provisional(signature, self.failing[signature])
            else:
                campaign.improve_provisional(signature, self.smallest[signature])
            raise exception_for(signature)(verdict.message)
        target(worst, label="err/bound")
        # Steers towards implementations the campaign has rarely reached: 1 for a path seen once, 1/n for one seen n
        # times; Hypothesis's target phase mutates the examples that score highest.
        target(rarest, label="rare implementation")
        campaign.report_progress()
