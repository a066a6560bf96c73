"""Time to the first finding: a convfuzz campaign against the hand-written test, on planted bugs.

    .venv/bin/python bench/first_finding.py [--seeds 3] [--budget 60] [--suite] [--size-bugs]

For each planted forward bug of tests/planted.py that a conv2d float32 test can see (PLANTED_NARROW_BUGS), and
each seed: the seconds from process start until bench/handwritten_test.py fails on it (after Hypothesis's
shrinking, as pytest reports it), and until `convfuzz run --oracles reference,torch,jax,tests.planted:NAME
--time-budget BUDGET` has written its first finding of the plant (confirmed, not yet fully shrunk) and until one
is fully shrunk (the campaign is then stopped with Ctrl-C). With --suite, also every planted forward bug of the
suite's own set, each in a campaign with the options its test uses: found within the budget or not, and when.
With --size-bugs, instead, each planted bug of large shapes (PLANTED_SIZE_BUGS: a kernel of 15 or more, more than
32 channels per group off a multiple of 16, a 1-D length of 1,000 or more) and the crash on a stride of 2^31-1 or
more, each in a default campaign of 120 s: when it was written, when shrunk, and the value of its threshold
parameter in the shrunk finding (the threshold is minimal).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.planted

from convfuzz.fuzz.store.folder import READ_ERRORS, read_finding  # noqa: E402
from convfuzz.fuzz.store.records import FindingRecord  # noqa: E402

POLL_SECONDS = 0.1
# The suite's planted forward bugs (tests/planted.py) with the campaign options their tests hunt them with:
# forward ops of every rank and transposed ops; gradients, layouts and the invalid stream have their own plants.
SUITE_FORWARD_BUGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ShiftedWindow", ()),
    ("SwappedGroups", ()),
    ("DroppedBias", ()),
    ("FlippedKernel", ()),
    ("StridedDilationShift", ()),
    ("BiasFirstGroupOnly", ()),
    ("DepthwiseMultiplierInterleaved", ()),
    ("OutputGroupsReversed", ()),
    ("ChannelsLastSwappedGroups", ()),
    ("StridedWeightReadDense", ()),
    ("CircularDimsSwapped", ()),
    ("OutputPaddingRowUnset", ()),
    ("TransposedKernelNotFlipped", ()),
    ("NegativePadWraps", ()),
    ("EmptyBatchRejected", ()),
    ("StaleResultCache", ()),
    ("NanFromNowhere", ()),
    ("HalfSumsInHalf", ()),
    ("NanBecomesZero", ("--nonfinite",)),
    ("GroupsComputedDense", ("--nonfinite",)),
    ("ConjugatedWeight", ("--dtypes", "complex64,complex128")),
    ("GaussImaginarySignFlip", ("--dtypes", "complex64,complex128")),
)


def plant_name(plant: str) -> str:
    """The oracle name a tests/planted.py class reports (what findings list as a suspect)."""
    return str(getattr(importlib.import_module("tests.planted"), plant).name)


def handwritten_first_failure(plant: str, run_seed: int, timeout: float) -> tuple[float | None, str]:
    """Seconds from start to the hand-written test's failure on `plant` (None: it passed or ran out of time), and
    which framework it blamed (the plant, or a false alarm on a real one)."""
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "handwritten_test.py"), "--plant", plant, "--seed", str(run_seed)],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired:
        return None, "timed out"
    seconds = time.monotonic() - started
    if done.returncode != 1:
        return None, f"exit {done.returncode}"
    # numpy's message: a "Not equal to tolerance" line, then the err_msg the test passes (the framework's name).
    lines = done.stdout.splitlines()
    blamed = next((lines[i + 1].strip() for i, line in enumerate(lines[:-1]) if "Not equal to tolerance" in line), "?")
    return seconds, blamed


def campaign_first_finding(
    plant: str, run_seed: int, budget: float, options: tuple[str, ...] = ()
) -> tuple[float | None, float | None]:
    """Seconds from start until `convfuzz run` has written a finding that blames `plant`, and until one of them
    is fully shrunk (None: not within the budget); the campaign is interrupted once it has the shrunk one."""
    found, shrunk, _ = campaign_first_shrunk(plant, run_seed, budget, options)
    return found, shrunk


def campaign_first_shrunk(
    plant: str, run_seed: int, budget: float, options: tuple[str, ...] = ()
) -> tuple[float | None, float | None, FindingRecord | None]:
    """campaign_first_finding's two times, and the first fully shrunk finding that blames `plant`."""
    suspect = plant_name(plant)
    with tempfile.TemporaryDirectory() as folder:
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "convfuzz", "run", "--findings", folder, "--time-budget", str(budget), "--seed",
             str(run_seed), "--oracles", f"reference,torch,jax,tests.planted:{plant}", *options],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        found: float | None = None
        shrunk: float | None = None
        record: FindingRecord | None = None
        running = True
        while shrunk is None and running:
            running = process.poll() is None  # a last look after the campaign ended
            time.sleep(POLL_SECONDS if running else 0.0)
            records = _findings_of(Path(folder), suspect)
            if records and found is None:
                found = time.monotonic() - started
            record = next((r for r in records if r.shrink_complete), None)
            if record is not None:
                shrunk = time.monotonic() - started
        # Ctrl-C as a terminal sends it: to the campaign's whole process group, workers included.
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return found, shrunk, record


