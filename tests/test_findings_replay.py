"""Regression replay of every committed finding in findings/, through convfuzz's own pytest plugin (the same code
`pytest --convfuzz-findings DIR` runs in a user's project; fuzz/pytest_plugin.py says what each outcome means)."""

from __future__ import annotations

from pathlib import Path

import pytest

from convfuzz.fuzz.pytest_plugin import check_finding, finding_marks
from convfuzz.fuzz.store.folder import FindingStore
from convfuzz.fuzz.store.records import FindingRecord

FINDINGS = Path(__file__).resolve().parent.parent / "findings"
RECORDS, PROBLEMS = FindingStore(FINDINGS).load()


def test_every_committed_finding_is_readable() -> None:
    assert not PROBLEMS, [str(p) for p in PROBLEMS]
    for record in RECORDS:
        assert (FINDINGS / f"{record.id}.py").exists(), f"{record.id} has no repro script"


@pytest.mark.parametrize("record", [pytest.param(r, marks=finding_marks(r), id=r.id) for r in RECORDS])
def test_finding_behaves_as_recorded(record: FindingRecord) -> None:
    check_finding(record)
