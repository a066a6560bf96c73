"""Crash isolation: planted segfault, abort, hang and MemoryError each become their own shrunk finding, and the
campaign finishes its budget."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.record import load_campaign_records
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.store.folder import FindingStore
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.oracles.base import Oracle, Outcome
from convfuzz.oracles.isolation import WORKER_MEMORY_ENV, IsolatedOracle, close_oracles
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.strategies.case import ConvCase, ConvConfig, Padding
from tests.faults import FAULTS
from tests.helpers import make_case

# Short, so that shrinking a hang (every candidate that still hangs costs one timeout) stays affordable, yet a
# thousand times what a case of these sizes takes in a worker (about 1 ms), however loaded the machine (a worker's
# start-up and warm-up are timed apart).
TIMEOUT = 1.0
EXPECTED = {
    "segfault_on_groups": ("crash", "segfault_on_groups crashed: killed by SIGSEGV"),
    "abort_on_dilation": ("crash", "abort_on_dilation crashed: killed by SIGABRT"),
    "hang_on_stride": ("timeout", "hang_on_stride timed out: no answer within 1 s"),
    "memory_error_on_batch": ("crash", "memory_error_on_batch crashed: MemoryError"),
}


def test_worker_answers_like_the_oracle_and_recovers_after_a_crash() -> None:
    oracle = IsolatedOracle("tests.faults:SegfaultOnGroups", case_timeout=TIMEOUT)
    try:
        grouped = make_case()  # groups=2: triggers the segfault
        crashed = Outcome.of(oracle, grouped)
        assert crashed.failure == "crash" and crashed.error is not None
        assert crashed.error.startswith("killed by SIGSEGV; stderr: Fatal Python error: Segmentation fault")
        cfg = ConvConfig(op="conv1d", batch=1, in_channels=2, out_channels=3, groups=1, spatial=(5,), kernel=(2,),
                         stride=(1,), dilation=(1,), padding=Padding("valid"), bias=False, dtype="float64")
        plain = ConvCase(cfg, np.arange(10.0).reshape(1, 2, 5), np.ones((3, 2, 2)), None)
        answered = Outcome.of(oracle, plain)  # a fresh worker answers like the oracle itself
        assert oracle.restarts == 1
        np.testing.assert_array_equal(answered.value, ReferenceOracle().run(plain))
    finally:
        oracle.close()


def test_a_worker_killed_between_cases_is_replaced_and_the_next_case_answered() -> None:
    """A worker that dies after its answer (the kernel's out-of-memory killer, heap corruption caught at a later
    free) is not the next case's fault: a fresh worker answers it, and no error is blamed on it."""
    oracle = IsolatedOracle("reference", case_timeout=60.0)
    try:
        case = make_case("float64")
        assert Outcome.of(oracle, case).error is None
        process = oracle._process
        assert process is not None
        process.kill()
        process.join(10)
        answered = Outcome.of(oracle, case)
        assert answered.error is None and oracle.restarts == 1, answered
        np.testing.assert_array_equal(answered.value, ReferenceOracle().run(case))
    finally:
        oracle.close()


