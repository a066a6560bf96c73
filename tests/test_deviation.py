"""The two deviation classes maintainers often call by design are named by the judge, planted bugs of the same
look stay plain findings, and `--accept` makes a campaign pass the named ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.judge.deviation import NAN_THROUGH_ZERO, REDUCED_ACCUMULATION, accepted
from convfuzz.fuzz.judge.verdict import Verdict, judge
from convfuzz.oracles.base import Oracle, Outcome
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.strategies.case import ConvCase
from tests.helpers import make_case
from tests.planted import DroppedBias, GroupsComputedDense, HalfSumsInHalf, NanFromNowhere


def verdict_of(suspect: Oracle, case: ConvCase) -> Verdict:
    """The judge on `case` with `suspect` as torch and correct implementations as the reference and jax."""
    outcomes = {"reference": Outcome.of(ReferenceOracle(), case), "jax": Outcome.of(ReferenceOracle(), case),
                "torch": Outcome.of(suspect, case)}
    return judge(case, outcomes)


def with_nan(case: ConvCase, at: tuple[int, ...]) -> ConvCase:
    x = case.x.copy()
    x[at] = np.nan
    return ConvCase(case.config, x, case.w, case.b)


def test_nan_through_the_zero_blocks_of_a_dense_grouped_conv_is_named() -> None:
    # Group 0's input holds a NaN; computed as dense, group 1's outputs meet it through zero weights.
    verdict = verdict_of(GroupsComputedDense(), with_nan(make_case(dtype="float64"), (0, 0, 2, 2)))
    assert verdict.kind == "nonfinite" and verdict.suspects == ("torch",)
    assert verdict.deviation == NAN_THROUGH_ZERO


def test_nan_that_no_non_finite_input_reaches_stays_a_plain_bug() -> None:
    finite = verdict_of(NanFromNowhere(), make_case(dtype="float64"))
    assert finite.kind == "mismatch" and finite.deviation is None  # all-finite inputs: NaN is a wrong value
    # A NaN input in the far corner: no window of out[0, 0, 0, 0] covers it, materialised zeros or not.
    far = verdict_of(NanFromNowhere(), with_nan(make_case(dtype="float64"), (0, 0, 5, 5)))
    assert far.kind == "nonfinite" and far.deviation is None


def test_summing_in_the_storage_dtype_is_named_and_wrong_half_values_are_not() -> None:
    half = verdict_of(HalfSumsInHalf(), make_case(dtype="float16"))
    assert half.kind == "precision" and half.deviation == REDUCED_ACCUMULATION
    dropped = verdict_of(DroppedBias(), make_case(dtype="float16"))
    assert dropped.kind == "mismatch" and dropped.deviation is None


def test_an_accepted_class_passes_and_others_stay_findings() -> None:
    half = verdict_of(HalfSumsInHalf(), make_case(dtype="float16"))
    assert not accepted(half, (REDUCED_ACCUMULATION,)).discrepant
    assert accepted(half, (NAN_THROUGH_ZERO,)).discrepant
    plain = verdict_of(NanFromNowhere(), make_case(dtype="float64"))
    assert accepted(plain, (REDUCED_ACCUMULATION, NAN_THROUGH_ZERO)).discrepant


@pytest.mark.campaign
def test_a_campaign_tags_nan_through_zero_and_accepting_it_leaves_nothing(tmp_path: Path) -> None:
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), "jax": ReferenceOracle(),
                                  "torch": GroupsComputedDense()}
    base = CampaignSettings(seed=3, max_examples=60, ops=("conv2d",), dtypes=("float64",), nonfinite=True,
                            layouts=("contiguous",))
    tagged = Campaign(oracles, base).run()
    assert tagged.findings, tagged.verdicts
    assert {f.deviation for f in tagged.findings} == {NAN_THROUGH_ZERO}
    quiet = Campaign(oracles, CampaignSettings(**{**base.__dict__, "accept": (NAN_THROUGH_ZERO,)})).run()
    assert not quiet.findings
    assert quiet.verdicts[f"accepted {NAN_THROUGH_ZERO}"] > 0
