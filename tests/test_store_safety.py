"""Findings storage that loses nothing: concurrent campaigns on one folder, and campaigns killed at random."""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from convfuzz.fuzz.store.folder import FindingStore

PLANTED_RUN = ["--oracles", "reference,tests.planted:DroppedBias,tests.planted:ShiftedWindow", "--no-isolation",
               "--workers", "1"]


def campaign(folder: Path, seed: int, *limits: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "convfuzz", "run", "--findings", str(folder), "--seed", str(seed), *PLANTED_RUN,
         *limits],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_until_fuzzing(run: subprocess.Popen[str], ceiling: float = 120.0) -> None:
    """Wait for a campaign's first progress line ('[  0s] N examples ...' on stderr): it is checking cases now,
    however long its start-up took."""
    assert run.stderr is not None
    deadline = time.monotonic() + ceiling
    seen = b""
    while b"examples" not in seen:
        assert run.poll() is None and time.monotonic() < deadline, seen.decode(errors="replace")
        ready, _, _ = select.select([run.stderr], [], [], 1.0)
        if ready:
            seen += os.read(run.stderr.fileno(), 4096)


def assert_every_finding_complete(folder: Path) -> list[str]:
    """Every <id>.json parses as a finding and has its <id>.py; returns the signatures."""
    records, problems = FindingStore(folder).load()
    assert not problems, [str(p) for p in problems]
    for record in records:
        assert (folder / f"{record.id}.py").read_text().startswith("#!/usr/bin/env python3")
    return [r.signature for r in records]


@pytest.mark.campaign
def test_two_campaigns_writing_one_folder_never_duplicate(tmp_path: Path) -> None:
    runs = [campaign(tmp_path, seed, "--max-examples", "150", "--ops", "conv1d") for seed in (1, 2)]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [1, 1] or sorted(r.returncode for r in runs) == [0, 1], outputs
    signatures = assert_every_finding_complete(tmp_path)
    assert signatures and len(signatures) == len(set(signatures)), signatures
    reported = sum(int(line.split()[2]) for out in outputs for line in out.splitlines()
                   if line.startswith("new findings:") and "none" not in line)
    assert reported == len(signatures)  # each stored finding was counted as new by exactly one campaign


@pytest.mark.campaign
def test_sigkill_at_random_moments_never_leaves_a_partial_finding(tmp_path: Path) -> None:
    rng = random.Random(2026)
    for trial in range(20):
        run = campaign(tmp_path, trial, "--time-budget", "60")
        wait_until_fuzzing(run)
        time.sleep(rng.uniform(0.0, 2.5))  # a random moment of the fuzzing: mid-check, mid-shrink, mid-write
        run.send_signal(signal.SIGKILL)
        run.communicate(timeout=60)
        assert run.returncode == -signal.SIGKILL
        assert_every_finding_complete(tmp_path)
    signatures = assert_every_finding_complete(tmp_path)
    assert signatures, "the trials should have recorded some findings"
    assert len(signatures) == len(set(signatures))
    # What a killed writer can leave (a temp file, a repro without its JSON) is hidden from readers and
    # removed by the next campaign on the folder.
    FindingStore(tmp_path).recover()
    assert not list(tmp_path.glob(".*.tmp"))
    assert all(p.with_suffix(".json").exists() for p in tmp_path.glob("*.py"))
    for path in tmp_path.glob("*.json"):
        json.loads(path.read_text())
