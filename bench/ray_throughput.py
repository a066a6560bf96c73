"""Ray actors against local worker processes: the same campaign plan, the same number of workers, this machine.

    .venv/bin/python bench/ray_throughput.py [--seconds 240] [--rounds 2] [--workers 2] [--kill-at 90]

Each round runs the default profile (torch, JAX and the reference, isolated, every op and dtype) for --seconds,
on --workers local processes (fuzz.campaign.parallel) and on as many Ray actors of a local runtime
(fuzz.campaign.cluster), in turns (Ray first in every second round). It prints each run's checks and distinct
configurations, its steady checks/s (from half the run to its end, from the workers' progress reports) and the
Ray/local ratio per round. With --kill-at, one more Ray run SIGKILLs one actor's process that many seconds in and
prints what that cost: how soon its replacement judged a check, and the checks the lost actor had made (its
statistics die with it; its findings do not).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from convfuzz.fuzz.campaign.cluster import LOCAL_RUNTIME, RayPool, connect, placement
from convfuzz.fuzz.campaign.parallel import OracleChoice, Progress, WorkerPlan, WorkerPool
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.campaign.statistics import CampaignStats
from convfuzz.fuzz.store.folder import FindingStore

ORACLES = ("torch", "jax", "reference")
FINDINGS = Path(__file__).resolve().parent.parent / "findings"
Runner = Callable[[WorkerPlan, Callable[[Sequence[Progress], float], None]], CampaignStats]


@dataclass
class Samples:
    """Every progress report of a run: (seconds since `started`, worker, its checks so far). The pools' own elapsed
    times start at different moments (a Ray pool's after the runtime started), so reports are timed here."""

    started: float = field(default_factory=time.perf_counter)
    reports: list[tuple[float, int, int]] = field(default_factory=list)

    def __call__(self, workers: Sequence[Progress], elapsed: float) -> None:
        now = time.perf_counter() - self.started
        self.reports.extend((now, w.worker, w.checks) for w in workers)

    def steady_rate(self, start: float) -> float:
        """Checks/s summed over workers from `start` seconds to the last report (each worker's own counts)."""
        first: dict[int, tuple[float, int]] = {}
        last: dict[int, tuple[float, int]] = {}
        for elapsed, worker, checks in self.reports:
            if elapsed >= start:
                first.setdefault(worker, (elapsed, checks))
                last[worker] = (elapsed, checks)
        span = max((t for t, _ in last.values()), default=0.0) - min((t for t, _ in first.values()), default=0.0)
        return sum(last[w][1] - first[w][1] for w in last) / max(span, 1e-9)


def plan_for(seconds: float, seed: int, folder: Path) -> WorkerPlan:
    """The benchmark's campaign: default profile, no example database, the committed findings known."""
    settings_ = CampaignSettings(seed=seed, max_examples=None, time_budget=seconds, database="none",
                                 budget_started=time.time())
    known = tuple(r.signature for r in FindingStore(FINDINGS).load()[0])
    return WorkerPlan(settings_, ORACLES, isolate=True, case_timeout=60.0, findings=folder, known_signatures=known)


def local_runner(workers: int) -> Runner:
    """Run a plan on `workers` local processes."""
    def run(plan: WorkerPlan, sample: Callable[[Sequence[Progress], float], None]) -> CampaignStats:
        return WorkerPool(OracleChoice(ORACLES, True, 60.0), workers).run(plan, sample)
    return run


def ray_runner(workers: int) -> Runner:
    """Run a plan on `workers` actors of a fresh local Ray runtime."""
    def run(plan: WorkerPlan, sample: Callable[[Sequence[Progress], float], None]) -> CampaignStats:
        ray = connect(LOCAL_RUNTIME, workers)
        where = placement(ray.cluster_resources(), workers, ("cpu",))
        return RayPool(OracleChoice(ORACLES, True, 60.0), ray, where).run(plan, sample)
    return run


def measure(name: str, runner: Runner, seconds: float, seed: int) -> float:
    """One run; prints and returns its steady checks/s."""
    samples = Samples()
    with tempfile.TemporaryDirectory(prefix="convfuzz-bench-") as folder:
        started = time.perf_counter()
        stats = runner(plan_for(seconds, seed, Path(folder)), samples)
        wall = time.perf_counter() - started
    rate = samples.steady_rate(seconds / 2)
    print(f"{name:<22} wall {wall:6.1f} s  {stats.checks:6d} checks  {len(stats.configs):6d} configs  "
          f"steady {rate:6.1f} checks/s", flush=True)
    return rate


def _actor_processes() -> list[int]:
    """This process's Ray campaign actors (their process titles), from /proc."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmdline.read_bytes().startswith(b"ray::CampaignHost"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def lost_actor_cost(seconds: float, seed: int, workers: int, kill_at: float) -> None:
    """A Ray run with one actor SIGKILLed at `kill_at` s: when its replacement first reported, and the checks lost."""
    samples = Samples()
    killed: list[float] = []

    def kill() -> None:
        actors = _actor_processes()
        if actors:
            os.kill(actors[0], signal.SIGKILL)
            killed.append(time.perf_counter())

    with tempfile.TemporaryDirectory(prefix="convfuzz-bench-") as folder:
        started = samples.started
        timer = threading.Timer(kill_at, kill)
        timer.start()
        stats = ray_runner(workers)(plan_for(seconds, seed, Path(folder)), samples)
        timer.cancel()
    if not killed:
        print("lost actor: no actor process was found to kill")
        return
    at = killed[0] - started
    before = {w: c for t, w, c in samples.reports if t < at}
    # The replaced worker's counts start again from zero: its first report of checks below what it had reached.
    after = [(t, w, c) for t, w, c in samples.reports if t > at and 0 < c < before.get(w, 0)]
    if not after:
        print(f"lost actor: killed at {at:.1f} s; no replacement reported checks")
        return
    back, worker = after[0][0] - at, after[0][1]
    replacement = max(c for t, w, c in samples.reports if t > at and w == worker and c < before[worker])
    others = sum(before[w] for w in before if w != worker)
    print(f"lost actor: killed at {at:.1f} s; its replacement judged its first check {back:.1f} s later; "
          f"{before[worker]} checks of the lost actor not counted; the replacement made {replacement} checks "
          f"(the other worker(s) {stats.checks - replacement - others} after {at:.0f} s); run total {stats.checks} "
          f"checks; {stats.actors_replaced} replaced")


def main() -> None:
    """Alternate local and Ray runs and print the ratio of their steady checks/s."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kill-at", type=float, help="also run once with an actor killed this many seconds in")
    args = parser.parse_args()
    ratios = []
    for round_ in range(args.rounds):
        seed = args.seed + round_
        runs = [("local", local_runner(args.workers)), ("ray", ray_runner(args.workers))]
        rates = {}
        # Odd rounds run Ray first: this machine's speed drifts over minutes, and the second run of a pair would
        # otherwise always be the one to meet the drift.
        for kind, runner in runs if round_ % 2 == 0 else runs[::-1]:
            rates[kind] = measure(f"{kind} x{args.workers} (seed {seed})", runner, args.seconds, seed)
        ratios.append(rates["ray"] / rates["local"])
        print(f"round {round_ + 1}: ray/local steady checks/s = {ratios[-1]:.2f}", flush=True)
    print(f"ray/local steady checks/s over {args.rounds} round(s): " + ", ".join(f"{r:.2f}" for r in ratios)
          + f"; median {statistics.median(ratios):.2f}")
    if args.kill_at is not None:
        lost_actor_cost(args.seconds, args.seed, args.workers, args.kill_at)


if __name__ == "__main__":
    main()
