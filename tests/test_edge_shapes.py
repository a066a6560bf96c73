"""Edge shapes: an empty batch is drawn now and then, every framework must accept it, and a planted refusal is found."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.judge.verdict import judge
from convfuzz.oracles.base import Oracle, Outcome
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.strategies.budget import SizeBudget
from convfuzz.strategies.case import ConvCase
from convfuzz.strategies.conv import case_from, conv_configs, value_sets
from tests.planted import EmptyBatchRejected


@st.composite
def empty_batch_cases(draw: st.DrawFn) -> ConvCase:
    config = replace(draw(conv_configs(budget=SizeBudget.from_elements(512))), batch=0)
    config.validate()
    return case_from(config, draw(value_sets(config=config)))


@settings(max_examples=15)
@given(case=empty_batch_cases())
def test_frameworks_return_an_empty_output_for_an_empty_batch(
    torch_oracle: Oracle, jax_oracle: Oracle, case: ConvCase
) -> None:
    outcomes = {"reference": Outcome.of(ReferenceOracle(), case), "torch": Outcome.of(torch_oracle, case),
                "jax": Outcome.of(jax_oracle, case)}
    verdict = judge(case, outcomes)
    assert not verdict.discrepant, verdict.message
    assert outcomes["torch"].value is not None and outcomes["torch"].value.shape == case.config.output_shape()


@pytest.mark.campaign
def test_planted_empty_batch_refusal_is_found_and_shrunk(torch_oracle: Oracle) -> None:
    planted = EmptyBatchRejected()
    oracles = {"reference": ReferenceOracle(), "torch": torch_oracle, planted.name: planted}
    stats = Campaign(oracles, CampaignSettings(seed=5, max_examples=300, ops=("conv2d",), dtypes=("float32",))).run()
    assert stats.first_discrepancy_at is not None and stats.first_discrepancy_at <= 300
    found = [f for f in stats.findings if f.suspects == (planted.name,)]
    assert found and found[0].kind == "error_mismatch" and found[0].case.config.batch == 0
    assert found[0].case.element_count() <= 8  # x is empty; what is left is a tiny weight
