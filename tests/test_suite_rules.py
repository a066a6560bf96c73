"""Rules the test suite keeps so that it stays fast to run in part and easy to move around in: the `campaign` marker
follows what a test runs (tests/campaign_marker.py, checked on every test of every run; shown here on sample
tests), and no test module imports another test module (shared helpers live in tests/helpers.py, planted bugs in
tests/planted.py, the one-file toy framework in tests/toy_framework.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPOSITORY = TESTS.parent
# Test modules other modules may import from: they hold no tests.
SHARED = {
    "helpers", "planted", "faults", "known_bugs", "conftest", "campaign_marker", "toy_framework", "toy_releases",
}

SAMPLE = """
import subprocess
import sys

import pytest

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.oracles.reference_oracle import ReferenceOracle
from tests.planted import DroppedBias

RUN = [sys.executable, "-m", "convfuzz", "run", "--oracles", "reference,tests.planted:DroppedBias", "--no-isolation",
       "--workers", "1", "--max-examples", "3", "--ops", "conv1d", "--dtypes", "float64", "--database", "none"]


def search():
    oracles = {"reference": ReferenceOracle(), "dropped_bias": DroppedBias()}
    return Campaign(oracles, CampaignSettings(seed=1, max_examples=3, ops=("conv1d",), dtypes=("float64",))).run()


@pytest.fixture(scope="module")
def searched():
    return search()


def test_unmarked_in_process():
    search()


def test_unmarked_through_a_fixture(searched):
    assert searched.examples


def test_unmarked_command(tmp_path):
    subprocess.run([*RUN, "--findings", str(tmp_path)], check=False, capture_output=True)


@pytest.mark.campaign
def test_marked_but_only_a_usage_error(tmp_path):
    subprocess.run([*RUN, "--findings", str(tmp_path), "--seed", "-1"], check=False, capture_output=True)


@pytest.mark.campaign
def test_marked_command(tmp_path):
    subprocess.run([*RUN, "--findings", str(tmp_path)], check=False, capture_output=True)


@pytest.mark.campaign
def test_marked_through_a_fixture(searched):
    assert searched.examples


def test_plain():
    assert True
"""


def test_the_campaign_marker_follows_what_a_test_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sample tests in a pytest run with the suite's plugin: a campaign run in the test, through a fixture or by a
    `convfuzz run` command needs the mark; a mark on a test that ran none (its command stopped at a usage error)
    fails too; matching marks pass."""
    monkeypatch.setenv("PYTHONPATH", str(REPOSITORY))  # the sample, and the commands it runs, import tests.planted
    pytester.makepyfile(test_sample=SAMPLE)
    pytester.makeini("[pytest]\nmarkers =\n    campaign: runs a fuzz campaign\n")
    result = pytester.runpytest_subprocess(
        "-p", "tests.campaign_marker", "-p", "no:cacheprovider", "-rA", f"--rootdir={pytester.path}",
    )
    out = result.stdout.str()
    failed = {
        "test_unmarked_in_process": "ran a fuzz campaign: add @pytest.mark.campaign",
        "test_unmarked_through_a_fixture": "ran a fuzz campaign: add @pytest.mark.campaign",
        "test_unmarked_command": "ran a fuzz campaign: add @pytest.mark.campaign",
        "test_marked_but_only_a_usage_error": "is marked campaign but ran none",
    }
    for name, said in failed.items():
        assert f"test_sample.py::{name} {said}" in out, out
    result.assert_outcomes(failed=4, passed=3)


def test_no_test_module_imports_another() -> None:
    offending = []
    for path in sorted(TESTS.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            module = node.module or "" if isinstance(node, ast.ImportFrom) else ""
            if module.startswith("tests.") and module.split(".")[1] not in SHARED:
                offending.append(f"{path.name}: from {module} import ...")
    assert not offending, offending
