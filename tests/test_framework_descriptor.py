"""A framework is one descriptor (oracles.framework): a toy framework in one file (tests/toy_framework.py), registered
by the environment alone, goes through a campaign, its finding's script, replay, explain, the upstream draft and the
report like torch and JAX do; torch and JAX are descriptors of their own."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from convfuzz.fuzz.store.folder import FindingStore
from convfuzz.oracles.framework import FRAMEWORKS_ENV, framework_of_variant, frameworks
from convfuzz.oracles.names import direct_framework
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.oracles.registry import is_known, make_oracle, serves
from convfuzz.strategies.case import ConvCase, ConvConfig, Padding
from tests.toy_framework import TOY

ROOT = Path(__file__).resolve().parent.parent
REGISTERED = "tests.toy_framework:TOY"


def grouped_case(dtype: str = "float64", bias: bool = True) -> ConvCase:
    """Two groups of one channel each with a bias of ones: where the toy's planted bug shows."""
    cfg = ConvConfig(op="conv1d", batch=1, in_channels=2, out_channels=2, groups=2, spatial=(3,), kernel=(2,),
                     stride=(1,), dilation=(1,), padding=Padding("valid"), bias=bias, dtype=dtype)
    return ConvCase(cfg, np.arange(6.0).reshape(1, 2, 3), np.ones((2, 1, 2)), np.ones(2) if bias else None)


def convfuzz(*arguments: str, registered: str = REGISTERED) -> subprocess.CompletedProcess[str]:
    """The convfuzz command with the toy registered through the environment (and this checkout importable)."""
    environment = {**os.environ, FRAMEWORKS_ENV: registered, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "convfuzz", *arguments], capture_output=True, text=True,
                          env=environment, cwd=ROOT, timeout=600, check=False)


def test_torch_and_jax_are_descriptors_and_the_toy_is_registered_by_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert {"torch", "jax"} <= set(frameworks()) and "toyconv" not in frameworks()
    assert direct_framework("torch-compile@cpu") == "torch" and direct_framework("jax-eager") == "jax"
    assert direct_framework("torch-groupsplit") is None and not is_known("toyconv")
    monkeypatch.setenv(FRAMEWORKS_ENV, REGISTERED)
    assert frameworks()["toyconv"] is TOY and framework_of_variant("toyconv") is TOY
    assert is_known("toyconv") and direct_framework("toyconv") == "toyconv"
    # What the toy lacks (half types, gradients, transposed ops) it sits out: a refusal, never a finding.
    assert serves("toyconv", grouped_case().config)
    assert not serves("toyconv", grouped_case("float16").config)
    assert not serves("toyconv", replace(grouped_case().config, gradient="weight"))
    oracle = make_oracle("toyconv")
    case = grouped_case()
    np.testing.assert_array_equal(oracle.run(grouped_case(bias=False)),
                                  ReferenceOracle().run(grouped_case(bias=False)))
    assert not np.array_equal(oracle.run(case), ReferenceOracle().run(case))  # the planted bug


@pytest.mark.campaign
def test_a_one_file_framework_goes_through_campaign_script_replay_explain_upstream_and_report(tmp_path: Path) -> None:
    findings = tmp_path / "findings"
    run = convfuzz("run", "--findings", str(findings), "--oracles", "toyconv,reference", "--max-examples", "60",
                   "--seed", "1", "--ops", "conv1d", "--dtypes", "float64", "--sizes", "small", "--no-gradients")
    assert run.returncode == 1, run.stdout + run.stderr  # new findings
    records, problems = FindingStore(findings).load()
    assert records and not problems and all(r.suspects == ("toyconv",) for r in records)
    smallest = min(records, key=lambda r: r.case.element_count())
    cfg = smallest.case.config
    assert cfg.groups > 1 and cfg.bias and smallest.case.element_count() <= 16, cfg
    # The script: numpy and the toy's own call, nothing of convfuzz, run where this project cannot be imported.
    script = (findings / f"{smallest.id}.py").read_text()
    assert "import convfuzz" not in script and "from convfuzz" not in script
    assert "def run_toyconv(" in script and "toy_conv(" in script
    alone = subprocess.run([sys.executable, "-I", str(findings / f"{smallest.id}.py")], capture_output=True,
                           text=True, cwd=tmp_path, timeout=120, check=False)
    assert alone.returncode == 1 and "REPRODUCES" in alone.stdout, alone.stdout + alone.stderr
    replay = convfuzz("replay", "--findings", str(findings), smallest.id)
    assert f"{smallest.id}: reproduces" in replay.stdout, replay.stdout + replay.stderr
    explain = convfuzz("explain", "--findings", str(findings), smallest.id)
    assert explain.returncode == 0, explain.stderr
    assert "UPSTREAM ISSUE for ToyConv (https://toyconv.invalid/issues/new)" in explain.stdout
    assert "Title: toy_conv returns wrong values for float64 on cpu" in explain.stdout
    assert "-- toyconv --" in explain.stdout and "def run_toyconv(" in explain.stdout
    report = convfuzz("report", "--findings", str(findings))
    assert report.returncode == 0, report.stderr
    html = (findings / "report" / "index.html").read_text()
    assert smallest.id in html and "toyconv" in html


def test_a_registration_that_does_not_load_is_a_usage_error_and_writes_nothing(tmp_path: Path) -> None:
    findings = tmp_path / "findings"
    for registered, said in (("tests.no_such_module:TOY", "does not load"), ("tests.toy_framework", "module:attr"),
                             ("tests.toy_framework:TOY_SOURCE", "not a named convfuzz Framework")):
        run = convfuzz("run", "--findings", str(findings), "--max-examples", "5", registered=registered)
        assert run.returncode == 2 and registered in run.stderr and said in run.stderr, run.stderr
    assert not findings.exists()
