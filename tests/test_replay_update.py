"""`replay --update`: the stored status follows what replays show (open -> fixed -> regressed -> fixed), with the
versions where each finding was last seen, found fixed and found regressed."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from convfuzz.fuzz.campaign.replay import FIXED_IN, LAST_SEEN, REGRESSED_IN, replay_record, updated_record
from convfuzz.fuzz.store.folder import FindingStore
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.oracles.base import FloatArray, Oracle
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.strategies.case import ConvCase
from tests.helpers import stored_finding
from tests.planted import DroppedBias


class Switchable(DroppedBias):
    """Stands in as 'torch': drops the bias while `broken`, answers like the reference otherwise (a release that
    fixes the bug, and a later one that brings it back)."""

    name = "torch"

    def __init__(self) -> None:
        self.broken = True

    def run(self, case: ConvCase) -> FloatArray:
        return super().run(case) if self.broken else ReferenceOracle().run(case)


def replay_and_update(store: FindingStore, oracles: dict[str, Oracle], version: str) -> FindingRecord:
    """One `replay --update` pass over the store's single finding, with torch reported at `version`."""
    (record,), problems = store.load()
    assert not problems
    new = updated_record(replay_record(record, oracles), {"torch": version}, datetime(2026, 11, 26, tzinfo=UTC))
    if new is not None:
        store.update(new)
    (stored,), _ = store.load()
    return stored


def test_status_moves_open_fixed_regressed_fixed_with_the_planted_bug_switched(tmp_path: Path) -> None:
    store = FindingStore(tmp_path)
    store.write(stored_finding())
    repro_before = (tmp_path / f"{stored_finding().id}.py").read_text()
    torch = Switchable()
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), "torch": torch, "jax": ReferenceOracle()}

    seen = replay_and_update(store, oracles, "1.0")
    assert seen.status == "open" and seen.history[LAST_SEEN]["versions"] == {"torch": "1.0"}
    torch.broken = False
    fixed = replay_and_update(store, oracles, "1.1")
    assert fixed.status == "fixed" and fixed.history[FIXED_IN]["versions"] == {"torch": "1.1"}
    assert fixed.history[LAST_SEEN]["versions"] == {"torch": "1.0"}
    assert replay_and_update(store, oracles, "1.2").to_json() == fixed.to_json()  # still fixed: nothing stored
    torch.broken = True
    regressed = replay_and_update(store, oracles, "1.3")
    assert regressed.status == "regressed" and regressed.history[REGRESSED_IN]["versions"] == {"torch": "1.3"}
    assert regressed.history[FIXED_IN]["versions"] == {"torch": "1.1"}  # the history is kept
    torch.broken = False
    assert replay_and_update(store, oracles, "1.4").status == "fixed"
    assert (tmp_path / f"{stored_finding().id}.py").read_text() == repro_before  # the repro is not rewritten


def test_cli_update_marks_a_gone_finding_fixed_and_then_says_all_as_recorded(tmp_path: Path) -> None:
    """A finding that blames the real torch for a planted bug no longer reproduces: --update stores 'fixed' with
    this machine's versions, and the next replay finds it as recorded (exit 0)."""
    FindingStore(tmp_path).write(stored_finding())
    command = [sys.executable, "-m", "convfuzz", "replay", str(tmp_path)]
    plain = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert plain.returncode == 1 and "no longer reproduces" in plain.stdout, plain.stdout + plain.stderr
    updated = subprocess.run([*command, "--update"], capture_output=True, text=True, timeout=300, check=False)
    assert updated.returncode == 0 and "status: open -> fixed" in updated.stdout, updated.stdout + updated.stderr
    (path,) = tmp_path.glob("*.json")
    stored = json.loads(path.read_text())
    assert stored["status"] == "fixed" and stored["history"][FIXED_IN]["versions"]["torch"]
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0 and "still fixed (fixed)" in again.stdout, again.stdout + again.stderr
