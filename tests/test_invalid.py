"""The invalid-configuration stream: every case is invalid exactly as labelled, the real frameworks refuse
them all, and an oracle that returns numbers for one is an error_mismatch finding with every error text."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.fuzz.store.script import finding_script
from convfuzz.oracles.base import Oracle
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.oracles.registry import serves
from convfuzz.strategies.case import (
    DEFECTS,
    HOSTILE_PARAMETERS,
    HOSTILE_VALUES,
    INVALID_STREAM,
    ConvCase,
    ConvConfig,
    Padding,
)
from convfuzz.strategies.conv import case_from, value_sets
from convfuzz.strategies.invalid import invalid_cases, invalid_configs
from convfuzz.strategies.values import ValueFamily
from tests.conftest import oracle_or_skip
from tests.helpers import inserted_before_the_call, naive_conv, run_script
from tests.known_bugs import committed_signatures_in_every_op_and_dtype, unexplained
from tests.planted import AcceptsUndividedGroups, CrashesOnHugeStride

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
    elif cfg.defect in HOSTILE_PARAMETERS:  # refused or computed: the reference decides (test below)
        assert cfg.layout == "contiguous" and max(case.x.shape) <= 8
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
def test_real_frameworks_refuse_every_invalid_case_and_compute_what_a_hostile_value_defines() -> None:
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), "torch": oracle_or_skip("torch"),
                                  "jax": oracle_or_skip("jax")}
    # Hostile parameters meet real overflow bugs of both frameworks: those the committed findings explain. Their
    # signatures are known (as in `convfuzz run` on this repository), in every op and dtype, so that no time goes
    # into shrinking them again.
    known = committed_signatures_in_every_op_and_dtype()
    settings_ = CampaignSettings(seed=5, max_examples=320, ops=(INVALID_STREAM,), dtypes=("float32", "float64"))
    stats = Campaign(oracles, settings_, known_signatures=known).run()
    assert stats.examples >= 320 and not unexplained(stats.findings), unexplained(stats.findings)
    assert {f"invalid:{d}" for d in DEFECTS} <= set(stats.features)


@pytest.mark.campaign
def test_an_oracle_returning_numbers_for_an_invalid_case_is_found(tmp_path: Path) -> None:
    planted = AcceptsUndividedGroups()
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), "torch": oracle_or_skip("torch"),
                                  planted.name: planted}
    stats = Campaign(oracles, CampaignSettings(seed=4, max_examples=300, ops=(INVALID_STREAM,))).run()
    assert stats.first_discrepancy_at is not None and stats.first_discrepancy_at <= 300
    # One finding per op and dtype of the same defect (the signature's usual parts); torch's own findings are the
    # committed hostile-parameter bugs.
    mine = [f for f in stats.findings if f.suspects == (planted.name,)]
    assert mine and not unexplained([f for f in stats.findings if f not in mine])
    assert all(f.kind == "error_mismatch" and f.case.config.defect == "groups_not_dividing" for f in mine)
    finding = min(mine, key=lambda f: f.case.element_count())
    assert finding.signature.endswith("|defect:groups_not_dividing")
    # Both sides are in the message: the planted oracle's numbers and torch's and the reference's refusals.
    assert "returned numbers instead of refusing" in finding.message
    assert "torch raised RuntimeError" in finding.message and "reference raised ValueError" in finding.message
    assert finding.case.element_count() <= 16


@pytest.mark.campaign
def test_repro_of_an_invalid_case_exits_1_while_a_framework_accepts_it(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    planted = AcceptsUndividedGroups()
    # The plant, named torch, against the reference alone: real JAX would meet its hostile-parameter crashes
    # (committed findings), each a worker restart, which cost minutes here and are not this test's business.
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), "torch": planted}
    stats = Campaign(oracles, CampaignSettings(seed=4, max_examples=300, ops=(INVALID_STREAM,))).run()
    finding = next(f for f in stats.findings if f.suspects == ("torch",))
    record = FindingRecord.from_json(finding.to_json())
    text = finding_script(record)
    gone = run_script(text, tmp_path)  # the real torch refuses the case
    assert gone.returncode == 0 and "GONE" in gone.stdout, gone.stdout + gone.stderr
    accepting = "    return torch.zeros(1, dtype=torch.float64).numpy()\n"
    broken = run_script(inserted_before_the_call(text, accepting), tmp_path)
    assert broken.returncode == 1 and "for an invalid configuration" in broken.stdout, broken.stdout


@settings(max_examples=200)
@given(invalid_configs(defects=tuple(HOSTILE_PARAMETERS)).flatmap(lambda c: value_sets(config=c).map(lambda v: (c, v))))
def test_a_hostile_case_has_small_tensors_and_one_extreme_value(
    drawn: tuple[ConvConfig, dict[str, ValueFamily]],
) -> None:
    cfg, families = drawn
    case = case_from(cfg, families)
    assert max(case.x.size, case.w.size) <= 8**5
    parameter = HOSTILE_PARAMETERS[cfg.defect]
    value = {"groups": cfg.groups, "padding": cfg.padding.pairs[0][0]}.get(parameter)
    assert (value if value is not None else getattr(cfg, parameter)[0]) in HOSTILE_VALUES
    assert cfg.transposed == (parameter == "output_padding")


@pytest.mark.parametrize(("change", "computes"), [
    ({"stride": (2**63 - 1,)}, True),  # one window: the output of a stride equal to the padded length
    ({"stride": (0,)}, False),
    ({"dilation": (2**31,)}, False),  # the dilated kernel reaches past the input
    ({"padding": Padding("symmetric", ((-1, -1),))}, True),  # crops, as XLA's negative padding does
    ({"padding": Padding("symmetric", ((2**31 - 1, 2**31 - 1),))}, False),  # 2^32 outputs: no machine's memory
    ({"groups": 2**32}, False),
])
def test_the_reference_computes_what_a_hostile_value_defines_and_refuses_the_rest(
    change: dict[str, object], computes: bool,
) -> None:
    defect = "hostile_" + next(iter(change))
    cfg = replace(
        ConvConfig("conv1d", 1, 2, 2, 1, (6,), (2,), (1,), (1,), Padding("symmetric", ((0, 0),)), False, "float64"),
        defect=defect, **change,  # type: ignore[arg-type]
    )
    cfg.validate()
    case = case_from(cfg, {"x": ValueFamily("small_int", seed=1), "w": ValueFamily("small_int", seed=2)})
    if not computes:
        with pytest.raises(ValueError, match=r"^(invalid|refused): "):
            ReferenceOracle().run(case)
        return
    # The definition's loops, on the extreme value itself (Python's integers hold it).
    plain = replace(cfg, defect="", padding=Padding("explicit", cfg.padding.pairs))
    np.testing.assert_array_equal(ReferenceOracle().run(case), naive_conv(replace(case, config=plain)))


@pytest.mark.campaign
def test_a_crash_on_a_huge_stride_is_found_and_shrunk_to_2_to_the_31_minus_1(tmp_path: Path) -> None:
    planted = CrashesOnHugeStride()
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), planted.name: planted}
    stats = Campaign(oracles, CampaignSettings(seed=2, max_examples=300, ops=(INVALID_STREAM,))).run()
    crashes = [f for f in stats.findings if f.kind == "crash" and f.suspects == (planted.name,)]
    assert crashes and all(f.case.config.defect == "hostile_stride" for f in crashes)
    smallest = min(crashes, key=lambda f: f.case.element_count())
    assert smallest.case.config.stride[0] == 2**31 - 1 and smallest.case.element_count() <= 3


@pytest.mark.campaign
def test_after_a_stored_crash_of_a_hostile_kind_its_suspect_sits_that_kind_out() -> None:
    """A crash stored before the campaign, met again, costs a worker restart and teaches nothing: once a known one
    shows again its suspect sits out that defect's cases (the reference still checks them; the summary counts them)."""
    planted = CrashesOnHugeStride()
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), planted.name: planted}
    settings_ = CampaignSettings(seed=2, max_examples=300, ops=(INVALID_STREAM,), dtypes=("float32",))
    first = Campaign(oracles, settings_).run()
    stored = [f.signature for f in first.findings if f.kind == "crash"]
    assert stored and first.verdicts["crash"] > 1 and not first.sat_out
    again = Campaign(oracles, settings_, known_signatures=stored).run()
    assert again.verdicts["crash"] == 1  # the first meeting; then it sat out
    assert again.sat_out[f"{planted.name} hostile_stride"] > 0
    assert not [f for f in again.findings if f.kind == "crash"]
    # Stored for another dtype only, and shared with another oracle: the class matches (a campaign meets it in a
    # later Hypothesis run, once the new dtype's crash has been shrunk and stored as new evidence).
    crash = next(f for f in first.findings if f.kind == "crash")
    shared = crash.signature.replace("|float32|", "|float64|").replace(f"|{planted.name}|", f"|{planted.name},other|")
    elsewhere = Campaign(oracles, settings_, known_signatures=[shared])
    elsewhere.sit_out_after_stored_crash(crash.case, elsewhere.evaluate(crash.case), crash.signature)
    assert elsewhere.sat_out == {(planted.name, "hostile_stride"): crash.signature}
    assert planted.name not in elsewhere.evaluate(crash.case).observations  # sat out
    assert elsewhere.stats.sat_out[f"{planted.name} hostile_stride"] == 1
