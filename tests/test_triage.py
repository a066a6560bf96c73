"""`convfuzz triage`: a person's verdict stored in the finding (or every finding of its bug), shown by explain, and
an `expected` finding gets no upstream-issue draft."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from convfuzz.fuzz.cli import main
from convfuzz.fuzz.report.explain import explain, find_record, render_text
from convfuzz.fuzz.store.folder import FindingStore

FINDINGS = Path(__file__).resolve().parent.parent / "findings"
NEGATIVE_PADDING = "conv1d-float32-mismatch-jax-97e80552"
TRANSPOSED_HALF = (
    "conv_transpose1d-float16-precision-torch-3d0396f6", "conv_transpose2d-float16-precision-torch-d31a8e5e",
)


def folder_with(tmp_path: Path, *ids: str) -> Path:
    for ident in ids:
        for suffix in (".json", ".py"):
            shutil.copy(FINDINGS / f"{ident}{suffix}", tmp_path / f"{ident}{suffix}")
    return tmp_path


def test_a_verdict_is_stored_and_explained(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, NEGATIVE_PADDING)
    before = explain(find_record(folder, NEGATIVE_PADDING), replay=False, environment_here={})
    assert before.issue is not None  # a jax bug: an issue is drafted
    url = "https://github.com/openxla/xla/issues/48713"
    assert main(["triage", "97e80552", "--findings", str(folder), "--upstream", url, "--note", "reads outside"]) == 0
    record = find_record(folder, NEGATIVE_PADDING)
    assert record.triage["class"] == "bug" and record.triage["upstream"] == url and record.triage["date"]
    text = render_text(explain(record, replay=False, environment_here={}))
    assert f"TRIAGE: bug ({record.triage['date'][:10]}): reads outside; upstream {url}" in text
    # A later verdict keeps what it does not change.
    assert main(["triage", NEGATIVE_PADDING, "--findings", str(folder), "--class", "expected"]) == 0
    record = find_record(folder, NEGATIVE_PADDING)
    assert record.triage["class"] == "expected" and record.triage["upstream"] == url
    after = explain(record, replay=False, environment_here={})
    assert after.issue is None and after.no_issue.startswith("triaged as expected")


def test_a_verdict_on_the_whole_bug_and_a_move_to_another_bug(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, NEGATIVE_PADDING, *TRANSPOSED_HALF)
    note = "SlowTranspose sums float16 taps in float16"
    assert main(["triage", TRANSPOSED_HALF[0], "--findings", str(folder), "--class", "expected", "--note", note,
                 "--whole-bug"]) == 0
    records = {r.id: r for r in FindingStore(folder).load()[0]}
    assert all(records[i].triage.get("note") == note for i in TRANSPOSED_HALF)
    assert records[NEGATIVE_PADDING].triage.get("note") != note  # another bug: untouched
    key = records[TRANSPOSED_HALF[0]].bug
    assert main(["triage", NEGATIVE_PADDING, "--findings", str(folder), "--bug", key]) == 0
    assert find_record(folder, NEGATIVE_PADDING).bug == key


@pytest.mark.parametrize(("argv", "named"), [
    (["--class", "maybe"], "'maybe'"),
    (["--upstream", "not a url"], "'not a url'"),
    (["--bug", "bug-xyz"], "'bug-xyz'"),
    ([], "nothing to store"),
])
def test_bad_verdicts_exit_2_naming_the_value_and_change_nothing(
    argv: list[str], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    folder = folder_with(tmp_path, NEGATIVE_PADDING)
    before = (folder / f"{NEGATIVE_PADDING}.json").read_bytes()
    assert main(["triage", NEGATIVE_PADDING, "--findings", str(folder), *argv]) == 2
    assert named in capsys.readouterr().err
    assert (folder / f"{NEGATIVE_PADDING}.json").read_bytes() == before


def test_an_unknown_finding_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triage", "deadbeef", "--findings", str(tmp_path), "--class", "bug"]) == 2
    assert "deadbeef" in capsys.readouterr().err
