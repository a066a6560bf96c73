"""A finding's script (findings/<id>.py): numpy plus one framework, written from the JSON by one generator, never
stale; exit 1 while the discrepancy reproduces, 0 once it is gone, 2 when this machine cannot tell."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, find, given, settings

from convfuzz.fuzz.cli import main
from convfuzz.fuzz.judge.verdict import judge
from convfuzz.fuzz.store.folder import FindingStore
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.fuzz.store.script import finding_script
from convfuzz.oracles.base import Oracle, Outcome
from convfuzz.oracles.framework import frameworks
from convfuzz.oracles.kernel_facts import collect_facts, compared_facts
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.oracles.registry import serves
from convfuzz.strategies.budget import SizeBudget
from convfuzz.strategies.case import ConvCase
from convfuzz.strategies.conv import conv_cases
from convfuzz.strategies.invalid import invalid_configs
from tests.helpers import make_case, run_claim_that_torch_is_wrong, run_script
from tests.planted import DroppedBias

FINDINGS = Path(__file__).resolve().parent.parent / "findings"
# Besides the standard library, a finding's script may import only numpy and what one framework's calls need
# (oracles.framework: torch; jax; onnxruntime and onnx).
# A script carries the call, the case as literals and its own reading of the kernel-selecting facts (the CPU reader
# is kernel_facts.cpu_identity itself, about 25 lines).
MAX_SCRIPT_LINES = 160


def torch_finding() -> FindingRecord:
    """A finding that blames torch: found with a planted oracle (it drops the bias) standing in as 'torch'."""
    case = make_case(family="small_int")
    outcomes = {"reference": Outcome.of(ReferenceOracle(), case), "torch": Outcome.of(DroppedBias(), case),
                "jax": Outcome.of(ReferenceOracle(), case)}
    verdict = judge(case, outcomes)
    assert verdict.suspects == ("torch",)
    return FindingRecord.from_decision(case, verdict, {"torch": "x", "platform": "test"})


def imported_roots(source: str) -> set[str]:
    """The top-level packages a script imports, anywhere in it."""
    tree = ast.parse(source)
    roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    return roots | {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}


def committed() -> list[FindingRecord]:
    records, problems = FindingStore(FINDINGS).load()
    assert not problems, problems
    return records


def test_every_committed_script_is_what_the_generator_writes_now() -> None:
    """Scripts never go stale: `convfuzz scripts findings` rewrites them from the JSON, and this fails until it
    has been run after a change to the generator or to a finding."""
    stale = FindingStore(FINDINGS).stale_scripts(committed())
    assert not stale, f"stale scripts (run: convfuzz scripts findings): {[p.name for p in stale]}"


def test_committed_scripts_are_short_and_need_only_numpy_and_one_framework() -> None:
    for record in committed():
        text = (FINDINGS / f"{record.id}.py").read_text()
        assert len(text.splitlines()) <= MAX_SCRIPT_LINES, record.id
        third_party = imported_roots(text) - set(sys.stdlib_module_names) - {"numpy"}
        one_framework = [set(f.needed_modules()) for f in frameworks().values()]
        assert any(third_party <= needed for needed in one_framework), (record.id, third_party)


def broken(text: str, change: str = "    out = out + 0.5\n") -> str:
    """A script whose own torch call is wrong, as a broken torch release would be: `change` right after the call
    (before the runner returns its result)."""
    end = next(line for line in text.splitlines(keepends=True) if line.startswith("    return out."))
    return text.replace(end, change + end)


def test_script_exits_0_when_gone_1_while_it_reproduces_and_2_on_other_hardware(
    torch_oracle: Oracle, tmp_path: Path
) -> None:
    finding = torch_finding()
    text = finding_script(finding)
    gone = run_script(text, tmp_path)  # the real torch adds the bias
    assert gone.returncode == 0 and "GONE" in gone.stdout, gone.stdout + gone.stderr
    wrong = run_script(broken(text), tmp_path)
    assert wrong.returncode == 1 and "REPRODUCES" in wrong.stdout, wrong.stdout + wrong.stderr
    # Found where torch's CPU dispatch level was one no machine has: gone here says nothing.
    there = {"torch": {"cpu_capability": "MADE-UP"}}
    elsewhere = finding_script(replace(finding, environment={**finding.environment, "kernel_facts": there}))
    unsure = run_script(elsewhere, tmp_path)
    assert unsure.returncode == 2, unsure.stdout + unsure.stderr
    assert "CANNOT TELL: it does not show here" in unsure.stdout
    assert "cpu_capability: found with 'MADE-UP'" in unsure.stdout
    anyway = tmp_path / "anyway.py"
    anyway.write_text(elsewhere)
    forced = subprocess.run([sys.executable, "-I", str(anyway), "--any-hardware"], capture_output=True, text=True,
                            timeout=300, check=False)
    assert forced.returncode == 0 and "GONE" in forced.stdout, forced.stdout + forced.stderr


def test_a_problem_that_shows_reproduces_whatever_the_hardware(torch_oracle: Oracle, tmp_path: Path) -> None:
    """The call comes first: a maintainer on another CPU who sees the problem is told it reproduces, also for a
    finding that recorded only the CPU's model name (found before facts were recorded)."""
    finding = torch_finding()
    for environment in ({"kernel_facts": {"torch": {"cpu_capability": "MADE-UP"}}},
                        {"devices": {"cpu": "A CPU no machine has"}}):
        text = finding_script(replace(finding, environment={**finding.environment, **environment}))
        shown = run_script(broken(text), tmp_path)
        assert shown.returncode == 1 and "REPRODUCES" in shown.stdout, shown.stdout + shown.stderr
        unsure = run_script(text, tmp_path)
        assert unsure.returncode == 2 and "CANNOT TELL: it does not show here" in unsure.stdout, unsure.stdout


