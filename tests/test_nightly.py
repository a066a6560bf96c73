"""scripts/nightly: replay, a time-budgeted campaign, the report; exit 1 on a regression or a new bug, else 0."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from convfuzz.fuzz.store.folder import FindingStore, read_finding

ROOT = Path(__file__).resolve().parent.parent
# A committed finding that reproduces on any CPU: XLA's negative-padding bug (openxla/xla#48713).
REPRODUCING_ANYWHERE = "conv1d-float32-mismatch-jax-97e80552"
QUIET_CAMPAIGN = ["--oracles", "reference,torch", "--no-isolation", "--workers", "1", "--ops", "conv2d",
                  "--dtypes", "float64", "--seed", "1", "--max-examples", "20"]
# The campaign step ends at its example count, long before this budget: what it meets does not depend on how fast
# the machine starts Python and the frameworks.
BUDGET = 600


def nightly(folder: Path, budget: float, *run_options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "nightly"), "--findings", str(folder), "--time-budget", str(budget), "--",
         *run_options], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )


def report_written(folder: Path) -> bool:
    return (folder / "report" / "index.html").is_file() and (folder / "report" / "summary.md").is_file()


@pytest.mark.campaign
def test_a_new_bug_exits_1_with_the_report_written(tmp_path: Path) -> None:
    done = nightly(tmp_path, BUDGET, "--oracles", "reference,tests.planted:DroppedBias", "--no-isolation",
                   "--workers", "1", "--ops", "conv1d", "--dtypes", "float32", "--seed", "1", "--max-examples", "30")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "new bug" in done.stdout and "a new bug" in done.stderr
    assert any("dropped_bias" in r.suspects for r in FindingStore(tmp_path).load()[0])
    assert report_written(tmp_path)


@pytest.mark.campaign
def test_a_quiet_night_exits_0_with_the_report_written(tmp_path: Path) -> None:
    done = nightly(tmp_path, BUDGET, *QUIET_CAMPAIGN)
    assert done.returncode == 0, done.stdout + done.stderr
    assert report_written(tmp_path)
    assert not FindingStore(tmp_path).load()[0]


@pytest.mark.campaign
def test_a_regression_exits_1(tmp_path: Path) -> None:
    for suffix in (".json", ".py"):
        shutil.copy(ROOT / "findings" / f"{REPRODUCING_ANYWHERE}{suffix}", tmp_path)
    store = FindingStore(tmp_path)
    store.set_status(read_finding(tmp_path / f"{REPRODUCING_ANYWHERE}.json"), "fixed")
    done = nightly(tmp_path, BUDGET, *QUIET_CAMPAIGN)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "regressed" in done.stdout and "a regression" in done.stderr
    assert report_written(tmp_path)


def test_an_unknown_option_exits_2_and_runs_nothing(tmp_path: Path) -> None:
    done = subprocess.run([str(ROOT / "scripts" / "nightly"), "--findings", str(tmp_path), "--budget", "5"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "--budget" in done.stderr
    assert not any(tmp_path.iterdir())
