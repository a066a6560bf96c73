"""convfuzz against a hand-written differential test, side by side in one run.

    .venv/bin/python bench/benchmark.py [--seeds 3] [--budget-seconds 60] [--throughput-seconds 600] [--details]

Prints, in order:
1. time to the first finding on planted forward bugs a conv2d float32 test can see: the hand-written test
   (bench/handwritten_test.py) until it fails, convfuzz until it has written its first finding of the plant
   (bench/first_finding.py; --suite there times every planted forward bug of the suite);
2. the wall time of `convfuzz run --time-budget --budget-seconds` as a user starts it on a fresh folder;
3. throughput: the hand-written test's distinct configurations/s against `convfuzz run`'s (default workers,
   isolated oracles) on the same profile, conv2d float32; then the steady rate (from minute 2 to the end of
   --throughput-seconds) of the default profile (every op and dtype) against the conv2d float32 profile's;
4. start-up: seconds from the command to the first check judged (from the run of point 2).
With --details, the in-process time split per oracle, judge and Hypothesis/engine of a 300-example campaign.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.parallel import Progress, WorkerPlan, default_worker_count, run_parallel
from convfuzz.fuzz.campaign.record import load_campaign_records
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.store.folder import FindingStore
from convfuzz.oracles.isolation import close_oracles
from convfuzz.oracles.registry import make_oracle
from convfuzz.oracles.selection import available_oracles

# Run as a script: the two scripts beside this one, and the repository root (tests.planted).
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from first_finding import race  # noqa: E402
from handwritten_test import framework_convs, handwritten_test  # noqa: E402

from tests.planted import PLANTED_NARROW_BUGS  # noqa: E402


def campaign(
    examples: int, run_seed: int, ops: tuple[str, ...], dtypes: tuple[str, ...], isolate: bool = False
) -> dict[str, float]:
    """Examples/s and time split of a convfuzz campaign (framework oracles in worker processes if `isolate`)."""
    oracles, _ = available_oracles(("torch", "jax", "reference"), isolate=isolate)
    try:
        settings_ = CampaignSettings(seed=run_seed, max_examples=examples, ops=ops, dtypes=dtypes)
        stats = Campaign(oracles, settings_).run()
    finally:
        close_oracles(oracles)
    return {
        "examples": stats.examples,
        "seconds": stats.elapsed,
        "checks": stats.checks,
        "configs": len(stats.configs),
        **{f"{k} s": v for k, v in stats.oracle_seconds.items()},
        "judge s": stats.judge_seconds,
        "hypothesis+engine s": stats.overhead_seconds(),
        "findings": len(stats.findings),
    }


FINDINGS = Path(__file__).resolve().parent.parent / "findings"
# The steady rate of a campaign is taken from this many seconds in (start-up and the first, short-quota pass over
# the schedule behind it) to its end.
STEADY_FROM_SECONDS = 120.0


def campaign_throughput(seconds: float, run_seed: int, ops: tuple[str, ...] | None = None,
                        dtypes: tuple[str, ...] | None = None) -> dict[str, float]:
    """A time-budgeted campaign as `convfuzz run` runs it by default (default worker count, isolated oracles), on
    the given ops and dtypes (None: all): its rates over the whole run and from STEADY_FROM_SECONDS on, from the
    workers' progress reports (distinct configurations summed over workers)."""
    chosen = {"ops": ops} if ops else {}
    chosen |= {"dtypes": dtypes} if dtypes else {}
    settings_ = CampaignSettings(seed=run_seed, max_examples=None, time_budget=seconds, database="none", **chosen)
    # As `convfuzz run` on this repository: the committed findings are known, so the campaign does not spend its
    # time shrinking real bugs found long ago.
    known = tuple(r.signature for r in FindingStore(FINDINGS).load()[0])
    samples: list[tuple[float, int, int]] = []

    def sample(workers: Sequence[Progress], elapsed: float) -> None:
        samples.append((elapsed, sum(w.checks for w in workers), sum(w.configs for w in workers)))

    with tempfile.TemporaryDirectory(prefix="convfuzz-bench-") as folder:
        plan = WorkerPlan(settings_, ("torch", "jax", "reference"), isolate=True, case_timeout=60.0,
                          findings=Path(folder), known_signatures=known)
        started = time.perf_counter()
        stats = run_parallel(plan, default_worker_count(), sample)
        wall = time.perf_counter() - started
    steady = [s for s in samples if s[0] >= min(STEADY_FROM_SECONDS, seconds / 2)]
    whole = ((0.0, 0, 0), (wall, stats.checks, len(stats.configs)))
    first, last = (steady[0], steady[-1]) if len(steady) > 1 else whole
    span = max(last[0] - first[0], 1e-9)
    return {"examples": stats.examples, "seconds": wall, "checks": stats.checks, "configs": len(stats.configs),
            "steady checks/s": (last[1] - first[1]) / span, "steady configs/s": (last[2] - first[2]) / span,
            "steady from": first[0], "steady to": last[0]}


def handwritten_throughput(examples: int, run_seed: int) -> dict[str, float]:
    """The hand-written test (bench/handwritten_test.py: torch and JAX against the reference) for `examples`
    examples in this process: its rate of examples, which are its checks, and of distinct configurations."""
    configs: set[object] = set()
    convs = framework_convs(None)
    handwritten_test(convs, examples, run_seed, configs)()  # the frameworks warm, as in a pytest session
    configs.clear()
    started = time.perf_counter()
    handwritten_test(convs, examples, run_seed + 1, configs)()
    seconds = time.perf_counter() - started
    return {"examples": examples, "seconds": seconds, "checks": examples, "configs": len(configs)}


