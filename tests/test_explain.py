"""`convfuzz explain`: committed findings of three kinds explained from a fresh replay, and the upstream issue's
script run against the installed frameworks (exit 1 while the finding reproduces, 0 on data where it cannot)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings

from convfuzz.fuzz.cli import EXIT_USAGE, main
from convfuzz.fuzz.report.explain import explain, find_record, render_text
from convfuzz.fuzz.store.folder import FindingStore
from convfuzz.fuzz.store.script import issue_title, script_for
from convfuzz.oracles.kernel_facts import collect_facts
from convfuzz.oracles.lax_conventions import transposed_padding
from convfuzz.oracles.user_calls import user_runner
from convfuzz.strategies.budget import SizeBudget
from convfuzz.strategies.case import GRADIENTS, ConvCase
from convfuzz.strategies.conv import conv_cases
from tests.helpers import user_form_comparisons

FINDINGS = Path(__file__).resolve().parent.parent / "findings"
# One finding of each kind, each a real bug of the pinned frameworks (docs/findings.md): torch's CPU transposed
# half accumulation (precision), XLA's NaN leak across groups (nonfinite), XLA's simplifier abort (crash).
THREE_KINDS = {
    "conv_transpose1d-float16-precision-torch-3d0396f6": ("torch", "F.conv_transpose1d("),
    "conv1d-float64-nonfinite-jax-a9ddecfe": ("jax", "lax.conv_general_dilated("),
    "conv_transpose2d-bfloat16-crash-jax-def2b97c": ("jax", "lax.conv_general_dilated("),
}


def untriaged_copy(finding_id: str, folder: Path) -> Path:
    """`folder` holding the committed finding without its triage."""
    record = find_record(FINDINGS, finding_id)
    FindingStore(folder).write(replace(record, triage={}))
    return folder


def _run_script(source: str, folder: Path) -> subprocess.CompletedProcess[str]:
    path = folder / "issue_repro.py"
    path.write_text(source, encoding="utf-8")
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("finding_id", sorted(THREE_KINDS))
def test_explain_a_committed_finding_and_its_issue_script_reproduces(
    finding_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    framework, call = THREE_KINDS[finding_id]
    # Two of the three are triaged as expected (no upstream draft): explained here as a fresh, untriaged finding.
    folder = untriaged_copy(finding_id, tmp_path / "findings")
    assert main(["explain", finding_id, "--findings", str(folder), "--json"]) == 0
    explained = json.loads(capsys.readouterr().out)
    record = find_record(folder, finding_id)
    if explained["replay"]["state"] == "inconclusive":
        # Gone on this CPU, which may run another kernel (a half-precision one it has): the script must say so.
        done = _run_script(explained["issue"]["script"], tmp_path)
        assert done.returncode == 2 and "CANNOT TELL" in done.stdout, done.stdout + done.stderr
        pytest.skip(f"{finding_id} does not show on this CPU: {explained['replay']['reason']}")
    assert explained["replay"]["state"] == "reproduces"
    assert explained["suspect"] == record.suspects[0]
    assert set(explained["agreeing"]) == set(record.oracles) - set(record.suspects)
    # The case as users write it: both frameworks' calls with every argument.
    assert "F.conv" in explained["calls"]["torch"] and "groups=" in explained["calls"]["torch"]
    assert "lax.conv_general_dilated(" in explained["calls"]["jax"]
    assert "feature_group_count=" in explained["calls"]["jax"]
    if record.kind == "crash":
        assert any("SIGABRT" in (e["error"] or "") for e in explained["elements"] if e["oracle"] in record.suspects)
    else:
        # Every oracle at the suspect's worst element: the suspect outside its bound, the others within theirs.
        elements = {e["oracle"]: e for e in explained["elements"]}
        assert elements[explained["suspect"]]["within"] is False
        assert all(elements[name]["within"] for name in explained["agreeing"])
        assert explained["error_vs_bound"]["ratio"] > 1
    assert explained["exact_tier"]["why"]
    assert explained["environment"]["here"]["numpy"] == np.__version__
    issue = explained["issue"]
    assert issue["framework"] == framework and call in issue["script"]
    assert record.case.config.dtype in issue["title"] and "```python" in issue["body"]
    # The body leads with the short snippet (its first code block); the whole script comes after it.
    body = issue["body"]
    assert body.index("```python") < body.index(issue["snippet"]) < body.index(issue["script"])
    assert len(issue["snippet"].splitlines()) < len(issue["script"].splitlines()) // 3
    done = _run_script(issue["script"], tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "REPRODUCES" in done.stdout


def test_issue_script_exits_0_where_the_framework_is_right(tmp_path: Path) -> None:
    """The same script on data where torch's half accumulation cannot show (all zeros): exit 0, so exit 1 above
    is the discrepancy, not the script."""
    pytest.importorskip("torch")
    record = find_record(FINDINGS, "conv_transpose1d-float16-precision-torch-3d0396f6")
    case = record.case
    # Found, as far as the script can tell, on this very machine: a no-show then means gone, on any CPU.
    here = {**record.environment, "kernel_facts": collect_facts(["torch"])}
    calm = replace(record, case=replace(case, x=np.zeros_like(case.x), w=np.ones_like(case.w)), environment=here)
    done = _run_script(script_for(calm, "torch", issue_title(calm, "torch")), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "GONE" in done.stdout


def test_explain_without_replay_reads_the_stored_finding() -> None:
    record = find_record(FINDINGS, "conv1d-float64-nonfinite-jax")  # a unique prefix is enough
    text = render_text(explain(replace(record, triage={}), replay=False, environment_here={"numpy": "x"}))
    for heading in ("WHAT: nonfinite", "WHO: outlier jax", "THE CASE AS A USER WRITES IT", "EXACT TIER:",
                    "ENVIRONMENT when found", "UPSTREAM ISSUE for JAX", "BUG: bug-", "TRIAGE: none yet"):
        assert heading in text
    assert "stored when it was found" in text
    # As committed, it is triaged as expected: the verdict is shown and no issue is drafted.
    triaged = render_text(explain(record, replay=False, environment_here={"numpy": "x"}))
    assert "TRIAGE: expected" in triaged and "UPSTREAM ISSUE for JAX" not in triaged


def test_a_finding_against_our_reference_gets_no_upstream_issue() -> None:
    record = find_record(FINDINGS, "conv1d-float64-nonfinite-jax-a9ddecfe")
    ours = replace(record, suspects=("reference",), triage={})
    explanation = explain(ours, replay=False, environment_here={})
    assert explanation.issue is None and "convfuzz's own float64 reference" in explanation.no_issue


@pytest.mark.parametrize("ident", ["no-such-finding", "conv"])
def test_explain_names_a_missing_or_ambiguous_id(ident: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", ident, "--findings", str(FINDINGS), "--no-replay"]) == EXIT_USAGE
    assert repr(ident) in capsys.readouterr().err


@settings(max_examples=30, deadline=None)
@given(conv_cases(dtypes=("float64",), budget=SizeBudget.from_elements(256), gradients=("", *GRADIENTS)))
def test_user_form_calls_compute_every_kind_of_case(case: ConvCase) -> None:
    """The calls explain shows and the issue script runs (each framework's user form, every op, gradient, layout
    and padding mode) compute the case: within the judge's bound of the float64 reference on correct frameworks.
    float64 and no negative-low padding keep the known framework bugs (docs/findings.md) out of the draws."""
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    cfg = case.config
    assume(not any(lo < 0 < hi for lo, hi in (*cfg.pad_pairs(), *(transposed_padding(cfg) if cfg.transposed else ()))))
    compared = user_form_comparisons(case, ("torch", "jax"))
    assert compared and all(c.within for c in compared.values()), (cfg, compared)


def test_the_user_form_keeps_the_closure_only_where_torch_compile_needs_it() -> None:
    """Under torch.compile(dynamic=True) ints captured by a closure are traced as symbols and literals are not
    (finding 2 needs the symbols), so the compiled call keeps convfuzz's closure; plain calls are written plainly."""
    transposed = find_record(FINDINGS, "conv_transpose1d-float16-precision-torch-3d0396f6")
    forward = find_record(FINDINGS, "conv2d-complex64-error-mismatch-torch-compile-b2734576")
    for record in (transposed, forward):
        compiled, plain = user_runner("torch-compile", record.case.config), user_runner("torch", record.case.config)
        assert compiled is not None and plain is not None
        assert "make_conv(" in compiled and "torch.compile(" in compiled
        assert "make_conv(" not in plain and "torch.compile(" not in plain