def _findings_of(folder: Path, suspect: str) -> list[FindingRecord]:
    """Each finding in `folder` that names `suspect` among its suspects."""
    records = []
    for path in folder.glob("*.json"):
        try:
            record = read_finding(path)
        except READ_ERRORS:
            continue  # being replaced
        if suspect in record.suspects:
            records.append(record)
    return records


def race(plants: tuple[str, ...], seeds: int, budget: float) -> tuple[float, float]:
    """Print one line per (plant, seed) and return the medians (hand-written, convfuzz); a bug not found counts as
    the budget."""
    hand: list[float] = []
    ours: list[float] = []
    print(f"{'planted bug':<32} {'seed':>4}  {'hand-written test fails':<44} convfuzz: finding written, shrunk")
    for plant in plants:
        for run_seed in range(1, seeds + 1):
            written, blamed = handwritten_first_failure(plant, run_seed, timeout=max(budget, 120.0))
            found, shrunk = campaign_first_finding(plant, run_seed, budget)
            hand.append(budget if written is None else written)
            ours.append(budget if found is None else found)
            shown_hand = "not found" if written is None else f"{written:.1f} s (on {blamed})"
            print(f"{plant:<32} {run_seed:>4}  {shown_hand:<44} {_seconds(found)}, {_seconds(shrunk)}", flush=True)
    return statistics.median(hand), statistics.median(ours)


def _seconds(value: float | None) -> str:
    return "not found" if value is None else f"{value:.1f} s"


def suite(budget: float, run_seed: int) -> list[tuple[str, float | None]]:
    """Every planted forward bug of the suite in a campaign of `budget` seconds: when its first finding was
    written, or None."""
    results = []
    for plant, options in SUITE_FORWARD_BUGS:
        found, shrunk = campaign_first_finding(plant, run_seed, budget, options)
        results.append((plant, found))
        print(f"{plant:<32} {' '.join(options):<32} written {_seconds(found)}, shrunk {_seconds(shrunk)}", flush=True)
    return results


SIZE_BUG_BUDGET = 120.0


def size_bugs(seeds: int) -> None:
    """Each planted bug of large shapes in default campaigns of SIZE_BUG_BUDGET seconds, one per seed: when it was
    written and shrunk, and its threshold parameter in the shrunk finding against the threshold."""
    from tests.planted import HUGE_STRIDE, PLANTED_SIZE_BUGS, CrashesOnHugeStride, threshold_value

    print(f"{'planted bug of large shapes':<28} {'seed':>4}  written   shrunk    shrunk to (threshold)")
    hostile = (CrashesOnHugeStride, "invalid", "stride", HUGE_STRIDE)  # the invalid stream's hostile parameters
    for plant_type, _op, what, threshold in (*PLANTED_SIZE_BUGS, hostile):
        for run_seed in range(1, seeds + 1):
            found, shrunk, record = campaign_first_shrunk(plant_type.__name__, run_seed, SIZE_BUG_BUDGET)
            reached = "-" if record is None else f"{what} {threshold_value(record.case, what)} ({threshold})"
            print(f"{plant_type.__name__:<28} {run_seed:>4}  {_seconds(found):<9} {_seconds(shrunk):<9} {reached}",
                  flush=True)


def main() -> None:
    """Race both on the narrow plants; with --suite, time every forward plant of the suite."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, help="seeds per planted bug (1..N)")
    parser.add_argument("--budget", type=float, default=60.0, help="time budget of each campaign, seconds")
    parser.add_argument("--suite", action="store_true", help="also every planted forward bug of the suite")
    parser.add_argument("--size-bugs", action="store_true", help="only the planted bugs of large shapes")
    args = parser.parse_args()
    if args.size_bugs:
        size_bugs(args.seeds)
        return
    from tests.planted import PLANTED_NARROW_BUGS

    hand, ours = race(tuple(p.__name__ for p in PLANTED_NARROW_BUGS), args.seeds, args.budget)
    print(f"median time to the first failure: hand-written test {hand:.1f} s, convfuzz {ours:.1f} s")
    if args.suite:
        found = suite(args.budget, 1)
        missed = [plant for plant, seconds in found if seconds is None]
        print(f"suite's planted forward bugs found within {args.budget:g} s: {len(found) - len(missed)} of "
              f"{len(found)}{'; missed: ' + ', '.join(missed) if missed else ''}")


if __name__ == "__main__":
    main()
