"""Engine behaviour on the real frameworks: no false alarms, deterministic from the seed, balanced coverage."""

from __future__ import annotations

import json

import pytest

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.schedule import derived_seed
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.judge.verdict import Verdict
from convfuzz.oracles.base import Oracle
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.strategies.case import FORWARD_OPS, ConvCase
from tests.known_bugs import unexplained


class RecordingCampaign(Campaign):
    """Keeps the config of every case Hypothesis ran (drawn or shrunk), to compare two campaigns. Not every
    evaluation: re-running a finding to confirm a smaller case happens at most every few seconds (IMPROVE_SECONDS),
    so how often it runs depends on the machine's speed, and the seed does not promise it."""

    seen: list[str]

    def check_one(self, case: ConvCase) -> Verdict:
        self.seen = [*getattr(self, "seen", []), json.dumps(case.config.to_json()) + str(case.families)]
        return super().check_one(case)


@pytest.mark.campaign
def test_short_campaign_on_real_frameworks_has_no_false_alarm(torch_oracle: Oracle, jax_oracle: Oracle) -> None:
    oracles = {"reference": ReferenceOracle(), "torch": torch_oracle, "jax": jax_oracle}
    stats = Campaign(oracles, CampaignSettings(seed=2026, max_examples=120, ops=FORWARD_OPS)).run()
    assert stats.examples >= 120
    assert not unexplained(stats.findings), unexplained(stats.findings)
    # Every op and dtype combination got its share of examples.
    assert len(stats.by_op_dtype) == 12 and min(stats.by_op_dtype.values()) >= 10
    assert set(stats.oracle_seconds) == {"reference", "torch", "jax"}


@pytest.mark.campaign
def test_same_seed_same_campaign(torch_oracle: Oracle) -> None:
    def run(seed: int) -> list[str]:
        campaign = RecordingCampaign({"reference": ReferenceOracle(), "torch": torch_oracle},
                                     CampaignSettings(seed=seed, max_examples=60))
        campaign.run()
        return campaign.seen

    first = run(11)
    assert first == run(11)
    assert first != run(12)


def test_derived_seeds_differ_per_run() -> None:
    assert len({derived_seed(5, run) for run in range(100)}) == 100
    assert derived_seed(5, 0) == derived_seed(5, 0) != derived_seed(6, 0)
