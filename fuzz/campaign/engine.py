"""The campaign engine: Hypothesis drives cases through the oracles and the judge, and every new discrepancy
is shrunk by Hypothesis and handed over as a finding record. The engine never prints; it reports progress
through a callback and returns its statistics.

Coverage: left alone, Hypothesis's mutator keeps reusing the first choices of a good example, so one op and
dtype can take most of a run. The engine therefore rotates Hypothesis runs through every (op, dtype, device)
combination in a seed-shuffled order, giving each run a quota of examples.

How one campaign finds many bugs: each discrepancy signature (op, dtype, device, kind, suspects) gets its own
exception type, so Hypothesis shrinks distinct bugs separately. A Hypothesis run ends once it has shrunk a new
failure; the failures are confirmed, recorded and added to the known signatures (which the test then lets
pass), and the same schedule position continues with its next attempt (its own derived seed) until it has
generated its quota of examples. Every run is seeded by (campaign seed, position, attempt), so a campaign with
an example budget is the same whether one worker or several (fuzz.campaign.parallel) run it.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import math
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, event, given, settings, target
from hypothesis import seed as hypothesis_seed

from fuzz.campaign.distinct import DistinctCounter
from fuzz.campaign.environment import finding_environment
from fuzz.campaign.example_db import database_key, example_database
from fuzz.judge.deviation import accepted
from fuzz.judge.verdict import Verdict, judge
from fuzz.store.records import FindingRecord, kind_of_signature, signature_of
from oracles.base import Oracle, Outcome, backend_path, kernel_facts_of
from oracles.kernel_facts import merge_facts
from oracles.registry import serves_op, takes_part
from strategies.budget import SizeBudget
from strategies.case import (
    DTYPES,
    GRADIENT_SEPARATOR,
    GRADIENTS,
    INVALID_STREAM,
    LAYOUTS,
    OPS,
    PADDING_MODES,
    ConvCase,
    ops_with_layouts,
    split_op_name,
)
from strategies.conv import MAX_CHANNELS_PER_GROUP, conv_case_groups
from strategies.invalid import invalid_cases

# Examples per Hypothesis run before the engine moves on to the next (op, dtype, device) combination. Passes
# over the schedule start short, so that even a brief run touches every combination, then grow.
PASS_QUOTAS = (10, 30)
MAX_RUN_QUOTA = 100
MIN_RUN_QUOTA = 10
# Shrinking an already-found bug may run this long past the time budget before we stop it.
SHRINK_GRACE_SECONDS = 120.0
# Re-runs a discrepancy gets to show again before it is recorded (some real bugs are intermittent).
CONFIRM_RUNS = 3


class BudgetExhausted(BaseException):
    """Raised inside the Hypothesis test to end a run; a BaseException so Hypothesis does not shrink it."""


class Discrepancy(Exception):
    """Base of the per-signature exception types raised for new discrepancies."""


@dataclass(frozen=True)
class CampaignSettings:
    """What a campaign covers and how long it runs. max_examples/time_budget of None mean unlimited."""

    seed: int
    max_examples: int | None = 200
    time_budget: float | None = None
    ops: tuple[str, ...] = (*OPS, INVALID_STREAM)
    dtypes: tuple[str, ...] = DTYPES
    devices: tuple[str, ...] = ("cpu",)
    layouts: tuple[str, ...] = LAYOUTS
    padding_modes: tuple[str, ...] = PADDING_MODES
    nonfinite: bool = False  # opt-in: inputs holding inf/NaN, judged by the propagation rule
    # Deviation classes (fuzz.judge.deviation) judged as passing: a team that calls them by design keeps them out.
    accept: tuple[str, ...] = ()
    # opt-in: each case of an op is also drawn as one of its gradients (input, weight, bias) against a cotangent
    gradients: bool = False
    budget: SizeBudget = field(default_factory=SizeBudget.from_environment)
    # The Hypothesis example database (fuzz.campaign.example_db spec: a folder, redis://..., or None): saved examples of
    # earlier runs are retried first. None keeps a campaign a function of its seed alone.
    database: str | None = None
    # Parallel campaigns: this process runs the schedule positions p with p % worker_count == worker_index.
    worker_index: int = 0
    worker_count: int = 1


@dataclass
class CampaignStats:
    """Running counts of a campaign; exact, updated on every example.

    An example is one Hypothesis example: one configuration with one to three value sets; a check is one
    (configuration, values) pair run through every oracle and judged. closest_to_bound keeps, per oracle and
    dtype, the largest err/bound ratio among passing checks: how close correct results come to the bound.
    """

    seed: int
    started: float = field(default_factory=time.monotonic)
    examples: int = 0
    checks: int = 0
    configs: DistinctCounter = field(default_factory=DistinctCounter)
    closest_to_bound: dict[str, float] = field(default_factory=dict)
    by_op_dtype: Counter[str] = field(default_factory=Counter)
    by_op_dtype_device: Counter[str] = field(default_factory=Counter)  # checks, 'conv2d float32 cpu'
    # Examples per Hypothesis run's (op, dtype, device); op may be a gradient op or the invalid stream.
    examples_by_op_dtype_device: Counter[str] = field(default_factory=Counter)
    # Passing checks per oracle, dtype and decade of err/bound ('torch float32 -3'; see ratio_decade): how the
    # distance of correct answers from their bound is distributed, for the report's plot.
    ratio_histogram: Counter[str] = field(default_factory=Counter)
    features: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)
    oracle_seconds: dict[str, float] = field(default_factory=dict)
    judge_seconds: float = 0.0
    hypothesis_runs: int = 0
    findings: list[FindingRecord] = field(default_factory=list)
    unconfirmed: int = 0
    first_discrepancy_at: int | None = None
    interrupted: bool = False
    # Sum of the workers' own run times when these are merged statistics of a parallel campaign.
    busy_seconds: float | None = None

    @property
    def elapsed(self) -> float:
        """Seconds since the campaign started."""
        return time.monotonic() - self.started

    def overhead_seconds(self) -> float:
        """Time not spent in oracles or the judge: Hypothesis generation, shrinking bookkeeping, the engine."""
        busy = self.elapsed if self.busy_seconds is None else self.busy_seconds
        return max(busy - sum(self.oracle_seconds.values()) - self.judge_seconds, 0.0)

    @classmethod
    def merged(cls, parts: Sequence[CampaignStats], seed: int, started: float) -> CampaignStats:
        """Exact totals of the workers of one parallel campaign (elapsed time is the parent's wall time)."""
        total = cls(seed=seed, started=started, busy_seconds=sum(p.elapsed for p in parts))
        for part in parts:
            total.examples += part.examples
            total.checks += part.checks
            total.configs.merge(part.configs)
            total.by_op_dtype.update(part.by_op_dtype)
            total.by_op_dtype_device.update(part.by_op_dtype_device)
            total.examples_by_op_dtype_device.update(part.examples_by_op_dtype_device)
            total.ratio_histogram.update(part.ratio_histogram)
            total.features.update(part.features)
            total.verdicts.update(part.verdicts)
            for name, seconds in part.oracle_seconds.items():
                total.oracle_seconds[name] = total.oracle_seconds.get(name, 0.0) + seconds
            for key, ratio in part.closest_to_bound.items():
                total.closest_to_bound[key] = max(total.closest_to_bound.get(key, 0.0), ratio)
            total.judge_seconds += part.judge_seconds
            total.hypothesis_runs += part.hypothesis_runs
            total.findings += part.findings
            total.unconfirmed += part.unconfirmed
            total.interrupted |= part.interrupted
        return total


RATIO_ZERO = -99  # the decade of an exact answer (err = 0) in CampaignStats.ratio_histogram
LOWEST_DECADE = -12  # an err/bound below 1e-12 is counted in this decade


def ratio_decade(ratio: float) -> int:
    """The decade of an err/bound ratio: RATIO_ZERO for 0, else floor(log10(ratio)) but at least LOWEST_DECADE
    (-1 holds [0.1, 1); a passing check's ratio is at most 1, so 0 holds only ratios of exactly 1)."""
    if ratio <= 0.0:
        return RATIO_ZERO
    return max(LOWEST_DECADE, math.floor(math.log10(ratio)))


def derived_seed(seed: int, position: int, attempt: int = 0) -> int:
    """Seed of a campaign's Hypothesis run at a schedule position (and attempt there): fixed, well mixed."""
    digest = hashlib.sha256(f"convfuzz:{seed}:{position}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def case_features(case: ConvCase) -> list[str]:
    """Named features a case exercises, for hypothesis.event() and the coverage summary."""
    cfg = case.config
    if cfg.defect:  # the invalid stream: which rule, nothing else matters
        return [f"invalid:{cfg.defect}", f"op:{cfg.op}", f"dtype:{cfg.dtype}"]
    features = [f"op:{cfg.op_name}", f"dtype:{cfg.dtype}", f"device:{cfg.device}", f"padding:{cfg.padding.kind}",
                f"layout:{cfg.layout}", f"padding_mode:{cfg.padding_mode}"]
    if cfg.groups > 1:
        features.append("groups>1")
    if cfg.groups > 1 and cfg.groups == cfg.in_channels:
        features.append("depthwise" + (" multiplier>1" if cfg.out_channels > cfg.in_channels else ""))
    if any(s > 1 for s in cfg.stride):
        features.append("stride>1")
    if any(s > k for s, k in zip(cfg.stride, cfg.kernel, strict=True)):
        features.append("stride>kernel")
    if any(d > 1 for d in cfg.dilation):
        features.append("dilation>1")
    if cfg.padding.kind == "explicit" and any(lo != hi for lo, hi in cfg.padding.pairs):
        features.append("asymmetric padding")
    if any(n + lo + hi == cfg.dilation[i] * (cfg.kernel[i] - 1) + 1 for i, (n, (lo, hi)) in
           enumerate(zip(cfg.spatial, cfg.pad_pairs(), strict=True))):
        features.append("kernel spans padded input")
    if cfg.bias:
        features.append("bias")
    if cfg.out_channels >= 16 and cfg.in_channels > 8:
        features.append("wide channels")
    if max(cfg.in_channels, cfg.out_channels) // cfg.groups > MAX_CHANNELS_PER_GROUP:
        features.append(f"more than {MAX_CHANNELS_PER_GROUP} channels per group")
    features += [f"values x:{case.families.get('x', '?').split('(')[0]}"]
    if not np.isfinite(case.x).all():
        features.append("nonfinite input")
    return features


def palate_cleanser(case: ConvCase) -> ConvCase:
    """A call of another shape served by the same oracles: `case` with one more batch sample (its first, or zeros).
    Run before a confirmation so that a stale-buffer bug cannot borrow the state an earlier same-shape call left."""
    cfg = case.config
    extra = case.x[:1] if cfg.batch else np.zeros((1, *case.x.shape[1:]))
    # A gradient case's cotangent grows by one sample as well (zeros: that sample adds nothing to the gradient).
    g = None if case.g is None else np.concatenate([case.g, np.zeros((1, *case.g.shape[1:]))])
    return replace(case, config=replace(cfg, batch=cfg.batch + 1), x=np.concatenate([case.x, extra]), g=g)


class Campaign:
    """Runs one fuzz campaign over the given oracles and hands every new, confirmed finding to `record`.

    `record` may return False to say the finding was already stored (by a concurrent campaign); it is then not
    counted as new.
    """

    def __init__(
        self,
        oracles: Mapping[str, Oracle],
        settings_: CampaignSettings,
        known_signatures: Sequence[str] = (),
        record: Callable[[FindingRecord], object] = lambda _: True,
        progress: Callable[[CampaignStats], None] | None = None,
        progress_interval: float = 1.0,
    ) -> None:
        self.oracles = dict(oracles)
        self.settings = settings_
        self.known = set(known_signatures)
        self.record = record
        self.progress = progress
        self.progress_interval = progress_interval
        self.stats = CampaignStats(seed=settings_.seed)
        self.example_database = example_database(settings_.database)
        self._exception_types: dict[str, type[Discrepancy]] = {}
        self._devices = {name: oracle.devices() for name, oracle in self.oracles.items()}
        self._facts: dict[str, dict[str, Any]] = {}  # kernel-selecting facts per oracle, asked when first needed
        self._last_progress = 0.0
        # Set by SIGINT (and by a parallel worker's orphan watch, which simulates one): the KeyboardInterrupt alone
        # is not enough, since Hypothesis collects an exception raised while it replays a failing example and
        # may carry on; the flag makes every later example stop the run.
        self._interrupt_requested = False

    def evaluate(self, case: ConvCase) -> Verdict:
        """Run every oracle that serves the case's device on `case` and judge the outcomes, timing each part."""
        outcomes: dict[str, Outcome] = {}
        for name, oracle in self.oracles.items():
            if case.config.device not in self._devices[name]:
                continue  # a variant of one device only (torch-nocudnn, torch-nomkldnn) sits out the others' cases
            if not takes_part(name, oracle, case):
                continue  # the adjoint variants compute transposed ops only; torch's own rules bind torch only
            start = time.perf_counter()
            outcomes[name] = Outcome.of(oracle, case)
            spent = time.perf_counter() - start
            path = backend_path(oracle)
            if path is not None and outcomes[name].value is not None:
                self.stats.features[f"path {name}:{path}"] += 1
            self.stats.oracle_seconds[name] = self.stats.oracle_seconds.get(name, 0.0) + spent
        start = time.perf_counter()
        verdict = accepted(judge(case, outcomes), self.settings.accept)
        self.stats.judge_seconds += time.perf_counter() - start
        return verdict

    def schedule(self) -> list[tuple[str, str, str]]:
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
        the op itself plus, with gradients on, each gradient that at least two of the oracles compute."""
        if op == INVALID_STREAM:
            return op, ("",)
        base, named = split_op_name(op)
        if named:
            return base, (named,)
        if not self.settings.gradients:
            return base, ("",)
        served = [
            g for g in GRADIENTS if sum(serves_op(n, f"{base}{GRADIENT_SEPARATOR}{g}") for n in self.oracles) >= 2
        ]
        return base, ("", *served)

    def run_quota(self, schedule_pass: int) -> int:
        """Examples per Hypothesis run in the given pass over the schedule.

        With an example budget: an even share of it (at least MIN_RUN_QUOTA, at most MAX_RUN_QUOTA). With only a
        time budget: PASS_QUOTAS for the first passes, then MAX_RUN_QUOTA.
        """
        s = self.settings
        if s.max_examples is not None:
            share = s.max_examples // max(len(self.schedule()), 1)
            return min(max(share, MIN_RUN_QUOTA), MAX_RUN_QUOTA)
        return PASS_QUOTAS[schedule_pass] if schedule_pass < len(PASS_QUOTAS) else MAX_RUN_QUOTA

    def run_count(self) -> int | None:
        """With an example budget, how many Hypothesis runs the whole campaign makes (each generates its quota;
        shrinking comes on top). The same runs, with the same seeds, whatever the number of workers."""
        s = self.settings
        if s.max_examples is None:
            return None
        return -(-s.max_examples // self.run_quota(0))

    def run(self) -> CampaignStats:
        """Run until the example or time budget is spent (or SIGINT); returns the final statistics."""
        with self._noting_interrupts():
            return self._run()

    @contextlib.contextmanager
    def _noting_interrupts(self) -> Iterator[None]:
        """While the campaign runs, SIGINT sets the interrupt flag before raising KeyboardInterrupt as usual (only
        where a handler can be installed: the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)

        def note(signum: int, frame: Any) -> None:
            self._interrupt_requested = True
            raise KeyboardInterrupt

        signal.signal(signal.SIGINT, note)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _run(self) -> CampaignStats:
        schedule = self.schedule()
        s = self.settings
        runs = self.run_count()
        try:
            for position in itertools.count(s.worker_index, s.worker_count):
                if (runs is not None and position >= runs) or self._time_spent():
                    break
                op, dtype, device = schedule[position % len(schedule)]
                quota = self.run_quota(position // len(schedule))
                # A Hypothesis run ends once it has shrunk a new failure: the position goes on with its next
                # attempt until it has generated its quota.
                generated, attempt = 0, 0
                while generated < quota and not self._time_spent():
                    made = self._one_hypothesis_run(op, dtype, device, quota - generated, position, attempt)
                    if made == 0:
                        break  # Hypothesis had nothing left to try
                    generated, attempt = generated + made, attempt + 1
        except KeyboardInterrupt:
            self.stats.interrupted = True
        self.stats.interrupted |= self._interrupt_requested
        return self.stats

    def _time_spent(self) -> bool:
        """True when the time budget is spent, or the campaign was interrupted."""
        s = self.settings
        return self._interrupt_requested or (s.time_budget is not None and self.stats.elapsed >= s.time_budget)

    def _exception_for(self, signature: str) -> type[Discrepancy]:
        if signature not in self._exception_types:
            self._exception_types[signature] = type(f"Discrepancy[{signature}]", (Discrepancy,), {})
        return self._exception_types[signature]

    def _one_hypothesis_run(
        self, op: str, dtype: str, device: str, quota: int, position: int, attempt: int
    ) -> int:
        """One Hypothesis run of up to `quota` generated examples; returns how many it generated."""
        s = self.settings
        base_op, gradients = self.gradients_of(op)
        generated = [0]
        # signature -> (the failing case, the cases called before it in the same example)
        failing: dict[str, tuple[ConvCase, tuple[ConvCase, ...]]] = {}
        smallest: dict[str, tuple[ConvCase, tuple[ConvCase, ...]]] = {}
        stats = self.stats
        stopped_while_shrinking: list[bool] = []

        def check(cases: list[ConvCase]) -> None:
            shrinking = bool(failing)
            hard_limit = self._interrupt_requested or (
                s.time_budget is not None and stats.elapsed >= s.time_budget + SHRINK_GRACE_SECONDS
            )
            if hard_limit or (not shrinking and (self._time_spent() or generated[0] >= quota)):
                if shrinking:
                    stopped_while_shrinking.append(True)
                raise BudgetExhausted
            if shrinking and any(earlier for _, earlier in failing.values()):
                # Shrinking a failure that showed on a later call of one shape: start every candidate from a
                # state the previous candidate (often the same shape) did not leave behind, so the earlier calls
                # it needs are kept rather than supplied by whatever ran before.
                self.evaluate(palate_cleanser(cases[0]))
            stats.examples += 1
            stats.examples_by_op_dtype_device[f"{op} {dtype} {device}"] += 1
            generated[0] += not shrinking
            worst = 0.0
            for position_in_group, case in enumerate(cases):
                verdict = self._check_one(case)
                worst = max(worst, verdict.max_ratio)
                if not verdict.discrepant:
                    continue
                signature = signature_of(case, verdict)
                if signature in self.known:
                    stats.verdicts["known"] += 1
                    continue
                if stats.first_discrepancy_at is None:
                    stats.first_discrepancy_at = stats.examples
                failing[signature] = (case, tuple(cases[:position_in_group]))
                best = smallest.get(signature)
                if best is None or case.element_count() <= best[0].element_count():
                    smallest[signature] = failing[signature]
                raise self._exception_for(signature)(verdict.message)
            target(worst, label="err/bound")
            self._report_progress()

        cases = (
            invalid_cases(dtypes=(dtype,), devices=(device,)) if op == INVALID_STREAM else
            conv_case_groups(
                ops=(base_op,), dtypes=(dtype,), devices=(device,), budget=s.budget, layouts=s.layouts,
                padding_modes=s.padding_modes, nonfinite=s.nonfinite, gradients=gradients,
            )
        )
        # Seeded by schedule position, so a run is the same whichever worker of a parallel campaign runs it. The
        # settings go on after the seed: @seed on its own turns the example database off.
        seeded = hypothesis_seed(derived_seed(s.seed, position, attempt))(given(cases)(check))
        reuse = (Phase.reuse,) if self.example_database is not None else ()
        test = settings(
            max_examples=quota,
            deadline=None,
            database=self.example_database,
            derandomize=False,
            report_multiple_bugs=True,
            verbosity=Verbosity.quiet,
            phases=(*reuse, Phase.generate, Phase.target, Phase.shrink),
            suppress_health_check=list(HealthCheck),
        )(seeded)
        # Hypothesis would key saved examples by the test function, which every run shares; key them by entry.
        test._hypothesis_internal_database_key = database_key(op, dtype, device)  # type: ignore[attr-defined]
        stats.hypothesis_runs += 1
        try:
            test()
        except (BudgetExhausted, Discrepancy, ExceptionGroup):
            pass
        except KeyboardInterrupt:
            # Keep what was found so far: the smallest failing case of each signature is still a valid repro.
            self._record_all(smallest)
            raise
        # After a completed shrink Hypothesis replays each minimal example last, so `failing` holds them;
        # a shrink cut short leaves only the smallest failing case seen so far.
        self._record_all(smallest if stopped_while_shrinking else failing)
        return generated[0]

    def _check_one(self, case: ConvCase) -> Verdict:
        """Evaluate one case and count it in the statistics and Hypothesis events."""
        verdict = self.evaluate(case)
        stats = self.stats
        stats.checks += 1
        stats.configs.add(repr(case.config))
        stream = INVALID_STREAM if case.config.defect else case.config.op_name
        stats.by_op_dtype[f"{stream} {case.config.dtype}"] += 1
        stats.by_op_dtype_device[f"{stream} {case.config.dtype} {case.config.device}"] += 1
        for feature in case_features(case) + (["exact tier"] if verdict.exact_tier else []):
            stats.features[feature] += 1
            event(feature)
        passing = f"accepted {verdict.deviation}" if verdict.deviation and not verdict.discrepant else "pass"
        stats.verdicts[verdict.kind or passing] += 1
        for name, observation in verdict.observations.items():
            # How close passing results come to the bound (an accepted deviation is past it by definition).
            if observation.comparison is not None and name != "reference" and passing == "pass" and not verdict.kind:
                key = f"{name} {case.config.dtype}"
                stats.closest_to_bound[key] = max(stats.closest_to_bound.get(key, 0.0), observation.comparison.ratio)
                stats.ratio_histogram[f"{key} {ratio_decade(observation.comparison.ratio)}"] += 1
        return verdict

    def _record_all(self, cases: Mapping[str, tuple[ConvCase, tuple[ConvCase, ...]]]) -> None:
        for signature, (case, earlier) in cases.items():
            if signature in self.known:
                continue
            preceding: tuple[ConvCase, ...] = ()
            verdict = self._confirm(case, signature)
            if verdict is None and earlier:
                # It showed as the second or third call of one shape: a stale-buffer bug needs the calls before it.
                preceding = earlier
                verdict = self._confirm(case, signature, preceding)
            if verdict is None:
                # Not reproducible on any re-run (a nondeterministic backend): never recorded.
                self.stats.unconfirmed += 1
                continue
            finding = FindingRecord.from_decision(
                case, verdict, self.finding_environment(verdict), preceding=preceding
            )
            self.known.add(signature)
            if self.record(finding) is False:
                # Another campaign writing the same folder recorded this signature first.
                self.stats.verdicts["known"] += 1
                continue
            self.stats.findings.append(finding)

    def finding_environment(self, verdict: Verdict) -> dict[str, Any]:
        """Where a finding was seen: versions, platform, and the kernel-selecting facts of the processes that ran
        the oracles judged in `verdict` (each asked once per campaign: facts do not change while it runs)."""
        facts = []
        for name in verdict.observations:
            if name not in self._facts and name in self.oracles:
                self._facts[name] = kernel_facts_of(self.oracles[name])
            facts.append(self._facts.get(name, {}))
        return finding_environment(merge_facts(facts))

    def _confirm(self, case: ConvCase, signature: str, preceding: Sequence[ConvCase] = ()) -> Verdict | None:
        """Re-run `case` (each time after the `preceding` cases) up to CONFIRM_RUNS times: the first verdict with
        the same signature, or None.

        More than one try because some real bugs are intermittent (an out-of-bounds read returns whatever memory
        holds); a finding is recorded only once it has shown twice, and its repro may need a few runs too.
        """
        # A crash or hang restarted its worker, so the re-run already starts fresh; a cleanser call there would
        # only warm the new worker up (and might be what makes the case crash).
        cleanse = not case.config.defect and kind_of_signature(signature) not in ("crash", "timeout")
        for _ in range(CONFIRM_RUNS):
            if cleanse:
                self.evaluate(palate_cleanser(case))  # whatever ran before must not be what makes it show
            for earlier in preceding:
                self.evaluate(earlier)
            verdict = self.evaluate(case)
            if verdict.discrepant and signature_of(case, verdict) == signature:
                return verdict
        return None

    def _report_progress(self) -> None:
        now = time.monotonic()
        if self.progress is not None and now - self._last_progress >= self.progress_interval:
            self._last_progress = now
            self.progress(self.stats)
