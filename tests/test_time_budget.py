"""A time budget that holds: new examples stop at the budget (less --shrink-time), shrinking a few seconds later, and
a check still running after that is interrupted. What shrinking could not finish is stored as the smallest case
reached, marked not fully shrunk, and a later campaign with the same example database goes on from it."""

from __future__ import annotations

import re
import shlex
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
from tests.planted import SlowOffByOne

# Writing the summary and the campaign record and leaving Python, after the campaign has ended: a few seconds on a
# loaded machine, far less than any wait the tests below would catch.
EXIT_SECONDS = 10.0


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
    """An oracle in the campaign's own process that sleeps for an hour: the budget's stop interrupts it STOP_SECONDS
    after the budget, and the run ends with its summary (not as a Ctrl-C), having written nothing it did not
    confirm."""
    budget = 2
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "convfuzz", "run", "--findings", str(tmp_path / "f"), "--oracles",
         "reference,tests.faults:SleepsForever", "--no-isolation", "--workers", "1", "--time-budget", str(budget),
         "--seed", "1", "--database", "none"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    assert "interrupted" not in done.stdout, done.stdout
    # The stop comes STOP_SECONDS after the budget; writing the summary and record and leaving Python take a little
    # more, never the hour the oracle would sleep.
    assert elapsed < budget + STOP_SECONDS + EXIT_SECONDS, (elapsed, done.stdout)


@pytest.mark.campaign
def test_the_budget_counts_from_when_convfuzz_starts_not_from_the_process(tmp_path: Path) -> None:
    """scripts/fuzz installs, then execs convfuzz in the same process: the seconds the installer took are not the
    campaign's. Here a shell sleeps longer than the whole budget before it execs convfuzz, and the campaign still
    fuzzes for its budget."""
    before, budget = 6, 4
    command = (
        f"sleep {before}; exec {shlex.quote(sys.executable)} -m convfuzz run --findings "
        f"{shlex.quote(str(tmp_path / 'f'))} --oracles reference,tests.faults:SlowReference --workers 1 "
        f"--time-budget {budget} --seed 1 --database none --ops conv1d --dtypes float64"
    )
    started = time.monotonic()
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300, check=False)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    examples = int(re.search(r"(\d+) examples", done.stdout).group(1))  # type: ignore[union-attr]
    assert examples > 0, done.stdout  # counted from the shell's start, the budget was spent before convfuzz began
    assert before + budget <= elapsed < before + budget + STOP_SECONDS + EXIT_SECONDS, (elapsed, done.stdout)


def test_shrink_time_needs_a_longer_time_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from convfuzz.fuzz.cli import main

    assert main(["run", "--findings", str(tmp_path / "f"), "--shrink-time", "30"]) == 2
    assert main(["run", "--findings", str(tmp_path / "f"), "--time-budget", "20", "--shrink-time", "30"]) == 2
    assert "--shrink-time 30" in capsys.readouterr().err and not (tmp_path / "f").exists()
