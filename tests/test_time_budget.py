"""A time budget that holds: new examples stop at the budget (less --shrink-time), shrinking a few seconds later, and
a check still running after that is interrupted. What shrinking could not finish is stored as the smallest case
reached, marked not fully shrunk, and a later campaign with the same example database goes on from it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.store.folder import FindingStore, settled_signatures
from convfuzz.oracles.base import Oracle
from convfuzz.oracles.reference_oracle import ReferenceOracle
from tests.planted import SlowOffByOne


def campaign(folder: Path, delay: float, budget: float, grace: float, examples: int | None = None) -> list[str]:
    """A campaign of the reference and the slow off-by-one oracle into `folder`, on one op and dtype (so that both
    campaigns' Hypothesis runs share their example database entry); the ids it wrote."""
    store = FindingStore(folder)
    settings_ = CampaignSettings(seed=3, max_examples=examples, time_budget=budget, shrink_grace=grace,
                                 database=str(folder / "hypothesis"), ops=("conv1d",), dtypes=("float32",))
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), "slow_off_by_one": SlowOffByOne(delay)}
    stats = Campaign(oracles, settings_, settled_signatures(store.load()[0]), record=store.add).run()
    return [f.id for f in stats.findings]


@pytest.mark.campaign
def test_shrinking_cut_by_the_budget_is_stored_marked_and_resumed_later(tmp_path: Path) -> None:
    folder = tmp_path / "findings"
    # Every check takes a second and the budget is one second with no grace: the first example fails, and its
    # shrinking is cut at its first candidate however fast the machine is.
    (first,) = campaign(folder, delay=1.0, budget=1.0, grace=0.0)
    (stored,) = FindingStore(folder).load()[0]
    assert stored.id == first and not stored.shrink_complete
    assert '"shrink_complete": false' in (folder / f"{first}.json").read_text()
    # The next campaign does not skip the signature: it replays the saved example and shrinks it to the end,
    # and the finished finding takes the cut one's place.
    campaign(folder, delay=0.0, budget=120.0, grace=60.0, examples=10)
    (finished,) = [r for r in FindingStore(folder).load()[0] if r.signature == stored.signature]
    assert finished.shrink_complete
    assert finished.case.element_count() <= stored.case.element_count()
    assert not (folder / f"{first}.py").exists() or finished.id == first


@pytest.mark.campaign
def test_a_check_that_never_returns_is_stopped_after_the_budget(tmp_path: Path) -> None:
    """An oracle in the campaign's own process that sleeps for an hour: the budget's stop interrupts it, the run
    ends with its summary (not as a Ctrl-C) and writes nothing it did not confirm."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "convfuzz", "run", "--findings", str(tmp_path / "f"), "--oracles",
         "reference,tests.faults:SleepsForever", "--no-isolation", "--workers", "1", "--time-budget", "2",
         "--seed", "1", "--database", "none"],
        capture_output=True, text=True, timeout=600, check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    assert "interrupted" not in done.stdout, done.stdout
    assert elapsed < 600  # the hour-long sleep was cut short (the benchmark measures how close to the budget)


def test_shrink_time_needs_a_longer_time_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from convfuzz.fuzz.cli import main

    assert main(["run", "--findings", str(tmp_path / "f"), "--shrink-time", "30"]) == 2
    assert main(["run", "--findings", str(tmp_path / "f"), "--time-budget", "20", "--shrink-time", "30"]) == 2
    assert "--shrink-time 30" in capsys.readouterr().err and not (tmp_path / "f").exists()
