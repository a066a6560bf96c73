"""A hang (or crash) seen is never a green run: it is written the moment it is seen, unconfirmed until it shows a
second time (in another example, the same one again, or a re-run), and counts for the summary and the exit status
even where the time budget ends before a second sighting; the next campaign re-checks an unconfirmed finding before
anything else. The budget still holds."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from convfuzz.fuzz.campaign.engine import STOP_SECONDS, Campaign
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.store.folder import FindingStore, settled_signatures
from convfuzz.oracles.base import Oracle
from convfuzz.oracles.reference_oracle import ReferenceOracle
from tests.planted import HangsUntilTheBudgetEnds

# Leaving Python after the campaign (summary, record, closing the workers): a few seconds on a loaded machine.
EXIT_SECONDS = 10.0


def hang_campaign(folder: Path, delay: float, budget: float | None) -> Campaign:
    """A campaign of the reference and a planted hang on dilation 3 into `folder`, with the folder's unconfirmed
    findings to re-check first."""
    store = FindingStore(folder)
    stored = store.load()[0]
    settings_ = CampaignSettings(seed=4, max_examples=None if budget else 40, time_budget=budget, shrink_grace=0.0,
                                 ops=("conv1d",), dtypes=("float64",))
    oracles: dict[str, Oracle] = {
        "reference": ReferenceOracle(), "hangs_until_the_budget_ends": HangsUntilTheBudgetEnds(delay),
    }
    return Campaign(oracles, settings_, settled_signatures(stored), record=store.add,
                    unconfirmed=[r for r in stored if not r.confirmed])


@pytest.mark.campaign
def test_a_hang_seen_once_is_written_unconfirmed_and_the_next_campaign_confirms_it_first(tmp_path: Path) -> None:
    folder = tmp_path / "findings"
    # The hang lasts as long as the whole budget: it shows once, and no second sighting or re-run fits.
    stats = hang_campaign(folder, delay=4.0, budget=4.0).run()
    (seen,) = stats.findings
    (stored,) = FindingStore(folder).load()[0]
    assert seen.kind == "timeout" and not seen.confirmed and stored.id == seen.id and not stored.confirmed
    assert '"confirmed": false' in (folder / f"{seen.id}.json").read_text()
    assert seen.signature not in settled_signatures([stored])  # a later campaign does not skip it
    # The next campaign (hangs answered at once now) re-checks it before it draws anything: confirmed.
    again = hang_campaign(folder, delay=0.0, budget=None)
    assert [r.id for r in again.unconfirmed] == [seen.id]
    later = again.run()
    assert later.rechecked["confirmed"] == 1
    confirmed = [r for r in FindingStore(folder).load()[0] if r.signature == seen.signature]
    assert len(confirmed) == 1 and confirmed[0].confirmed


@pytest.mark.campaign
def test_a_hang_that_shows_twice_is_confirmed_without_a_rerun(tmp_path: Path) -> None:
    """Hypothesis shrinks the hanging example: every candidate that hangs is a sighting, so the finding is
    confirmed (and fully shrunk) with no re-run of its own."""
    stats = hang_campaign(tmp_path / "findings", delay=0.0, budget=None).run()
    (finding,) = [f for f in stats.findings if f.kind == "timeout"]
    assert finding.confirmed and finding.shrink_complete
    assert 3 in finding.case.config.dilation and finding.case.element_count() <= 4


@pytest.mark.campaign
def test_a_real_hang_in_an_isolated_worker_fails_the_run_and_the_budget_holds(tmp_path: Path) -> None:
    """The default CLI (isolated workers, the folder's example database) on a planted hang of any conv with a
    dilation of 3, with a case timeout so long that no re-run of the hang fits in the budget after it was seen:
    the run writes the timeout finding, says so and exits 1, within the budget's bound."""
    budget, case_timeout = 25, 15
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "convfuzz", "run", "--findings", str(tmp_path / "f"), "--oracles",
         "reference,tests.faults:HangOnDilation3", "--time-budget", str(budget), "--case-timeout", str(case_timeout),
         "--seed", "11", "--ops", "conv2d", "--dtypes", "float32"],
        capture_output=True, text=True, timeout=600, check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stdout + done.stderr
    assert "new findings: none" not in done.stdout and "timeout" in done.stdout, done.stdout
    hangs = [json.loads(p.read_text()) for p in (tmp_path / "f").glob("*-timeout-*.json")]
    assert hangs and all(h["kind"] == "timeout" and 3 in h["config"]["dilation"] for h in hangs), hangs
    assert elapsed < budget + STOP_SECONDS + EXIT_SECONDS, (elapsed, done.stdout)
