"""Findings on disk: schema round trip, strict loading that names the problem, atomic paired writes."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from convfuzz.fuzz.store.folder import FindingStore, StoreError
from convfuzz.fuzz.store.records import SCHEMA_VERSION, FindingRecord
from tests.helpers import make_record


def test_record_round_trips_through_json(tmp_path: Path) -> None:
    record = make_record()
    store = FindingStore(tmp_path)
    path = store.write(record)
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION and data["status"] == "open"
    for key in ("id", "kind", "suspects", "op", "config", "inputs", "observed", "environment", "created"):
        assert key in data
    assert data["inputs"]["x"]["shape"] == list(record.case.x.shape)
    loaded = FindingRecord.from_json(data)
    assert loaded.id == record.id and loaded.case.config == record.case.config
    np.testing.assert_array_equal(loaded.case.x, record.case.x)
    assert (tmp_path / f"{record.id}.py").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


@pytest.mark.parametrize(("edit", "problem"), [
    (lambda d: d.update(schema_version=99), "schema_version 99"),
    (lambda d: d.update(id="../escape"), "safe file stem"),
    (lambda d: d.update(kind="oops"), "kind 'oops'"),
    (lambda d: d.update(status="maybe"), "status 'maybe'"),
    (lambda d: d["inputs"]["x"].update(shape=[9]), "inputs.x should have shape"),
    (lambda d: d["config"].update(groups=3), "groups=3"),
    (lambda d: d.update(bug="bug-xyz"), "bug 'bug-xyz'"),
    (lambda d: d.update(triage={"class": "maybe"}), "triage"),
    (lambda d: d.pop("observed"), "observed"),
])
def test_malformed_findings_are_reported_with_path_and_problem(edit, problem: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = FindingStore(tmp_path)
    good = make_record()
    store.write(good)
    data = good.to_json()
    data["id"] = "broken-one"
    edit(data)
    (tmp_path / "broken-one.json").write_text(json.dumps(data))
    (tmp_path / "not-json.json").write_text("{")
    records, problems = store.load()
    assert [r.id for r in records] == [good.id]
    messages = {p.path.name: p.problem for p in problems}
    assert problem in messages["broken-one.json"] and "not-json.json" in messages


def test_unwritable_folder_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="file"):
        FindingStore(blocker).check_writable()
    with pytest.raises(StoreError, match="not writable"):
        FindingStore(blocker / "sub").check_writable()


def test_set_status_rewrites_the_finding(tmp_path: Path) -> None:
    store = FindingStore(tmp_path)
    record = make_record()
    store.write(record)
    store.set_status(record, "fixed")
    assert store.load()[0][0].status == "fixed"


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_findings_are_written_with_the_users_umask(umask: int, mode: int, tmp_path: Path) -> None:
    """A shared nightly folder must be readable by the team: the files get the mode any new file of the user gets."""
    before = os.umask(umask)
    try:
        path = FindingStore(tmp_path).write(make_record())
    finally:
        os.umask(before)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert stat.S_IMODE(path.with_suffix(".py").stat().st_mode) == mode


def test_a_run_counts_only_the_findings_still_stored_each_once(tmp_path: Path) -> None:
    """Two workers hand over cases of one signature before its shrinking ends; the later, smaller one replaces the
    earlier in the folder, and only it is the run's finding."""
    store = FindingStore(tmp_path)
    record = make_record()
    earlier = replace(record, id=f"{record.id}-earlier", shrink_complete=False)
    later = replace(record, shrink_complete=True)
    assert store.add(earlier) and store.add(later)  # the fully shrunk case takes the earlier one's place
    assert [r.id for r in store.load()[0]] == [later.id]
    assert store.still_stored([earlier, later, later]) == [later]
