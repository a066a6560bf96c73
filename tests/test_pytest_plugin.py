"""The pytest plugin in a user's own pytest run (`pytest --convfuzz-findings DIR`, a real subprocess): each finding
is a test whose outcome follows its replay."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import pytest

from convfuzz.fuzz.store.folder import FindingStore
from convfuzz.fuzz.store.records import FindingRecord
from tests.helpers import claim_that_torch_is_wrong, make_case, make_record

FINDINGS = Path(__file__).resolve().parent.parent / "findings"
NEGATIVE_PADDING = "conv1d-float32-mismatch-jax-97e80552"


def committed(ident: str) -> FindingRecord:
    return FindingRecord.from_json(json.loads((FINDINGS / f"{ident}.json").read_text()))


def test_findings_become_tests_with_the_outcome_their_replay_calls_for(pytester: pytest.Pytester) -> None:
    # Not imported here: pytester restores sys.modules after the test, and a framework imported during it would be
    # initialised a second time by a later test of this process (torch and jaxlib abort on that).
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("jax") is None:
        pytest.skip("needs torch and jax")
    folder = pytester.path / "team-findings"
    store = FindingStore(folder)
    # Marked fixed, but XLA still reads outside the input: a regression.
    store.write(replace(committed(NEGATIVE_PADDING), id="regressed-jax-negative-padding", status="fixed"))
    # Open, and torch is right on this case (the claim is made up): gone on the same facts, so "mark it fixed".
    case = make_case(family="small_int")
    claim = replace(claim_that_torch_is_wrong(case, ("reference", "torch")), id="gone-torch-claim")
    store.write(claim)
    # The same claim found where torch's CPU dispatch level was one no machine has: cannot tell.
    elsewhere = {"torch": {"cpu_capability": "MADE-UP"}}
    store.write(replace(claim, id="elsewhere-torch-claim", environment={"kernel_facts": elsewhere}))
    # Blames an oracle that exists only inside convfuzz's tests: nothing here can run it.
    store.write(replace(make_record(), id="planted-oracle-claim"))
    (folder / "hand-edited.json").write_text(json.dumps({"schema_version": 1}))

    result = pytester.runpytest_subprocess("--convfuzz-findings", str(folder), "-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(failed=3, skipped=2)
    out = result.stdout.str()
    assert "regressed-jax-negative-padding was fixed but reproduces again (regression)" in out
    assert "XPASS(strict)" in out and "gone-torch-claim is open; it passes now, so mark it fixed" in out
    assert "elsewhere-torch-claim: inconclusive" in out and "torch's CPU capability 'MADE-UP'" in out
    assert "planted-oracle-claim: skipped" in out
    assert "hand-edited.json: unreadable finding" in out


def test_without_a_findings_folder_the_plugin_adds_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    missing = pytester.runpytest_subprocess("--convfuzz-findings", "nowhere", "-p", "no:cacheprovider")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR and "nowhere is not a folder" in missing.stderr.str()


