"""Parallel campaigns: the same seeded runs as one worker, exact merged counts, one record per signature."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from convfuzz.fuzz.campaign import parallel
from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.parallel import WorkerPlan, run_parallel
from convfuzz.fuzz.campaign.record import load_campaign_records
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.store.folder import FindingStore
from convfuzz.oracles.isolation import close_oracles
from convfuzz.oracles.registry import default_oracles
from convfuzz.oracles.selection import available_oracles
from tests.helpers import process_parents

ORACLES = ("reference", "tests.planted:DroppedBias", "tests.planted:ShiftedWindow")
SETTINGS = CampaignSettings(seed=5, max_examples=240, ops=("conv1d", "conv2d"), dtypes=("float32", "float64"))


@pytest.mark.campaign
def test_two_workers_find_what_one_finds(tmp_path: Path) -> None:
    oracles, _ = available_oracles(ORACLES)
    single_store = FindingStore(tmp_path / "one")
    try:
        single = Campaign(oracles, SETTINGS, record=single_store.add).run()
    finally:
        close_oracles(oracles)
    plan = WorkerPlan(SETTINGS, ORACLES, isolate=False, case_timeout=60.0, findings=tmp_path / "two",
                      known_signatures=())
    merged = run_parallel(plan, workers=2)
    signatures = sorted(r.signature for r in FindingStore(tmp_path / "two").load()[0])
    assert signatures == sorted(f.signature for f in single.findings)
    assert sorted(f.signature for f in merged.findings) == signatures  # each counted once, by its writer
    assert merged.hypothesis_runs >= single.hypothesis_runs - 2  # same positions; attempts may differ
    assert merged.checks == sum(merged.by_op_dtype.values()) and merged.examples >= 240
    # One verdict per check, merged exactly; the planted bugs' discrepancies among them, as in the single run.
    assert sum(merged.verdicts.values()) == merged.checks and sum(single.verdicts.values()) == single.checks
    assert set(merged.verdicts) == set(single.verdicts) and merged.verdicts["pass"] > 0
    assert merged.workers_lost == 0


def test_default_worker_count_is_the_cores_that_memory_can_feed(monkeypatch: pytest.MonkeyPatch) -> None:
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr(parallel, "_available_memory", lambda: None)
    assert parallel.default_worker_count() == cores
    monkeypatch.setattr(parallel, "_available_memory", lambda: 1000 * parallel.WORKER_MEMORY_BYTES)
    assert parallel.default_worker_count() == cores
    monkeypatch.setattr(parallel, "_available_memory", lambda: parallel.WORKER_MEMORY_BYTES // 2)
    assert parallel.default_worker_count() == 1  # always one, however little memory is free


# No framework: our reference against a planted bug, in-process (fast to start in every worker).
CHEAP_RUN = ["--oracles", "reference,tests.planted:DroppedBias", "--no-isolation", "--ops", "conv1d", "--dtypes",
             "float64"]


@pytest.mark.campaign
def test_run_defaults_to_the_default_worker_count(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "convfuzz", "run", "--findings", str(tmp_path), "--max-examples", "30", "--seed", "1",
         *CHEAP_RUN], capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # the planted bug is found
    workers = parallel.default_worker_count()
    assert f"{workers} worker(s)" in done.stderr
    (record,) = load_campaign_records(tmp_path)
    assert record["settings"]["workers"] == workers and record["counts"]["examples"] >= 30
    assert record["findings"] and len(FindingStore(tmp_path).load()[0]) == len(record["findings"])


def test_oracles_that_run_on_no_device_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from convfuzz.fuzz.cli import main

    assert main(["run", "--findings", str(tmp_path / "f"), "--oracles", "reference,handcheck", "--workers", "1"]) == 2
    assert "no device is served" in capsys.readouterr().err and not (tmp_path / "f").exists()


def wait_for_a_finding(folder: Path, ceiling: float = 120.0) -> bool:
    """Wait until a campaign has written its first finding into `folder` (or `ceiling` seconds have passed)."""
    deadline = time.monotonic() + ceiling
    while time.monotonic() < deadline:
        if any(not p.name.startswith(".") for p in folder.glob("*.json")):
            return True
        time.sleep(0.2)
    return False


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid`."""
    return [child for child, parent in process_parents().items() if parent == pid]


