"""The invalid-configuration stream: every case is invalid exactly as labelled, the real frameworks refuse
them all, and an oracle that returns numbers for one is an error_mismatch finding with every error text."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.fuzz.store.script import finding_script
from convfuzz.oracles.base import Oracle
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.oracles.registry import serves
from convfuzz.strategies.case import DEFECTS, INVALID_STREAM, ConvCase, ConvConfig, Padding
from convfuzz.strategies.invalid import invalid_cases
from tests.conftest import oracle_or_skip
from tests.helpers import inserted_before_the_call, run_script
from tests.planted import AcceptsUndividedGroups

# Cases whose parameters alone are invalid; the other two are invalid through their tensors (shape, dtype).
INVALID_BY_PARAMETERS = ("groups_not_dividing", "kernel_exceeds_input", "negative_padding")


@settings(max_examples=150)
@given(invalid_cases())
def test_every_case_is_invalid_exactly_as_labelled(cases: list[ConvCase]) -> None:
    (case,) = cases
    cfg = case.config
    assert case.w.shape == cfg.weight_shape() and case.x.shape == cfg.input_shape()
    if cfg.defect in INVALID_BY_PARAMETERS:
        with pytest.raises(ValueError):
            replace(cfg, defect="").validate()  # the same parameters as a valid case are refused
    elif cfg.defect == "wrong_weight_in_channels":
        assert cfg.weight_shape()[1] == cfg.in_channels // cfg.groups + 1
    elif cfg.defect == "zero_out_channels":
        assert cfg.weight_shape()[0] == 0 and case.w.size == 0
    elif cfg.defect == "mismatched_dtypes":
        assert cfg.weight_dtype() != cfg.dtype
    else:
        assert cfg.padding.kind == "same" and max(cfg.stride) > 1


def test_defects_bind_the_oracles_their_rule_names() -> None:
    cfg = ConvConfig("conv2d", 1, 1, 1, 1, (4, 4), (1, 1), (2, 1), (1, 1), Padding("same"), False, "float32",
                     defect="same_with_stride")
    cfg.validate()
    assert serves("torch", cfg) and serves("torch-nomkldnn@cpu", cfg)
    assert not serves("jax", cfg) and not serves("reference", cfg)
    dtypes = replace(cfg, defect="mismatched_dtypes")
    assert serves("jax", dtypes) and not serves("reference", dtypes)


@pytest.mark.campaign
def test_real_frameworks_refuse_every_invalid_case() -> None:
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), "torch": oracle_or_skip("torch"),
                                  "jax": oracle_or_skip("jax")}
    stats = Campaign(oracles, CampaignSettings(seed=3, max_examples=160, ops=(INVALID_STREAM,))).run()
    assert stats.examples >= 160 and not stats.findings, [f.message for f in stats.findings]
    assert {f"invalid:{d}" for d in DEFECTS} <= set(stats.features)


@pytest.mark.campaign
def test_an_oracle_returning_numbers_for_an_invalid_case_is_found(tmp_path: Path) -> None:
    planted = AcceptsUndividedGroups()
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), "torch": oracle_or_skip("torch"),
                                  planted.name: planted}
    stats = Campaign(oracles, CampaignSettings(seed=4, max_examples=300, ops=(INVALID_STREAM,))).run()
    assert stats.first_discrepancy_at is not None and stats.first_discrepancy_at <= 300
    # One finding per op and dtype of the same defect (the signature's usual parts).
    assert stats.findings and all(f.suspects == (planted.name,) for f in stats.findings)
    assert all(f.kind == "error_mismatch" and f.case.config.defect == "groups_not_dividing" for f in stats.findings)
    finding = min(stats.findings, key=lambda f: f.case.element_count())
    assert finding.signature.endswith("|defect:groups_not_dividing")
    # Both sides are in the message: the planted oracle's numbers and torch's and the reference's refusals.
    assert "returned numbers instead of refusing" in finding.message
    assert "torch raised RuntimeError" in finding.message and "reference raised ValueError" in finding.message
    assert finding.case.element_count() <= 16


@pytest.mark.campaign
def test_repro_of_an_invalid_case_exits_1_while_a_framework_accepts_it(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    planted = AcceptsUndividedGroups()
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), "jax": oracle_or_skip("jax"), "torch": planted}
    stats = Campaign(oracles, CampaignSettings(seed=4, max_examples=300, ops=(INVALID_STREAM,))).run()
    finding = next(f for f in stats.findings if f.suspects == ("torch",))
    record = FindingRecord.from_json(finding.to_json())
    text = finding_script(record)
    gone = run_script(text, tmp_path)  # the real torch refuses the case
    assert gone.returncode == 0 and "GONE" in gone.stdout, gone.stdout + gone.stderr
    accepting = "    return torch.zeros(1, dtype=torch.float64).numpy()\n"
    broken = run_script(inserted_before_the_call(text, accepting), tmp_path)
    assert broken.returncode == 1 and "for an invalid configuration" in broken.stdout, broken.stdout
