"""Repro scripts: standalone (only numpy/torch/jax), decide like the engine, exit 1 while reproducing."""

from __future__ import annotations

import ast
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import assume, given, settings

from fuzz.judge import judge
from fuzz.records import FindingRecord
from fuzz.repro import render_repro
from oracles.base import Oracle, Outcome
from oracles.reference_oracle import ReferenceOracle
from oracles.registry import serves
from strategies.budget import SizeBudget
from strategies.case import ConvCase
from strategies.conv import conv_cases
from tests.helpers import make_case, run_claim_that_torch_is_wrong, run_script
from tests.planted import DroppedBias

# Besides the standard library, a repro script may import only these.
THIRD_PARTY_ALLOWED = {"numpy", "torch", "jax"}


def torch_finding(torch_oracle: Oracle) -> FindingRecord:
    """A finding that blames torch: found with a planted oracle standing in as 'torch'."""
    case = make_case(family="small_int")
    outcomes = {"reference": Outcome.of(ReferenceOracle(), case), "torch": Outcome.of(DroppedBias(), case),
                "jax": Outcome.of(ReferenceOracle(), case)}
    verdict = judge(case, outcomes)
    assert verdict.suspects == ("torch",)
    return FindingRecord.from_decision(case, verdict, {"torch": "x", "platform": "test"})


def test_repro_imports_only_numpy_and_frameworks(torch_oracle: Oracle) -> None:
    tree = ast.parse(render_repro(torch_finding(torch_oracle)))
    imports = [node for node in ast.walk(tree) if isinstance(node, ast.Import)]
    roots = {alias.name.split(".")[0] for node in imports for alias in node.names}
    roots |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    third_party = roots - set(sys.stdlib_module_names)
    assert third_party <= THIRD_PARTY_ALLOWED, third_party - THIRD_PARTY_ALLOWED


def test_repro_exits_0_when_gone_and_1_while_it_reproduces(torch_oracle: Oracle, tmp_path: Path) -> None:
    text = render_repro(torch_finding(torch_oracle))
    gone = run_script(text, tmp_path)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert "GONE" in gone.stdout and "[torch vs reference]" in gone.stdout
    # Found where torch's CPU dispatch level was one no machine has: gone here says nothing.
    there = {"torch": {"cpu_capability": "MADE-UP"}}
    finding = torch_finding(torch_oracle)
    elsewhere = replace(finding, environment={**finding.environment, "kernel_facts": there})
    unsure = run_script(render_repro(elsewhere), tmp_path)
    assert unsure.returncode == 2, unsure.stdout + unsure.stderr
    assert "CANNOT TELL" in unsure.stdout and "torch's CPU capability 'MADE-UP'" in unsure.stdout
    # Make the script's own torch call wrong, as a broken torch release would be.
    broken_call = "return to_host(torch, out)"
    assert broken_call in text
    broken = run_script(text.replace(broken_call, broken_call + " + 0.5"), tmp_path)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "REPRODUCES: mismatch, suspect(s) torch" in broken.stdout
    assert "but should be" in broken.stdout


@settings(max_examples=6)
@given(conv_cases(budget=SizeBudget.from_elements(256)))
def test_repro_of_any_case_runs_and_agrees_on_correct_frameworks(case: ConvCase) -> None:
    """The generated torch and JAX calls are right for every op, dtype and padding form: on correct frameworks
    a repro claiming torch is wrong runs cleanly and reports the discrepancy gone."""
    assume(serves("torch", case.config))  # the claim blames torch: not on a lax-only batch-grouped case
    names = ("reference", "torch", "jax")
    result = run_claim_that_torch_is_wrong(case, names)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("matches") == 3 and "GONE" in result.stdout


def test_crash_repro_runs_the_suspect_in_a_child_and_exits_1(torch_oracle: Oracle, tmp_path: Path) -> None:
    finding = torch_finding(torch_oracle)
    crash = FindingRecord(**{**finding.__dict__, "kind": "crash"})
    text = render_repro(crash)
    gone = run_script(text, tmp_path)
    assert gone.returncode == 0 and "torch: answered" in gone.stdout, gone.stdout + gone.stderr
    call = "        out = conv(x, w, "
    assert call in text
    segfault = "        import ctypes\n        ctypes.string_at(0)\n"
    crashed = run_script(text.replace(call, segfault + call), tmp_path)
    assert crashed.returncode == 1, crashed.stdout + crashed.stderr
    assert "torch: crash: killed by SIGSEGV" in crashed.stdout and "REPRODUCES: crash" in crashed.stdout


def test_a_cuda_finding_says_it_cannot_tell_without_a_gpu(tmp_path: Path) -> None:
    """A repro of a finding seen on a GPU, run where neither torch nor jax sees one: exit 2 and say so, rather
    than calling the bug gone."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the script would check the finding")
    findings = Path(__file__).resolve().parent.parent / "findings"
    path = findings / "conv2d-float16-nonfinite-torch-torch-tf32-b6ccf0c6.json"
    record = FindingRecord.from_json(json.loads(path.read_text()))
    done = run_script(render_repro(record), tmp_path)
    assert done.returncode == 2 and "SKIPPED" in done.stdout, done.stdout + done.stderr
