"""The snippet an upstream issue leads with: a few lines of numpy and one framework that, run on their own, print the
wrong values (or crash, or raise) for every committed finding that reproduces here."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from convfuzz.fuzz.store.folder import FindingStore
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.fuzz.store.script import finding_script, issue_snippet, script_suspect
from convfuzz.oracles.names import direct_framework
from convfuzz.oracles.registry import suspect_device
from tests.helpers import run_script

FINDINGS = Path(__file__).resolve().parent.parent / "findings"
# The issue body leads with the snippet; a maintainer reads it whole. Forward calls of torch and JAX fit in about
# 15 lines; a gradient, torch.compile's closure or a VJP needs a few more.
MAX_SNIPPET_LINES = 32
# The line every numeric snippet ends with: out[i, j] = <value> but should be <exact> within <bound>.
AT = re.compile(r"^out\[[\d, ]*\] = (\S+) but should be (\S+) within (\S+)$", re.MULTILINE)


def shown_records() -> list[FindingRecord]:
    records, problems = FindingStore(FINDINGS).load()
    assert not problems, problems
    return [r for r in records if script_suspect(r) is not None]


def shows_the_problem(record: FindingRecord, done: subprocess.CompletedProcess[str]) -> bool:
    """Whether a snippet's run shows the finding's problem: the process killed (crash), an error raised on a
    valid case, or the element it prints off by more than its bound."""
    if record.kind in ("crash", "timeout"):
        return done.returncode < 0
    if record.kind == "error_mismatch" and not record.case.config.defect:
        return done.returncode != 0 and "Error" in done.stderr
    if record.case.config.defect:  # an invalid configuration accepted: it printed an output's shape
        return done.returncode == 0 and bool(re.search(r"^(\(|torch\.Size\()", done.stdout, re.MULTILINE))
    if "of the wrong shape" in record.message:  # it printed the output's shape and the one it should have
        shapes = re.search(r"^(\(.*\)) but should be (\(.*\))$", done.stdout, re.MULTILINE)
        return done.returncode == 0 and shapes is not None and shapes[1] != shapes[2]
    found = AT.search(done.stdout)
    assert done.returncode == 0 and found, done.stdout + done.stderr
    value, exact, bound = (float(n) for n in found.groups())
    return not math.isfinite(value) or abs(value - exact) > bound


@pytest.mark.parametrize("record", shown_records(), ids=lambda r: r.id)
def test_the_snippet_prints_the_problem_on_its_own(record: FindingRecord, tmp_path: Path) -> None:
    oracle = script_suspect(record)
    assert oracle is not None
    framework = pytest.importorskip(str(direct_framework(oracle)))
    if suspect_device(oracle, record.case.config.device) == "cuda" and not (
        framework.__name__ == "torch" and framework.cuda.is_available()
    ):
        pytest.skip("a CUDA finding: this machine has no GPU torch sees")
    snippet = issue_snippet(record, oracle)
    assert len(snippet.splitlines()) <= MAX_SNIPPET_LINES, snippet
    (tmp_path / "snippet.py").write_text(snippet)
    done = subprocess.run([sys.executable, "-I", str(tmp_path / "snippet.py")], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600, check=False)
    if shows_the_problem(record, done):
        return
    # Not shown here: the finding's own script must say this machine cannot tell (another kernel ran here).
    script = run_script(finding_script(record), tmp_path)
    assert script.returncode == 2, (done.stdout + done.stderr, script.stdout)
    pytest.skip(f"does not reproduce on this machine: {script.stdout.strip()}")
