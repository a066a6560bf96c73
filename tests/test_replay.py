"""Replay of stored findings: an intermittent bug is not declared fixed on one clean run."""

from __future__ import annotations

from fuzz.judge import judge
from fuzz.records import FindingRecord
from fuzz.replay import FIXED, REPLAY_RUNS, REPRODUCES, replay_record
from oracles.base import FloatArray, Oracle, Outcome
from oracles.reference_oracle import ReferenceOracle
from strategies.case import ConvCase
from tests.planted import DroppedBias
from tests.test_judge import make_case


class Intermittent(DroppedBias):
    """Drops the bias only on every `period`-th call, like an out-of-bounds read that usually finds zeros."""

    name = "torch"

    def __init__(self, period: int) -> None:
        self.period = period
        self.calls = 0

    def run(self, case: ConvCase) -> FloatArray:
        self.calls += 1
        return super().run(case) if self.calls % self.period == 0 else ReferenceOracle().run(case)


def stored_finding() -> FindingRecord:
    case = make_case(family="small_int")
    outcomes = {"reference": Outcome.of(ReferenceOracle(), case), "torch": Outcome.of(DroppedBias(), case),
                "jax": Outcome.of(ReferenceOracle(), case)}
    return FindingRecord.from_decision(case, judge(case, outcomes), {"platform": "test"})


def test_an_intermittent_open_finding_still_reproduces_on_a_later_run() -> None:
    record = stored_finding()
    shows_on_last_try = Intermittent(period=REPLAY_RUNS)
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), "torch": shows_on_last_try, "jax": ReferenceOracle()}
    assert replay_record(record, oracles).state == REPRODUCES
    assert shows_on_last_try.calls == REPLAY_RUNS


def test_a_finding_gone_on_every_run_is_fixed() -> None:
    never = Intermittent(period=10**9)
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), "torch": never, "jax": ReferenceOracle()}
    assert replay_record(stored_finding(), oracles).state == FIXED
    assert never.calls == REPLAY_RUNS
