"""The command line: exit statuses, clear errors that name the bad value, nothing written on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from convfuzz.fuzz.campaign.record import load_campaign_records
from convfuzz.fuzz.cli import build_parser, main
from convfuzz.fuzz.store.folder import FindingStore
from tests.helpers import make_record


@pytest.mark.parametrize(("argv", "named"), [
    (["--max-examples", "0"], "0 must be at least 1"),
    (["--max-examples", "many"], "'many'"),
    (["--time-budget", "-5"], "-5"),
    (["--seed", "x1"], "'x1'"),
    (["--ops", "conv2d,conv9d"], "'conv9d'"),
    (["--dtypes", "float8"], "'float8'"),
    (["--devices", "tpu"], "'tpu'"),
    (["--oracles", "torch,mxnet"], "'mxnet'"),
    (["--oracles", "torch"], "at least two oracles"),
    (["--workers", "0"], "0 must be at least 1"),
    (["--accept", "nan-through-zero,bogus"], "'bogus'"),
    (["--fail-on", "sometimes"], "'sometimes'"),
    (["--sizes", "small,huge"], "'huge'"),
])
def test_bad_values_exit_2_naming_the_value(argv: list[str], named: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "findings"
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(["run", "--findings", str(folder), *argv]))
    assert exit_info.value.code == 2
    assert named in capsys.readouterr().err
    assert not folder.exists()


@pytest.mark.parametrize(
    "argv", [["run"], ["replay"], ["scripts"], ["explain", "abc"], ["triage", "abc"], ["report"]],
    ids=lambda argv: argv[0],
)
def test_every_subcommand_takes_the_findings_folder(argv: list[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(argv).findings == Path("findings")
    assert parser.parse_args([*argv, "--findings", "elsewhere"]).findings == Path("elsewhere")


@pytest.mark.parametrize(("variable", "value"), [("CONVFUZZ_BUDGET", "huge"), ("CONVFUZZ_SIZES", "small,giant")])
def test_bad_environment_exits_2(variable: str, value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["run", "--findings", str(tmp_path / "f"), "--oracles", "reference,torch"]) == 2
    assert f"{variable}={value!r}" in capsys.readouterr().err
    assert not (tmp_path / "f").exists()


def test_unwritable_findings_folder_fails_before_fuzzing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["run", "--findings", str(blocker / "sub"), "--oracles", "reference,torch"]) == 2
    assert "not writable" in capsys.readouterr().err


@pytest.mark.campaign
def test_clean_run_exits_0_with_summary(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "convfuzz", "run", "--findings", str(tmp_path), "--max-examples", "24", "--seed", "3",
         "--oracles", "reference,torch,jax", "--ops", "conv1d", "--dtypes", "float32,float64", "--workers", "1"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "seed 3" in result.stdout and "conv1d float32" in result.stdout and "new findings: none" in result.stdout
    assert "time split: reference" in result.stdout
    assert "implementations reached by torch: " in result.stdout and "never reached by torch" in result.stdout
    jax_line = next(line for line in result.stdout.splitlines() if "implementations reached by jax: " in line)
    assert "backends (XLA:cpu " in jax_line and "XLA lowerings (" in jax_line
    # No finding; the campaign's own record is kept next to the findings.
    assert {p.name for p in tmp_path.iterdir()} <= {".convfuzz.lock", "campaigns", "hypothesis"}
    (record,) = load_campaign_records(tmp_path)
    assert record["seed"] == 3 and record["counts"]["examples"] == 24 and record["findings"] == []
    assert record["oracles"] == ["reference", "torch", "jax"] and record["settings"]["ops"] == ["conv1d"]
    assert record["counts"]["by_op_dtype"]["conv1d float32"] > 0 and record["environment"]["torch"]


def test_replay_reports_each_finding_and_unreadable_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = FindingStore(tmp_path)
    record = make_record()  # blames the planted 'bias' oracle, which exists only inside the tests
    store.write(record)
    (tmp_path / "hand-edited.json").write_text(json.dumps({"schema_version": 1}))
    status = main(["replay", str(tmp_path)])
    out = capsys.readouterr().out
    assert f"{record.id}: skipped (open)" in out and "not a built-in oracle" in out
    assert "hand-edited.json: unreadable finding" in out
    assert status == 1


def test_replay_of_missing_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err