def _is_campaign_worker(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"spawn_main" in command and b"resource_tracker" not in command


@pytest.mark.campaign
def test_workers_of_a_killed_campaign_stop(tmp_path: Path) -> None:
    """SIGKILL to the CLI of a parallel campaign: its workers, now orphans, end within seconds instead of running
    out a ten-minute budget; what they found is complete."""
    run = subprocess.Popen(
        [sys.executable, "-m", "convfuzz", "run", "--findings", str(tmp_path), "--time-budget", "600", "--seed", "2",
         "--workers", "2", *CHEAP_RUN],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        workers = [pid for pid in _children(run.pid) if _is_campaign_worker(pid)]
    assert len(workers) == 2, "the workers did not start"
    assert wait_for_a_finding(tmp_path), "no finding within two minutes"  # they fuzz, and found the planted bug
    run.kill()
    run.wait()
    stop_by = time.monotonic() + 120  # generous: a loaded machine may be mid-compile when the parent dies
    while any(Path(f"/proc/{pid}").exists() and _is_campaign_worker(pid) for pid in workers):
        assert time.monotonic() < stop_by, "orphaned workers kept running"
        time.sleep(0.5)
    records, problems = FindingStore(tmp_path).load()
    assert records and not problems and all((tmp_path / f"{r.id}.py").exists() for r in records)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") and p.name != ".convfuzz.lock"]


@pytest.mark.campaign
def test_ctrl_c_ends_a_parallel_campaign_with_its_summary(tmp_path: Path) -> None:
    """SIGINT to the process group (a terminal's Ctrl-C) of a campaign on the default-style parallel path: every
    worker ends its campaign and reports, the CLI prints the merged summary and keeps the record."""
    run = subprocess.Popen(
        [sys.executable, "-m", "convfuzz", "run", "--findings", str(tmp_path), "--time-budget", "600", "--seed", "3",
         "--workers", "2", *CHEAP_RUN],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while len(workers) < 2 and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.5)
        workers = [p for p in _children(run.pid) if _is_campaign_worker(p)]
    if len(workers) < 2:
        os.killpg(run.pid, signal.SIGKILL)
        out, err = run.communicate()
        raise AssertionError(f"the workers did not start: {out}{err}")
    if not wait_for_a_finding(tmp_path):  # the workers are fuzzing: one found the planted bug
        os.killpg(run.pid, signal.SIGKILL)
        raise AssertionError("no finding within two minutes")
    os.killpg(run.pid, signal.SIGINT)
    out, err = run.communicate(timeout=120)
    assert run.returncode in (0, 1), out + err
    assert "interrupted" in out and "2 worker(s)" in err
    (record,) = load_campaign_records(tmp_path)
    assert record["interrupted"] and record["counts"]["examples"] > 0
    records, problems = FindingStore(tmp_path).load()
    assert not problems and len(records) == len(record["findings"])


@pytest.mark.campaign
def test_a_parallel_run_checks_its_settings_without_importing_a_framework(tmp_path: Path) -> None:
    """The campaign workers start first and report the oracles they built (the default set: torch, JAX, ONNX
    Runtime where installed, the reference); the command's own process validates with that report, so it never pays
    for importing a framework (start-up: the workers' imports overlap)."""
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    code = (
        "import sys\nfrom convfuzz.fuzz.cli import main\n"
        f"status = main(['run', '--findings', {str(tmp_path)!r}, '--workers', '2', '--max-examples', '6', "
        "'--ops', 'conv1d', '--dtypes', 'float32', '--seed', '1'])\n"
        "print('STATUS', status, 'torch' in sys.modules, 'jax' in sys.modules, 'onnxruntime' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert "STATUS 0 False False False" in done.stdout, done.stdout + done.stderr
    (record,) = load_campaign_records(tmp_path)
    assert record["oracles"] == list(default_oracles()) and record["counts"]["checks"] > 0