@pytest.mark.campaign
def test_every_planted_fault_is_its_own_shrunk_finding(tmp_path: Path) -> None:
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle()}
    for fault in FAULTS:
        isolated = IsolatedOracle(f"tests.faults:{fault.__name__}", case_timeout=TIMEOUT)
        oracles[isolated.name] = isolated
    store = FindingStore(tmp_path)
    handed: list[FindingRecord] = []

    def add(record: FindingRecord) -> bool:
        handed.append(record)
        return store.add(record)

    start = time.monotonic()
    try:
        stats = Campaign(oracles, CampaignSettings(seed=3, max_examples=40, ops=("conv1d",), dtypes=("float64",)),
                         record=add).run()
    finally:
        close_oracles(oracles)
    found = {f.suspects: (f.kind, f.message, f.case) for f in stats.findings}
    assert len(found) == len(stats.findings) == 4, sorted(found)
    assert stats.examples >= 40, "the campaign must finish its budget"
    for name, (kind, detail) in EXPECTED.items():
        assert (name,) in found, f"{name} not found: {sorted(found)}"
        got_kind, message, case = found[(name,)]
        assert got_kind == kind and detail in message, (name, got_kind, message)
        assert case.element_count() <= 64, (name, case.config)
    records, problems = store.load()
    assert not problems and len(records) == len(stats.findings)
    # A crash or hang is written the moment it is seen, unconfirmed (no re-run: each restarts a worker, and a hang
    # waits out the case timeout); its second sighting while Hypothesis shrinks confirms it, and the shrunk case is
    # written last.
    for finding in stats.findings:
        written = [r for r in handed if r.signature == finding.signature]
        assert not written[0].confirmed and written[-1].confirmed and written[-1].shrink_complete, written
    print(f"fault campaign: {time.monotonic() - start:.0f} s, {stats.examples} examples, {len(records)} findings")


