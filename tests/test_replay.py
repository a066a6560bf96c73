"""Replay of stored findings: an intermittent bug is not declared fixed on one clean run."""

from __future__ import annotations

from convfuzz.fuzz.campaign.replay import FIXED, REPLAY_RUNS, REPRODUCES, replay_record
from convfuzz.oracles.base import Oracle
from convfuzz.oracles.reference_oracle import ReferenceOracle
from tests.helpers import Intermittent, stored_finding


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