def test_script_reads_this_machines_facts_as_convfuzz_does(torch_oracle: Oracle, tmp_path: Path) -> None:
    """Found with exactly this machine's facts (CPU vendor and flags, torch's oneDNN support): the script records
    every one of them and reads each as oracles.kernel_facts does, so it calls a correct result gone; with one CPU
    flag recorded the other way round, it cannot tell."""
    finding = torch_finding()
    facts = collect_facts(["torch"])
    here = replace(finding, environment={**finding.environment, "kernel_facts": facts})
    text = finding_script(here)
    recorded = ast.literal_eval(text.split("FOUND_WITH = ", 1)[1].splitlines()[0])
    expected = {label: value for label, value in compared_facts(facts, "torch", "cpu").items() if value is not None}
    assert recorded == expected and set(facts["cpu"]["isa"]) <= set(recorded), recorded
    done = run_script(text, tmp_path)
    assert done.returncode == 0 and "GONE" in done.stdout, done.stdout + done.stderr
    flag, present = next(iter(facts["cpu"]["isa"].items()), ("avx2", True))
    flipped = {**facts, "cpu": {**facts["cpu"], "isa": {**facts["cpu"]["isa"], flag: not present}}}
    other = run_script(finding_script(replace(finding, environment={"kernel_facts": flipped})), tmp_path)
    assert other.returncode == 2 and f"{flag}: found with {not present!r}, here {present!r}" in other.stdout, (
        other.stdout + other.stderr
    )


def test_committed_scripts_have_no_unused_imports_variables_or_arguments() -> None:
    """The generator writes only what a script uses: pyflakes' rules and the unused-argument rules of ruff."""
    scripts = sorted(str(path) for path in FINDINGS.glob("*.py"))
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--select", "F,ARG",
                           "--output-format", "concise", *scripts], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_script_cannot_tell_without_its_framework(torch_oracle: Oracle, tmp_path: Path) -> None:
    text = finding_script(torch_finding())
    absent = "import numpy as np\n\nsys.modules['torch'] = None  # import torch now fails, as if not installed\n"
    hidden = text.replace("import numpy as np\n", absent, 1)
    done = run_script(hidden, tmp_path)
    assert done.returncode == 2 and "CANNOT TELL: torch is not installed" in done.stdout, done.stdout + done.stderr


@settings(max_examples=4, deadline=None)
@given(conv_cases(budget=SizeBudget.from_elements(256)))
def test_script_of_any_case_runs_and_is_gone_on_correct_frameworks(case: ConvCase) -> None:
    """The whole script, not only its call, is right for every op, dtype and padding form: a made-up finding
    blaming torch runs cleanly against the real torch and reports the discrepancy gone."""
    assume(serves("torch", case.config))  # the claim blames torch: not on a lax-only batch-grouped case
    result = run_claim_that_torch_is_wrong(case, ("reference", "torch", "jax"))
    assert result.returncode == 0 and "GONE" in result.stdout, result.stdout + result.stderr


