"""Every number convfuzz prints about a finding agrees with the others printed beside it: value minus exact value is
the printed |err| (to the digits shown), and the within/OUTSIDE word follows from |err| against the bound. Checked
on every committed finding, in its message, in `explain` and in the upstream issue's table."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from convfuzz.fuzz.judge.decide import NUMERIC_KINDS
from convfuzz.fuzz.report.explain import explain, find_record, render_text
from convfuzz.fuzz.store.folder import FindingStore
from convfuzz.fuzz.store.records import FindingRecord

FINDINGS = Path(__file__).resolve().parent.parent / "findings"
RECORDS = FindingStore(FINDINGS).load()[0]
# A wrong-shape result has no element to state: its message gives the shapes (the judge's "of the wrong shape").
NUMERIC = [r for r in RECORDS if r.kind in NUMERIC_KINDS and not r.case.config.defect
           and "of the wrong shape" not in r.message]

MESSAGE_LINE = re.compile(
    r"out\[(?P<at>[\d, ]*)\]=(?P<value>\S+?),? (?:but should be|matches) (?P<exact>\S+) "
    r"\(\|err\|=(?P<err>\S+) (?P<op><=|>) bound=(?P<bound>\S+)\)"
)
VALUES_LINE = re.compile(
    r"^\s+(?P<oracle>\S+)\s+out\[(?P<at>[\d, ]*)\] =\s+(?P<value>\S+)\s+\|err\|\s+(?P<err>\S+)\s+bound\s+"
    r"(?P<bound>\S+)\s+(?P<word>within|OUTSIDE)$"
)
EXACT_LINE = re.compile(r"exact \(float64 reference\) at out\[(?P<at>[\d, ]*)\]: (?P<exact>\S+)")
ISSUE_ROW = re.compile(
    r"^\| out\[(?P<at>[\d, ]*)\] \| (?P<exact>\S+) \| (?P<value>\S+) \| (?P<err>\S+) \| (?P<bound>\S+) \|$"
)


def number(text: str) -> complex:
    return complex(text.strip("()"))


def assert_difference_is_the_error(value: str, exact: str, error: str, where: str) -> None:
    """value - exact == error to the digits printed (5%), with NaN/inf handled as the judge does."""
    v, e, err = number(value), number(exact), float(error)
    if any(math.isnan(z) for z in (v.real, v.imag, e.real, e.imag)) or math.isinf(abs(v)) or math.isinf(abs(e)):
        same = value == exact
        assert (err == 0.0) if same else math.isinf(err), f"{where}: {value} vs {exact} printed with |err|={error}"
        return
    assert abs(abs(v - e) - err) <= 0.05 * err + 1e-300, f"{where}: |{value} - {exact}| is not {error}"


def assert_word_follows(error: str, bound: str, outside: bool, where: str) -> None:
    assert (float(error) > float(bound)) == outside, f"{where}: |err|={error} vs bound={bound} says outside={outside}"


@pytest.mark.parametrize("record", NUMERIC, ids=[r.id for r in NUMERIC])
def test_message_states_one_element(record: FindingRecord) -> None:
    lines = record.message.splitlines()
    assert len(lines) == len(record.suspects)
    for line in lines:
        found = MESSAGE_LINE.search(line)
        assert found, line
        assert_difference_is_the_error(found["value"], found["exact"], found["err"], f"message of {record.id}")
        assert_word_follows(found["err"], found["bound"], found["op"] == ">", f"message of {record.id}")


@pytest.mark.parametrize("record", NUMERIC, ids=[r.id for r in NUMERIC])
def test_explain_values_and_the_issue_table_state_one_element(record: FindingRecord) -> None:
    explanation = explain(record, replay=False, environment_here={})
    text = render_text(explanation)
    exact = EXACT_LINE.search(text)
    assert exact, text
    suspect_rows = [m for m in map(VALUES_LINE.match, text.splitlines()) if m and m["oracle"] == explanation.suspect]
    assert len(suspect_rows) == 1, text
    row = suspect_rows[0]
    assert row["at"] == exact["at"]
    assert_difference_is_the_error(row["value"], exact["exact"], row["err"], f"explain {record.id}")
    assert_word_follows(row["err"], row["bound"], row["word"] == "OUTSIDE", f"explain {record.id}")
    assert row["word"] == "OUTSIDE"  # the suspect is the suspect because of this element
    if explanation.issue is not None:
        rows = [m for m in map(ISSUE_ROW.match, explanation.issue.body.splitlines()) if m]
        assert len(rows) == 1, explanation.issue.body
        table = rows[0]
        assert table["at"] == exact["at"]
        assert_difference_is_the_error(table["value"], table["exact"], table["err"], f"issue of {record.id}")
        assert float(table["err"]) > float(table["bound"])


def test_exact_tier_sentence_only_where_numbers_are_compared() -> None:
    for record in RECORDS:
        explanation = explain(record, replay=False, environment_here={})
        text = render_text(explanation)
        numeric = record.kind in NUMERIC_KINDS and not record.case.config.defect
        assert ("EXACT TIER:" in text) == numeric, record.id
        if explanation.issue is not None:
            body = explanation.issue.body
            assert ("any difference at all is a bug" in body) == (numeric and record.exact_tier), record.id
            description = body.split("### Reproduction")[0]
            complex_dtype = record.case.config.dtype.startswith("complex")
            assert "complex128" not in description or complex_dtype, record.id
            assert not numeric or ("complex128" in description) == complex_dtype, record.id
            assert " agree with each other" not in body or len(explanation.agreeing) > 1, record.id


def test_a_finding_is_found_by_its_hash_alone() -> None:
    assert find_record(FINDINGS, "97e80552").id == "conv1d-float32-mismatch-jax-97e80552"
    assert find_record(FINDINGS, "97e8").id == "conv1d-float32-mismatch-jax-97e80552"
