"""Parallel campaigns: the same seeded runs as one worker, exact merged counts, one record per signature."""

from __future__ import annotations

from pathlib import Path

from fuzz.engine import Campaign, CampaignSettings
from fuzz.parallel import WorkerPlan, run_parallel
from fuzz.store import FindingStore
from oracles.isolation import close_oracles
from oracles.registry import available_oracles

ORACLES = ("reference", "tests.planted:DroppedBias", "tests.planted:ShiftedWindow")
SETTINGS = CampaignSettings(seed=5, max_examples=240, ops=("conv1d", "conv2d"), dtypes=("float32", "float64"))


def test_two_workers_find_what_one_finds(tmp_path: Path) -> None:
    oracles, _ = available_oracles(ORACLES)
    single_store = FindingStore(tmp_path / "one")
    try:
        single = Campaign(oracles, SETTINGS, record=single_store.add).run()
    finally:
        close_oracles(oracles)
    plan = WorkerPlan(SETTINGS, ORACLES, isolate=False, case_timeout=60.0, findings=tmp_path / "two",
                      known_signatures=())
    merged = run_parallel(plan, workers=2)
    signatures = sorted(r.signature for r in FindingStore(tmp_path / "two").load()[0])
    assert signatures == sorted(f.signature for f in single.findings)
    assert sorted(f.signature for f in merged.findings) == signatures  # each counted once, by its writer
    assert merged.hypothesis_runs >= single.hypothesis_runs - 2  # same positions; attempts may differ
    assert merged.checks == sum(merged.by_op_dtype.values()) and merged.examples >= 240
    assert sum(merged.verdicts.values()) >= merged.checks
