"""Regression replay of every committed finding in findings/.

open + still reproduces   -> expected failure (xfail), the bug is still there upstream
open + no longer          -> failure: mark it fixed (the framework fixed it, or our judge changed)
open + no longer, but another kernel may have run here (kernel-selecting facts differ) -> skipped: inconclusive
fixed + reproduces again  -> failure: regression
fixed + still gone        -> pass
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz.records import FindingRecord
from fuzz.replay import FIXED, INCONCLUSIVE, REGRESSED, REPRODUCES, SKIPPED, replay_record
from fuzz.store import FindingStore

FINDINGS = Path(__file__).resolve().parent.parent / "findings"
RECORDS, PROBLEMS = FindingStore(FINDINGS).load()


def test_every_committed_finding_is_readable() -> None:
    assert not PROBLEMS, [str(p) for p in PROBLEMS]
    for record in RECORDS:
        assert (FINDINGS / f"{record.id}.py").exists(), f"{record.id} has no repro script"


@pytest.mark.parametrize("record", RECORDS, ids=[r.id for r in RECORDS])
def test_finding_behaves_as_recorded(record: FindingRecord) -> None:
    result = replay_record(record)
    if result.state in (SKIPPED, INCONCLUSIVE):
        pytest.skip(result.reason)
    if result.state == REPRODUCES:
        pytest.xfail(f"still reproduces (open upstream): {record.message.splitlines()[0]}")
    assert result.state != FIXED, f"{record.id} no longer reproduces: mark it fixed (status: fixed)"
    message = result.verdict.message if result.verdict else ""
    assert result.state != REGRESSED, f"{record.id} was fixed but reproduces again: {message}"
