"""Repro scripts: standalone (only numpy/torch/jax), decide like the engine, exit 1 while reproducing."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from fuzz.judge import judge
from fuzz.records import FindingRecord
from fuzz.repro import render_repro
from oracles.base import Oracle, Outcome
from oracles.reference_oracle import ReferenceOracle
from tests.planted import DroppedBias
from tests.test_judge import make_case

ALLOWED_IMPORTS = {"__future__", "numpy", "torch", "jax", "sys", "string", "collections", "dataclasses", "itertools"}


def torch_finding(torch_oracle: Oracle) -> FindingRecord:
    """A finding that blames torch: found with a planted oracle standing in as 'torch'."""
    case = make_case(family="small_int")
    outcomes = {"reference": Outcome.of(ReferenceOracle(), case), "torch": Outcome.of(DroppedBias(), case),
                "jax": Outcome.of(ReferenceOracle(), case)}
    verdict = judge(case, outcomes)
    assert verdict.suspects == ("torch",)
    return FindingRecord.from_decision(case, verdict, {"torch": "x", "platform": "test"})


def run_script(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "repro.py"
    script.write_text(text)
    # -I: isolated mode, the project folder is not on sys.path; cwd elsewhere too.
    return subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True, cwd=tmp_path,
                          timeout=300, check=False)


def test_repro_imports_only_numpy_and_frameworks(torch_oracle: Oracle) -> None:
    tree = ast.parse(render_repro(torch_finding(torch_oracle)))
    imports = [node for node in ast.walk(tree) if isinstance(node, ast.Import)]
    roots = {alias.name.split(".")[0] for node in imports for alias in node.names}
    roots |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert roots <= ALLOWED_IMPORTS, roots - ALLOWED_IMPORTS


def test_repro_exits_0_when_gone_and_1_while_it_reproduces(torch_oracle: Oracle, tmp_path: Path) -> None:
    text = render_repro(torch_finding(torch_oracle))
    gone = run_script(text, tmp_path)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert "GONE" in gone.stdout and "[torch vs reference]" in gone.stdout
    # Make the script's own torch call wrong, as a broken torch release would be.
    broken_call = "return out.detach().cpu().to(torch.float64).numpy()"
    assert broken_call in text
    broken = run_script(text.replace(broken_call, broken_call + " + 0.5"), tmp_path)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "REPRODUCES: mismatch, suspect(s) torch" in broken.stdout
    assert "but should be" in broken.stdout