@pytest.mark.campaign
def test_cli_exits_1_with_fault_findings(tmp_path: Path) -> None:
    faults = ",".join(f"tests.faults:{fault.__name__}" for fault in FAULTS[:2])
    result = subprocess.run(
        [sys.executable, "-m", "convfuzz", "run", "--findings", str(tmp_path), "--oracles", f"reference,{faults}",
         "--max-examples", "40", "--seed", "1", "--case-timeout", "2", "--ops", "conv1d", "--dtypes", "float32",
         "--workers", "1"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    names = sorted(p.stem.split("-crash-")[1].rsplit("-", 1)[0] for p in tmp_path.glob("*.json"))
    assert names == ["abort_on_dilation", "segfault_on_groups"]
    assert len(list(tmp_path.glob("*.py"))) == 2


def test_bad_import_path_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "convfuzz", "run", "--findings", str(tmp_path / "f"), "--oracles",
         "reference,no_such_module:Oracle"], capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 2 and "no_such_module:Oracle" in result.stderr
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize("value", ["torch;rm", "a:b:c"])
def test_malformed_oracle_names_are_refused(value: str, tmp_path: Path) -> None:
    from convfuzz.fuzz.cli import main

    assert main(["run", "--findings", str(tmp_path / "f"), "--oracles", f"reference,{value}"]) == 2


@pytest.mark.campaign
def test_ctrl_c_ends_the_run_cleanly_without_false_crashes(tmp_path: Path) -> None:
    """SIGINT to the whole process group (what a terminal's Ctrl-C does): summary printed, nothing recorded."""
    run = subprocess.Popen(
        [sys.executable, "-m", "convfuzz", "run", "--findings", str(tmp_path), "--oracles", "reference,torch",
         "--ops", "conv1d,conv2d", "--time-budget", "120", "--seed", "2", "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    deadline = time.monotonic() + 120
    assert run.stderr is not None
    while "examples" not in run.stderr.readline():  # the first progress line: workers are up, fuzzing runs
        assert time.monotonic() < deadline and run.poll() is None
    os.killpg(run.pid, signal.SIGINT)
    out, _ = run.communicate(timeout=120)
    assert run.returncode == 0, out
    assert "interrupted" in out and "new findings: none" in out
    assert {p.name for p in tmp_path.iterdir()} <= {".convfuzz.lock", "campaigns", "hypothesis"}
    assert [r["interrupted"] for r in load_campaign_records(tmp_path)] == [True]


def test_workers_survive_sigint() -> None:
    """Without this, a Ctrl-C could race the campaign's own shutdown and be recorded as a crash."""
    oracle = IsolatedOracle("reference")
    try:
        # The worker ignores SIGINT (the kernel drops an ignored signal when it is sent: nothing to wait for)...
        status = Path(f"/proc/{oracle._process.pid}/status").read_text()
        ignored = int(next(line for line in status.splitlines() if line.startswith("SigIgn:")).split()[1], 16)
        assert ignored & (1 << (signal.SIGINT - 1)), status
        # ...so one sent to it now leaves the same worker to answer the next case.
        os.kill(oracle._process.pid, signal.SIGINT)
        outcome = Outcome.of(oracle, make_case())
        assert outcome.failure is None and outcome.value is not None, outcome.error
        assert oracle.restarts == 0
    finally:
        oracle.close()


def test_an_interrupted_exchange_never_answers_the_next_case() -> None:
    """Ctrl-C while a worker computes: its late answer must not be taken for the next case's (the next call starts a
    fresh worker). Seen on a GPU host: after SIGINT, findings were confirmed with each oracle's previous answer."""
    oracle = IsolatedOracle("tests.faults:SlowReference")

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        first = make_case()
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(KeyboardInterrupt):
            oracle.run(first)
        cfg = ConvConfig(op="conv1d", batch=2, in_channels=1, out_channels=1, groups=1, spatial=(4,), kernel=(1,),
                         stride=(1,), dilation=(1,), padding=Padding("valid"), bias=False, dtype="float64")
        second = ConvCase(cfg, np.arange(8.0).reshape(2, 1, 4), np.ones((1, 1, 1)), None)
        np.testing.assert_array_equal(oracle.run(second), ReferenceOracle().run(second))
        assert oracle.restarts == 1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        oracle.close()


def test_a_slow_warm_up_is_not_a_timeout_and_a_hang_still_is() -> None:
    """A compile-heavy oracle's one-time warm-up is timed by the start-up limit, not the case timeout: a worker
    that needs 2 s to warm up answers its first case under a 1-s case timeout. A hanging case still times out,
    and so does the first case of the fresh worker started after it (its warm-up once more off the clock)."""
    oracle = IsolatedOracle("tests.faults:SlowToWarmUp", case_timeout=TIMEOUT)
    try:
        case = make_case()
        first = Outcome.of(oracle, case)
        assert first.failure is None, first.error
        np.testing.assert_array_equal(first.value, ReferenceOracle().run(case))
        cfg = ConvConfig(op="conv1d", batch=1, in_channels=1, out_channels=1, groups=1, spatial=(9,), kernel=(2,),
                         stride=(4,), dilation=(1,), padding=Padding("valid"), bias=False, dtype="float64")
        hanging = ConvCase(cfg, np.ones((1, 1, 9)), np.ones((1, 1, 2)), None)
        for _ in range(2):  # in the warm worker, then as the first case of a fresh one
            hung = Outcome.of(oracle, hanging)
            assert hung.failure == "timeout" and "no answer within 1 s" in (hung.error or ""), hung.error
        assert Outcome.of(oracle, case).failure is None
    finally:
        oracle.close()


def test_a_worker_beyond_its_memory_budget_fails_the_allocation(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a budget of 1 GiB a 2 GiB allocation fails inside the worker (a crash on an ordinary case, a refusal
    on a hostile parameter's) instead of being made; with the default budget it is made and the case answered."""
    plain = make_case()
    hostile = replace(plain, config=replace(plain.config, groups=1, stride=(2**31,), defect="hostile_stride"))
    monkeypatch.setenv(WORKER_MEMORY_ENV, "1")
    capped = IsolatedOracle("tests.faults:AllocatesTwoGiB", case_timeout=60)
    try:
        crashed = Outcome.of(capped, plain)
        assert crashed.failure == "crash" and crashed.error is not None and crashed.error.startswith("MemoryError")
        refused = Outcome.of(capped, hostile)
        assert refused.failure is None and refused.error is not None and refused.error.startswith("MemoryError")
    finally:
        capped.close()
    monkeypatch.delenv(WORKER_MEMORY_ENV)
    roomy = IsolatedOracle("tests.faults:AllocatesTwoGiB", case_timeout=60)
    try:
        np.testing.assert_array_equal(Outcome.of(roomy, plain).value, ReferenceOracle().run(plain))
    finally:
        roomy.close()
