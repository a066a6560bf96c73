"""The Hypothesis example database: a campaign retries what an earlier campaign found first."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis.database import DirectoryBasedExampleDatabase

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.example_db import example_database
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.oracles.base import FloatArray, Oracle
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.strategies.case import ConvCase
from tests.planted import DroppedBias


class RareBug(DroppedBias):
    """Drops the bias only in a conv with bias and exactly three groups: met now and then."""

    name = "rare_bug"

    def run(self, case: ConvCase) -> FloatArray:
        cfg = case.config
        if cfg.groups == 3:
            return super().run(case)
        return ReferenceOracle().run(case)


def first_discrepancy(seed: int, database: str | None) -> int | None:
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), "other": ReferenceOracle(), "rare_bug": RareBug()}
    settings_ = CampaignSettings(seed=seed, max_examples=150, ops=("conv1d",), dtypes=("float64",), database=database)
    return Campaign(oracles, settings_).run().first_discrepancy_at


@pytest.mark.campaign
def test_a_later_campaign_starts_with_what_an_earlier_one_found(tmp_path: Path) -> None:
    database = str(tmp_path / "db")
    without = first_discrepancy(1, None)
    assert without is not None and without > 50  # seed 1 alone meets the bug late (example 105)
    assert first_discrepancy(2, database) is not None  # another campaign meets it and saves it
    assert any((tmp_path / "db").rglob("*")), "the failing example was saved"
    # Seed 1 with that database replays the saved examples before generating: the bug shows among the first
    # few (the failing example sorts among the target's saved best cases), not at example 105.
    again = first_discrepancy(1, database)
    assert again is not None and again <= 20


def test_database_specs() -> None:
    assert example_database(None) is None and example_database("none") is None
    assert isinstance(example_database("some/folder"), DirectoryBasedExampleDatabase)
    with pytest.raises(ValueError, match="redis"):
        example_database("redis://localhost:6379") if _redis_missing() else example_database("pyproject.toml")
    with pytest.raises(ValueError, match="not a folder"):
        example_database("pyproject.toml")


def _redis_missing() -> bool:
    return importlib.util.find_spec("redis") is None


def test_cli_refuses_an_unusable_database_before_running(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "convfuzz", "run", "--findings", str(tmp_path / "f"), "--database", "pyproject.toml",
         "--max-examples", "5"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 2 and "--database pyproject.toml" in result.stderr, result.stderr
    assert not (tmp_path / "f").exists()
