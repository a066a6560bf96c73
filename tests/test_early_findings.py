"""A finding is written as soon as it is confirmed, then replaced by its shrunk case; in the first pass of a
time-budgeted campaign shrinking is cut short so every combination gets its first look, and a later pass finishes
it."""

from __future__ import annotations

from pathlib import Path

import pytest

from convfuzz.fuzz.campaign import schedule
from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.store.folder import FindingStore
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.oracles.base import Oracle
from convfuzz.oracles.reference_oracle import ReferenceOracle
from tests.planted import DroppedBias


class LoggingStore:
    """A findings store that also remembers every record handed to it, in order."""

    def __init__(self, folder: Path) -> None:
        self.store = FindingStore(folder)
        self.handed: list[FindingRecord] = []

    def add(self, record: FindingRecord) -> bool:
        self.handed.append(record)
        return self.store.add(record)


def planted_campaign(folder: Path, settings_: CampaignSettings) -> tuple[LoggingStore, list[FindingRecord]]:
    """A campaign of the reference and the dropped-bias plant into `folder`: every record handed over, and the
    campaign's findings."""
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), "dropped_bias": DroppedBias()}
    log = LoggingStore(folder)
    stats = Campaign(oracles, settings_, record=log.add).run()
    return log, stats.findings


@pytest.mark.campaign
def test_a_finding_is_written_before_its_shrinking_ends_and_replaced_by_the_shrunk_case(tmp_path: Path) -> None:
    settings_ = CampaignSettings(seed=2, max_examples=40, ops=("conv1d",), dtypes=("float32",))
    log, findings = planted_campaign(tmp_path, settings_)
    assert findings
    for finding in findings:
        handed = [r for r in log.handed if r.signature == finding.signature]
        # First handed over unshrunk, last fully shrunk, never larger than the first.
        assert not handed[0].shrink_complete and handed[-1].shrink_complete, [r.shrink_complete for r in handed]
        assert handed[-1].case.element_count() <= handed[0].case.element_count()
        assert finding == handed[-1]
    # Counted once each, and the folder holds exactly the shrunk findings: every earlier case was replaced.
    assert len({f.signature for f in findings}) == len(findings)
    stored, problems = log.store.load()
    assert not problems and {r.id for r in stored} == {f.id for f in findings}
    assert all(r.shrink_complete for r in stored)


@pytest.mark.campaign
def test_first_pass_shrinking_is_cut_and_a_later_pass_finishes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No shrinking at all in the first pass, whatever the machine's speed; one combination, so the second pass is
    # the same combination's next run. The campaign is stopped once a finding arrives fully shrunk.
    monkeypatch.setattr(schedule, "FIRST_PASS_SHRINK_SECONDS", 0.0)
    settings_ = CampaignSettings(seed=2, max_examples=None, time_budget=600.0, ops=("conv1d",), dtypes=("float32",))
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), "dropped_bias": DroppedBias()}
    log = LoggingStore(tmp_path)

    def add_until_shrunk(record: FindingRecord) -> bool:
        campaign.interrupt_requested |= record.shrink_complete
        return log.add(record)

    campaign = Campaign(oracles, settings_, record=add_until_shrunk)
    findings = campaign.run().findings
    shrunk = next(f for f in findings if f.shrink_complete)
    handed = [r for r in log.handed if r.signature == shrunk.signature]
    assert len(handed) >= 2 and not any(r.shrink_complete for r in handed[:-1]), [r.shrink_complete for r in handed]
    assert handed[-1] == shrunk
    (stored,) = [r for r in log.store.load()[0] if r.signature == shrunk.signature]
    assert stored.shrink_complete and stored.case.element_count() <= handed[0].case.element_count()


def test_only_a_time_budgeted_campaigns_first_pass_cuts_shrinking() -> None:
    timed = schedule.Schedule(CampaignSettings(seed=1, max_examples=None, time_budget=60.0), ("reference",))
    first_pass = len(timed.combinations())
    assert timed.shrink_limit(0) == timed.shrink_limit(first_pass - 1) == schedule.FIRST_PASS_SHRINK_SECONDS
    assert timed.shrink_limit(first_pass) is None
    counted = schedule.Schedule(CampaignSettings(seed=1, max_examples=500, time_budget=60.0), ("reference",))
    assert counted.shrink_limit(0) is None  # an example budget may have no later pass to finish the job
