"""The campaign's running counts: multiply-adds checked, summed exactly over checks and over workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from convfuzz.fuzz.campaign.statistics import CampaignStats
from convfuzz.fuzz.cli import format_summary
from convfuzz.fuzz.judge.verdict import judge
from convfuzz.oracles.base import Outcome
from convfuzz.oracles.reference_oracle import ReferenceOracle
from tests.helpers import make_case


def test_multiply_adds_are_counted_per_check_and_merged_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each check is also a Hypothesis event, which only a running Hypothesis test may record.
    monkeypatch.setattr("convfuzz.fuzz.campaign.statistics.event", lambda feature: None)
    case = make_case()  # conv2d: 4 -> 4 channels in 2 groups, 6x6 padded by 1, kernel 3x3
    verdict = judge(case, {name: Outcome.of(ReferenceOracle(), case) for name in ("reference", "again")})
    assert not verdict.discrepant
    # 1 x 4 x 6 x 6 = 144 output elements, each a sum over 2 input channels x 9 taps.
    per_check = 144 * 2 * 9
    one, other = CampaignStats(seed=1), CampaignStats(seed=1)
    for _ in range(3):
        one.count_check(case, verdict)
    other.count_check(case, verdict)
    assert (one.multiply_adds, other.multiply_adds) == (3 * per_check, per_check)
    merged = CampaignStats.merged([one, other], seed=1, started=one.started)
    assert merged.multiply_adds == 4 * per_check
    assert "M multiply-adds/s)" in format_summary(merged, Path("findings"), 0).splitlines()[0]