def show(name: str, result: dict[str, float]) -> None:
    """One line per measurement: rates of examples, checks and distinct configurations, then the time split."""
    seconds = result["seconds"]
    rates = "  ".join(f"{result[k] / seconds:6.1f} {k}/s" for k in ("examples", "checks", "configs"))
    skip = ("examples", "seconds", "checks", "configs")
    split = ", ".join(f"{k} {v:.2f}" for k, v in result.items() if k not in skip)
    print(f"{name:<40} {result['examples']:>5.0f} examples {seconds:6.1f} s  {rates}  {split}")


def time_budget_run(seconds: float, run_seed: int) -> dict[str, float]:
    """`convfuzz run --time-budget SECONDS` as a user starts it (default workers, isolated oracles, a fresh
    findings folder): its wall time from process start to exit, and from its campaign record the seconds to the
    first check judged and to the first finding written."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "convfuzz", "run", "--findings", folder, "--time-budget", str(seconds), "--seed",
             str(run_seed)], capture_output=True, text=True, check=False,
        )
        wall = time.monotonic() - started
        (record,) = load_campaign_records(Path(folder))
        findings = FindingStore(Path(folder)).load()[0]
    counts = record["counts"]
    return {
        "wall": wall, "first check": counts.get("first_check_after") or float("nan"),
        "first finding": counts.get("first_finding_after") or float("nan"), "findings": len(findings),
        "not fully shrunk": sum(not f.shrink_complete for f in findings),
    }


def main() -> None:
    """Print points 1-4 of the side-by-side comparison (and the time split with --details)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=3, help="seeds per planted bug in the race to a first finding")
    parser.add_argument("--budget-seconds", type=float, default=60.0,
                        help="time budget of each campaign of points 1 and 2 (0 skips them)")
    parser.add_argument("--throughput-seconds", type=float, default=600.0,
                        help="wall time of each throughput campaign of point 3 (0 skips point 3)")
    parser.add_argument("--handwritten-examples", type=int, default=600,
                        help="examples of the hand-written test in point 3")
    parser.add_argument("--details", action="store_true",
                        help="also the in-process time split of 300-example campaigns")
    args = parser.parse_args()
    run: dict[str, float] = {}
    if args.budget_seconds > 0:
        print("1. time to the first finding, planted forward bugs (seconds from process start)")
        hand, ours = race(tuple(p.__name__ for p in PLANTED_NARROW_BUGS), args.seeds, args.budget_seconds)
        print(f"   median: hand-written test {hand:.1f} s, convfuzz {ours:.1f} s ({hand / ours:.1f}x sooner)")
        run = time_budget_run(args.budget_seconds, args.seed)
        print(f"2. convfuzz run --time-budget {args.budget_seconds:g}: wall {run['wall']:.1f} s "
              f"(budget + {run['wall'] - args.budget_seconds:.1f} s), {run['findings']:.0f} finding(s), "
              f"{run['not fully shrunk']:.0f} not fully shrunk")
    if args.throughput_seconds > 0:
        print("3. throughput (checks: one configuration with one value set through every oracle and the judge)")
        hand_rate = handwritten_throughput(args.handwritten_examples, args.seed)
        show("hand-written test, conv2d float32", hand_rate)
        conv2d = campaign_throughput(args.throughput_seconds, args.seed, ("conv2d",), ("float32",))
        show("convfuzz run, conv2d float32", conv2d)
        everything = campaign_throughput(args.throughput_seconds, args.seed)
        show("convfuzz run, default profile", everything)
        whole = (conv2d["configs"] / conv2d["seconds"]) / (hand_rate["configs"] / hand_rate["seconds"])
        steady = conv2d["steady configs/s"] / (hand_rate["configs"] / hand_rate["seconds"])
        print(f"   distinct configurations/s on conv2d float32, convfuzz over the warm hand-written test: "
              f"{steady:.2f}x steady ({whole:.2f}x over the whole run, start-up included)")
        print(f"   steady, from {everything['steady from']:.0f} s to {everything['steady to']:.0f} s: default profile "
              f"{everything['steady checks/s']:.1f} checks/s {everything['steady configs/s']:.1f} configs/s, that is "
              f"{everything['steady checks/s'] / max(conv2d['steady checks/s'], 1e-9):.2f}x the checks/s and "
              f"{everything['steady configs/s'] / max(conv2d['steady configs/s'], 1e-9):.2f}x the configs/s of the "
              f"conv2d float32 profile")
    if run:
        print(f"4. start-up: first check judged {run['first check']:.1f} s after the command started "
              f"(first finding written after {run['first finding']:.1f} s)")
    if args.details:
        make_oracle("jax").run  # noqa: B018 - import and configure JAX before timing anything
        show("campaign in-process, conv2d float32", campaign(300, args.seed, ("conv2d",), ("float32",)))
        show("  same, oracles isolated in workers", campaign(300, args.seed, ("conv2d",), ("float32",), True))
        show("campaign in-process, all ops and dtypes", campaign(300, args.seed, ("conv1d", "conv2d", "conv3d"),
                                                                ("float32", "float64", "float16", "bfloat16")))


if __name__ == "__main__":
    main()