def test_crash_script_runs_the_call_in_a_child_and_exits_1(torch_oracle: Oracle, tmp_path: Path) -> None:
    """Only a call that returned is gone: a signal, an exception on a valid case (a MemoryError too) and an abort
    turned into an exit status all still show the problem."""
    finding = torch_finding()
    text = finding_script(FindingRecord(**{**finding.__dict__, "kind": "crash"}))
    gone = run_script(text, tmp_path)
    assert gone.returncode == 0 and "GONE: the call returned" in gone.stdout, gone.stdout + gone.stderr
    for change, said in (
        ("    import ctypes\n    ctypes.string_at(0)\n", "killed by SIGSEGV"),
        ("    raise MemoryError\n", "no crash now, but the call raised MemoryError"),
        ("    raise RuntimeError('not implemented')\n", "no crash now, but the call raised RuntimeError"),
        ("    import os\n    os._exit(134)\n", "exit status 134 before the call returned"),
    ):
        crashed = run_script(broken(text, change), tmp_path)
        assert crashed.returncode == 1 and said in crashed.stdout, (change, crashed.stdout + crashed.stderr)


def test_crash_script_of_an_invalid_configuration_is_gone_once_refused(torch_oracle: Oracle, tmp_path: Path) -> None:
    """An invalid configuration that crashed torch: a clean error is the right answer now, a MemoryError is not
    (it tried to allocate what no valid case of these shapes needs)."""
    cfg = find(invalid_configs(ops=("conv2d",), dtypes=("float32",), defects=("groups_not_dividing",)), bool)
    bias = np.ones(cfg.out_channels) if cfg.bias else None
    case = ConvCase(cfg, np.ones(cfg.input_shape()), np.ones(cfg.weight_shape()), bias)
    record = replace(torch_finding(), case=case, kind="crash")
    text = finding_script(record)
    refused = run_script(text, tmp_path)
    assert refused.returncode == 0 and "GONE: refused as it should" in refused.stdout, refused.stdout + refused.stderr
    allocating = run_script(text.replace("    import torch\n", "    raise MemoryError\n", 1), tmp_path)
    assert allocating.returncode == 1 and "raised MemoryError" in allocating.stdout, allocating.stdout


def test_a_cuda_finding_says_it_cannot_tell_without_a_gpu(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the script would check the finding")
    path = FINDINGS / "conv2d-float16-nonfinite-torch-torch-tf32-b6ccf0c6.py"
    done = run_script(path.read_text(), tmp_path)
    assert done.returncode == 2 and "CANNOT TELL: torch sees no GPU here" in done.stdout, done.stdout + done.stderr


def test_scripts_command_finds_and_rewrites_a_stale_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "findings"
    store = FindingStore(folder)
    record = torch_finding()
    store.write(record)
    script = folder / f"{record.id}.py"
    script.write_text("# an old script\n")
    assert main(["scripts", str(folder), "--check"]) == 1
    assert f"{script}: differs" in capsys.readouterr().out
    assert script.read_text() == "# an old script\n"  # --check writes nothing
    assert main(["scripts", str(folder)]) == 0
    assert script.read_text() == finding_script(record)
    assert main(["scripts", str(folder), "--check"]) == 0
    assert main(["scripts", str(tmp_path / "none")]) == 2


def test_replay_takes_finding_ids(torch_oracle: Oracle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`convfuzz replay ID` checks that finding alone: the made-up torch finding is gone on the real torch (exit 1:
    its status should change); an id that names nothing is a usage error."""
    folder = tmp_path / "findings"
    record = torch_finding()
    FindingStore(folder).write(replace(record, oracles=("reference", "torch")))
    assert main(["replay", "--findings", str(folder), record.id.rsplit("-", 1)[-1]]) == 1
    assert f"{record.id}: fixed (open)" in capsys.readouterr().out
    assert main(["replay", "--findings", str(folder), "no-such-id"]) == 2
    assert "no finding 'no-such-id'" in capsys.readouterr().err
