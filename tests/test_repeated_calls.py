"""Repeated calls: a stale-buffer bug, which shows only when a shape is called again with new data, is found,
recorded with the earlier call it needs, and replayed and scripted with that call first."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.replay import FIXED, REPRODUCES, replay_record
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.fuzz.store.script import finding_script
from convfuzz.oracles.base import Oracle
from convfuzz.oracles.reference_oracle import ReferenceOracle
from tests.conftest import oracle_or_skip
from tests.helpers import claim_that_torch_is_wrong, inserted_before_the_call, make_case, run_script
from tests.planted import StaleResultCache


def stale_cache_finding() -> FindingRecord:
    planted = StaleResultCache()
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), planted.name: planted}
    stats = Campaign(oracles, CampaignSettings(seed=6, max_examples=300, ops=("conv1d", "conv2d"))).run()
    assert stats.first_discrepancy_at is not None and stats.first_discrepancy_at <= 300
    found = [f for f in stats.findings if f.suspects == (planted.name,)]
    assert found, stats.verdicts
    return min(found, key=lambda f: f.case.element_count())


@pytest.mark.campaign
def test_a_stale_buffer_bug_is_recorded_with_the_call_before_it() -> None:
    finding = stale_cache_finding()
    assert finding.kind == "mismatch" and len(finding.preceding) == 1
    (earlier,) = finding.preceding
    assert earlier.config == finding.case.config and finding.case.element_count() <= 64
    # The stored JSON carries the earlier call; loading it gives the same record.
    again = FindingRecord.from_json(finding.to_json())
    assert len(again.preceding) == 1 and (again.preceding[0].x == earlier.x).all()
    # Replayed on a fresh oracle it reproduces only with the earlier call made first.
    def oracles() -> dict[str, Oracle]:
        return {"reference": ReferenceOracle(), "stale_result_cache": StaleResultCache()}

    assert replay_record(again, oracles()).state == REPRODUCES
    assert replay_record(replace(again, preceding=()), oracles()).state == FIXED


def test_repro_script_makes_the_earlier_calls_first(tmp_path: Path) -> None:
    """A made-up stale-buffer finding against torch (no campaign needed: the test above shows campaigns record
    the earlier call): its script makes the earlier call first."""
    oracle_or_skip("torch")
    case = make_case(family="small_int")
    earlier = replace(case, x=case.x + 1.0)  # same shape and parameters, other data
    as_torch = replace(claim_that_torch_is_wrong(case, ("reference", "torch")), preceding=(earlier,))
    text = finding_script(as_torch)
    assert "PRECEDING = [\n" in text and "for tensors in PRECEDING:" in text
    gone = run_script(text, tmp_path)  # the real torch has no stale buffer
    assert gone.returncode == 0 and "GONE" in gone.stdout, gone.stdout + gone.stderr
    # A torch runner that returns its previous result for the same shapes, as the planted bug does.
    stale = "    cache = globals().setdefault('STALE', {})\n    if 'out' in cache:\n        return cache['out']\n"
    returned = next(line for line in text.splitlines(keepends=True) if line.startswith("    return out."))
    keeping = f"    cache['out'] = {returned.strip().removeprefix('return ')}\n    return cache['out']\n"
    broken = run_script(inserted_before_the_call(text, stale).replace(returned, keeping), tmp_path)
    assert broken.returncode == 1 and "REPRODUCES" in broken.stdout, broken.stdout
