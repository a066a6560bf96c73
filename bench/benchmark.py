"""Throughput benchmark: examples/s of the full differential check versus a plain Hypothesis test.

    .venv/bin/python bench/benchmark.py [--examples 300] [--seed 1]

Prints, for conv2d float32 on a fixed seed: a plain Hypothesis test that checks the same three oracles with
fixed tolerances (st.integers for the parameters, hypothesis.extra.numpy arrays for the values,
np.testing.assert_allclose), and the convfuzz campaign (torch + jax + reference + judge, sound bound, shrinking
on) with its time split per oracle, judge and Hypothesis/engine overhead; the same campaign with torch and JAX
in isolated worker processes (what `convfuzz run` does by default); then the campaign over every op and dtype.
Each line gives examples/s (Hypothesis examples), checks/s (one configuration with one value set through every
oracle and the judge; a plain example is one check) and distinct configurations/s (distinct compiled shapes and
parameters: what XLA's ~50 ms compile is paid for). Last, a default campaign (every op and dtype, isolated
oracles) on 1 and on 2 worker processes for --workers-seconds of wall time each, start-up included, and the
speed-up. The conv2d float32 campaign is also measured with --gradients (each case the op or one of its three
gradients). First of all, `convfuzz run --time-budget --budget-seconds` as a user starts it on a fresh folder: its
wall time against the budget, and how long it took to judge its first check and to write its first finding.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, assume, given, seed, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fuzz.campaign.engine import Campaign
from fuzz.campaign.parallel import WorkerPlan, run_parallel
from fuzz.campaign.record import load_campaign_records
from fuzz.campaign.settings import CampaignSettings
from fuzz.store.folder import FindingStore
from oracles.isolation import close_oracles
from oracles.reference import conv_reference
from oracles.registry import make_oracle
from oracles.selection import available_oracles


def campaign(
    examples: int, run_seed: int, ops: tuple[str, ...], dtypes: tuple[str, ...], isolate: bool = False,
    gradients: bool = False,
) -> dict[str, float]:
    """Examples/s and time split of a convfuzz campaign (framework oracles in worker processes if `isolate`; each
    case drawn as the op or one of its gradients if `gradients`)."""
    oracles, _ = available_oracles(("torch", "jax", "reference"), isolate=isolate)
    try:
        settings_ = CampaignSettings(
            seed=run_seed, max_examples=examples, ops=ops, dtypes=dtypes, gradients=gradients
        )
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


def workers_throughput(seconds: float, workers: int, run_seed: int) -> dict[str, float]:
    """A time-budgeted default campaign as `convfuzz run --workers N` runs it (isolated oracles; one worker runs
    in this process with the frameworks' own threading, several are single-threaded worker processes)."""
    settings_ = CampaignSettings(seed=run_seed, max_examples=None, time_budget=seconds, database="none")
    names = ("torch", "jax", "reference")
    # As `convfuzz run` on this repository: the committed findings are known, so the campaign does not spend its
    # time shrinking real bugs found long ago (which of them a run meets, and when, differs between 1 and 2
    # workers and would swing the comparison).
    known = tuple(r.signature for r in FindingStore(FINDINGS).load()[0])
    start = time.perf_counter()
    if workers == 1:
        oracles, _ = available_oracles(names, isolate=True)
        try:
            stats = Campaign(oracles, settings_, known).run()
        finally:
            close_oracles(oracles)
    else:
        plan = WorkerPlan(settings_, names, isolate=True, case_timeout=60.0,
                          findings=Path(tempfile.mkdtemp(prefix="convfuzz-bench-")), known_signatures=known)
        stats = run_parallel(plan, workers)
    return {"examples": stats.examples, "seconds": time.perf_counter() - start, "checks": stats.checks,
            "configs": len(stats.configs), "findings": len(stats.findings)}


def plain_hypothesis(examples: int, run_seed: int) -> dict[str, float]:
    """Examples/s of a plain fixed-tolerance Hypothesis test over the same three oracles."""
    import jax
    import torch
    from jax import lax

    jax.config.update("jax_enable_x64", True)
    count = [0]
    configs: set[tuple[object, ...]] = set()

    @seed(run_seed)
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(
        st.integers(1, 3), st.integers(1, 8), st.integers(1, 8), st.integers(1, 5), st.integers(1, 5),
        st.integers(1, 3), st.integers(0, 2), st.integers(1, 2), st.integers(1, 16), st.integers(1, 16), st.data(),
    )
    def check(n: int, c_in: int, c_out: int, kh: int, kw: int, stride: int, pad: int, dil: int, h: int, w: int,
              data: st.DataObject) -> None:
        assume(h + 2 * pad >= dil * (kh - 1) + 1 and w + 2 * pad >= dil * (kw - 1) + 1)
        floats = st.floats(-1, 1, width=32)
        x = data.draw(hnp.arrays(np.float32, (n, c_in, h, w), elements=floats))
        wt = data.draw(hnp.arrays(np.float32, (c_out, c_in, kh, kw), elements=floats))
        count[0] += 1
        configs.add((x.shape, wt.shape, stride, pad, dil))
        got_torch = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(wt), stride=stride,
                                               padding=pad, dilation=dil).numpy()
        got_jax = np.asarray(lax.conv_general_dilated(x, wt, (stride, stride), [(pad, pad)] * 2,
                                                      rhs_dilation=(dil, dil), precision=lax.Precision.HIGHEST))
        ref = conv_reference(x.astype(np.float64), wt.astype(np.float64), None, (stride,) * 2, [(pad, pad)] * 2,
                             (dil,) * 2, 1)
        np.testing.assert_allclose(got_torch, ref, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got_jax, ref, rtol=1e-4, atol=1e-5)

    start = time.perf_counter()
    check()
    # One example is one check of one (configuration, values) pair.
    return {"examples": count[0], "seconds": time.perf_counter() - start, "checks": count[0], "configs": len(configs)}


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
            [sys.executable, "-m", "fuzz", "run", "--findings", folder, "--time-budget", str(seconds), "--seed",
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
    """Run the three measurements and print them side by side."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    # 120 s: every worker starts its own torch and JAX processes (about 5 s), which weighs too much in a minute.
    parser.add_argument("--workers-seconds", type=float, default=120.0,
                        help="time budget of the 1-worker and 2-worker campaigns (0 skips them)")
    parser.add_argument("--budget-seconds", type=float, default=60.0,
                        help="time budget of the `convfuzz run` whose wall time and first check are measured (0 skips)")
    args = parser.parse_args()
    if args.budget_seconds > 0:
        run = time_budget_run(args.budget_seconds, args.seed)
        print(f"convfuzz run --time-budget {args.budget_seconds:g}: wall {run['wall']:.1f} s "
              f"(budget + {run['wall'] - args.budget_seconds:.1f} s), first check judged after "
              f"{run['first check']:.1f} s, first finding written after {run['first finding']:.1f} s, "
              f"{run['findings']:.0f} finding(s), {run['not fully shrunk']:.0f} not fully shrunk")
    make_oracle("jax").run  # noqa: B018 - import and configure JAX before timing anything
    show("plain Hypothesis, fixed tolerances, conv2d f32", plain_hypothesis(args.examples, args.seed))
    show("convfuzz campaign, conv2d float32", campaign(args.examples, args.seed, ("conv2d",), ("float32",)))
    show("  same, oracles isolated in workers", campaign(args.examples, args.seed, ("conv2d",), ("float32",), True))
    show("  same, with gradients (--gradients)",
         campaign(args.examples, args.seed, ("conv2d",), ("float32",), gradients=True))
    show("convfuzz campaign, all ops and dtypes", campaign(args.examples, args.seed,
                                                         ("conv1d", "conv2d", "conv3d"),
                                                         ("float32", "float64", "float16", "bfloat16")))
    if args.workers_seconds > 0:
        one = workers_throughput(args.workers_seconds, 1, args.seed)
        two = workers_throughput(args.workers_seconds, 2, args.seed)
        show(f"campaign, 1 worker, {args.workers_seconds:g} s wall", one)
        show(f"campaign, 2 workers, {args.workers_seconds:g} s wall", two)
        print(f"speed-up with 2 workers: {two['checks'] / one['checks']:.2f}x checks, "
              f"{two['configs'] / one['configs']:.2f}x distinct configurations")


if __name__ == "__main__":
    main()
