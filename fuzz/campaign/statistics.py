"""What a campaign counts while it runs: examples, checks, distinct configurations, verdicts, features, time per
oracle, and how close passing results come to their bound. Exact, updated on every check; a parallel campaign's
workers' counts merge into one."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from hypothesis import event

from convfuzz.fuzz.campaign.distinct import DistinctCounter
from convfuzz.fuzz.judge.verdict import Verdict
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.strategies import features as structure
from convfuzz.strategies.case import INVALID_STREAM, ConvCase
from convfuzz.strategies.conv import MAX_CHANNELS_PER_GROUP


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
    # Multiply-adds of the checked cases (each a forward conv's count; an invalid configuration has none): how much
    # arithmetic the campaign checked, which checks/s alone hides when case sizes differ.
    multiply_adds: int = 0
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
    verdicts: Counter[str] = field(default_factory=Counter)  # one per check: its verdict's kind, or 'pass'
    # Checks whose discrepancy is of a finding already stored (or found earlier in this campaign): let pass.
    known_discrepancies: int = 0
    # Checks an oracle sat out after a stored crash of their defect ('jax hostile_padding'; Campaign.sat_out).
    sat_out: Counter[str] = field(default_factory=Counter)
    # A parallel campaign's workers that never reported, and (Ray) lost actors whose share went on elsewhere.
    workers_lost: int = 0
    actors_replaced: int = 0
    oracle_seconds: dict[str, float] = field(default_factory=dict)
    judge_seconds: float = 0.0
    hypothesis_runs: int = 0
    findings: list[FindingRecord] = field(default_factory=list)
    unconfirmed: int = 0
    # Unconfirmed findings of earlier campaigns re-checked first: 'confirmed', 'not shown', 'not run here'.
    rechecked: Counter[str] = field(default_factory=Counter)
    first_discrepancy_at: int | None = None
    # When (time.time()) the first check was judged and the first finding handed over: with the command's start,
    # how long start-up took and how long the first finding took to be written.
    first_check_time: float | None = None
    first_finding_time: float | None = None
    interrupted: bool = False
    cut_at_deadline: bool = False  # a check still running STOP_SECONDS after the time budget was interrupted
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

    def count_check(self, case: ConvCase, verdict: Verdict) -> None:
        """Count one judged check: its configuration, stream, features (each also a Hypothesis event, for the
        coverage statistics Hypothesis keeps), its verdict, and how close each passing result came to its bound."""
        self.checks += 1
        if not case.config.defect:
            self.multiply_adds += max(case.config.multiply_adds(), 0)
        if self.first_check_time is None:
            self.first_check_time = time.time()
        self.configs.add(repr(case.config))
        stream = INVALID_STREAM if case.config.defect else case.config.op_name
        self.by_op_dtype[f"{stream} {case.config.dtype}"] += 1
        self.by_op_dtype_device[f"{stream} {case.config.dtype} {case.config.device}"] += 1
        for feature in case_features(case) + (["exact tier"] if verdict.exact_tier else []):
            self.features[feature] += 1
            event(feature)
        passing = f"accepted {verdict.deviation}" if verdict.deviation and not verdict.discrepant else "pass"
        self.verdicts[verdict.kind or passing] += 1
        for name, observation in verdict.observations.items():
            # How close passing results come to the bound (an accepted deviation is past it by definition).
            if observation.comparison is not None and name != "reference" and passing == "pass" and not verdict.kind:
                key = f"{name} {case.config.dtype}"
                self.closest_to_bound[key] = max(self.closest_to_bound.get(key, 0.0), observation.comparison.ratio)
                self.ratio_histogram[f"{key} {ratio_decade(observation.comparison.ratio)}"] += 1

    @classmethod
    def merged(cls, parts: Sequence[CampaignStats], seed: int, started: float) -> CampaignStats:
        """Exact totals of the workers of one parallel campaign (elapsed time is the parent's wall time)."""
        total = cls(seed=seed, started=started, busy_seconds=sum(p.elapsed for p in parts))
        for part in parts:
            total.examples += part.examples
            total.checks += part.checks
            total.multiply_adds += part.multiply_adds
            total.configs.merge(part.configs)
            total.by_op_dtype.update(part.by_op_dtype)
            total.by_op_dtype_device.update(part.by_op_dtype_device)
            total.examples_by_op_dtype_device.update(part.examples_by_op_dtype_device)
            total.ratio_histogram.update(part.ratio_histogram)
            total.features.update(part.features)
            total.verdicts.update(part.verdicts)
            total.known_discrepancies += part.known_discrepancies
            for name, seconds in part.oracle_seconds.items():
                total.oracle_seconds[name] = total.oracle_seconds.get(name, 0.0) + seconds
            for key, ratio in part.closest_to_bound.items():
                total.closest_to_bound[key] = max(total.closest_to_bound.get(key, 0.0), ratio)
            total.judge_seconds += part.judge_seconds
            total.hypothesis_runs += part.hypothesis_runs
            total.findings += part.findings
            total.unconfirmed += part.unconfirmed
            total.rechecked.update(part.rechecked)
            total.sat_out.update(part.sat_out)
            total.interrupted |= part.interrupted
            total.cut_at_deadline |= part.cut_at_deadline
            for moment in ("first_check_time", "first_finding_time"):
                times = [t for t in (getattr(total, moment), getattr(part, moment)) if t is not None]
                setattr(total, moment, min(times, default=None))
        return total


RATIO_ZERO = -99  # the decade of an exact answer (err = 0) in CampaignStats.ratio_histogram
LOWEST_DECADE = -12  # an err/bound below 1e-12 is counted in this decade


def ratio_decade(ratio: float) -> int:
    """The decade of an err/bound ratio: RATIO_ZERO for 0, else floor(log10(ratio)) but at least LOWEST_DECADE
    (-1 holds [0.1, 1); a passing check's ratio is at most 1, so 0 holds only ratios of exactly 1)."""
    if ratio <= 0.0:
        return RATIO_ZERO
    return max(LOWEST_DECADE, math.floor(math.log10(ratio)))


def case_features(case: ConvCase) -> list[str]:
    """Named features a case exercises, for hypothesis.event() and the coverage summary."""
    cfg = case.config
    if cfg.defect:  # the invalid stream: which rule, nothing else matters
        return [f"invalid:{cfg.defect}", f"op:{cfg.op}", f"dtype:{cfg.dtype}"]
    features = [f"op:{cfg.op_name}", f"dtype:{cfg.dtype}", f"device:{cfg.device}", f"padding:{cfg.padding.kind}",
                f"layout:{cfg.layout}", f"padding_mode:{cfg.padding_mode}"]
    named = [
        ("groups>1", structure.grouped(cfg)),
        ("depthwise" + (" multiplier>1" if cfg.out_channels > cfg.in_channels else ""),
         structure.grouped(cfg) and cfg.groups == cfg.in_channels),
        ("stride>1", structure.strided(cfg)),
        ("stride>kernel", structure.stride_beyond_kernel(cfg)),
        ("dilation>1", structure.dilated(cfg)),
        ("asymmetric padding", structure.asymmetrically_padded(cfg)),
        ("kernel spans padded input", structure.kernel_spans_padded_input(cfg)),
    ]
    features += [name for name, present in named if present]
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
