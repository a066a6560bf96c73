"""Padding modes: torch's nn.ConvNd reflect / replicate / circular against jnp.pad + conv and the reference."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import find, given, settings

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.judge.verdict import judge
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.fuzz.store.script import finding_script
from convfuzz.oracles.base import Oracle, Outcome
from convfuzz.oracles.reference import pad_spatial
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.oracles.registry import serves
from convfuzz.strategies.budget import SizeBudget
from convfuzz.strategies.case import ConvCase, Padding
from convfuzz.strategies.conv import conv_cases
from tests.helpers import make_case, run_script
from tests.planted import CircularDimsSwapped

MODES = ("reflect", "replicate", "circular")


def test_reference_padding_follows_torch_rules() -> None:
    x = np.arange(1.0, 5.0).reshape(1, 1, 4)
    assert pad_spatial(x, [(2, 1)], "reflect").ravel().tolist() == [3, 2, 1, 2, 3, 4, 3]
    assert pad_spatial(x, [(2, 1)], "replicate").ravel().tolist() == [1, 1, 1, 2, 3, 4, 4]
    assert pad_spatial(x, [(2, 1)], "circular").ravel().tolist() == [3, 4, 1, 2, 3, 4, 1]


def test_invalid_mode_combinations_are_refused() -> None:
    cfg = make_case().config  # symmetric (1, 1) pads on a 6x6 input
    replace(cfg, padding_mode="reflect").validate()
    with pytest.raises(ValueError, match="symmetric"):
        replace(cfg, padding=Padding("valid"), padding_mode="circular").validate()
    with pytest.raises(ValueError, match="cannot pad"):
        replace(cfg, padding=Padding("symmetric", ((6, 6), (1, 1))), padding_mode="reflect").validate()
    with pytest.raises(ValueError, match="padding_mode"):
        replace(cfg, padding_mode="mirror").validate()


@settings(max_examples=40)
@given(case=conv_cases(padding_modes=MODES, budget=SizeBudget.from_elements(512)))
def test_frameworks_agree_in_every_padding_mode(torch_oracle: Oracle, jax_oracle: Oracle, case: ConvCase) -> None:
    oracles = {"reference": ReferenceOracle(), "torch": torch_oracle, "jax": jax_oracle}
    outcomes = {n: Outcome.of(o, case) for n, o in oracles.items() if serves(n, case.config)}
    verdict = judge(case, outcomes)
    assert not verdict.discrepant, verdict.message


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_is_drawn(mode: str) -> None:
    case = find(conv_cases(padding_modes=MODES, budget=SizeBudget.from_elements(512)),
                lambda c: c.config.padding_mode == mode)
    assert case.config.padding.kind == "symmetric" or mode == "zeros"


@pytest.mark.campaign
def test_planted_circular_dims_swap_is_found_and_shrunk(torch_oracle: Oracle) -> None:
    planted = CircularDimsSwapped()
    oracles = {"reference": ReferenceOracle(), "torch": torch_oracle, planted.name: planted}
    settings_ = CampaignSettings(  # one dtype: the planted bug is blind to it, and each dtype is a finding to shrink
        seed=5, max_examples=300, ops=("conv2d", "conv3d"), padding_modes=("circular",), dtypes=("float32",)
    )
    stats = Campaign(oracles, settings_).run()
    assert stats.first_discrepancy_at is not None and stats.first_discrepancy_at <= 300
    found = [f for f in stats.findings if f.suspects == (planted.name,)]
    assert found and all(f.case.config.padding_mode == "circular" for f in found)
    assert min(f.case.element_count() for f in found) <= 64


def test_padding_mode_repro_runs_torch_through_the_module(tmp_path: Path) -> None:
    base = make_case(family="small_int")
    case = replace(base, config=replace(base.config, padding_mode="reflect"))
    outcomes = {"reference": Outcome.of(ReferenceOracle(), case), "jax": Outcome.of(ReferenceOracle(), case),
                "torch": Outcome(value=np.zeros(case.config.output_shape()))}
    verdict = judge(case, outcomes)
    assert verdict.suspects == ("torch",)
    text = finding_script(FindingRecord.from_decision(case, verdict, {"torch": "x", "platform": "test"}))
    assert "torch.nn.Conv2d" in text and "padding_mode='reflect'" in text
    result = run_script(text, tmp_path)  # the real torch pads correctly: gone
    assert result.returncode == 0 and "GONE" in result.stdout, result.stdout + result.stderr
