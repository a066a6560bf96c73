"""Parallel campaigns: N worker processes (started with spawn) share one campaign's schedule and findings folder.

Worker k runs the schedule positions p with p % N == k; each Hypothesis run is seeded by its position, so it is
the same run a single-worker campaign would make there. Every worker writes through the locked findings store,
which records each signature once, and sends its statistics back for an exact merged summary. A terminal's
Ctrl-C reaches every worker; each ends its campaign cleanly and still reports. A worker whose parent dies (the
CLI killed with SIGKILL) ends its campaign the same way within a second.
"""

from __future__ import annotations

import _thread
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fuzz.campaign.engine import Campaign
from fuzz.campaign.settings import CampaignSettings
from fuzz.campaign.statistics import CampaignStats
from fuzz.store.folder import FindingStore
from oracles.isolation import close_oracles
from oracles.selection import available_oracles


@dataclass(frozen=True)
class WorkerPlan:
    """Everything a worker process needs to run its share of a campaign."""

    settings: CampaignSettings
    oracle_names: tuple[str, ...]
    isolate: bool
    case_timeout: float
    findings: Path
    known_signatures: tuple[str, ...]


@dataclass(frozen=True)
class Progress:
    """A worker's running counts, sent about once a second."""

    worker: int
    examples: int
    checks: int
    findings: int


# One campaign keeps about 1.3 cores busy through torch's and XLA's thread pools (though it runs as fast
# single-threaded: the cases are small), so N multi-threaded workers on N cores only fight each other (measured:
# 0.90x with 2 workers on 2 cores). Each worker, and the oracle processes it spawns, therefore runs
# single-threaded. This fuzzes the single-threaded kernels; a one-worker campaign keeps the frameworks' default
# threading.
SINGLE_THREADED = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}


def _single_threaded() -> None:
    """Pin this process and the ones it starts to one thread, before any framework is imported."""
    for name, value in SINGLE_THREADED.items():
        current = os.environ.get(name, "")
        os.environ[name] = f"{current} {value}".strip() if name == "XLA_FLAGS" else value


PARENT_CHECK_SECONDS = 0.5


def _stop_when_orphaned(parent: int) -> threading.Event:
    """Watch for the campaign's parent process to die (SIGKILL, a crash): the worker is then re-parented, and the
    watcher interrupts the campaign as a Ctrl-C would, so it ends cleanly (what it found is already written)
    instead of running out its whole budget with nobody to report to. Returns the event set when that happened."""
    orphaned = threading.Event()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        orphaned.set()
        _thread.interrupt_main()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    return orphaned


def _worker_main(plan: WorkerPlan, results: Any, parent: int) -> None:
    """One worker: build its own oracles, run its share, send progress and then its final statistics."""
    orphaned = _stop_when_orphaned(parent)
    _single_threaded()
    index = plan.settings.worker_index
    oracles, _ = available_oracles(plan.oracle_names, isolate=plan.isolate, case_timeout=plan.case_timeout)
    store = FindingStore(plan.findings)

    def progress(stats: CampaignStats) -> None:
        results.put(Progress(index, stats.examples, stats.checks, len(stats.findings)))

    try:
        campaign = Campaign(oracles, plan.settings, plan.known_signatures, record=store.add, progress=progress)
        stats = campaign.run()
    finally:
        close_oracles(oracles)
    if orphaned.is_set():
        # Nobody reads the queue any more; exiting must not wait for buffered messages to be flushed into it.
        results.cancel_join_thread()
        return
    results.put(stats)


def default_worker_count() -> int:
    """`--workers` when not given: every core this process may run on, but no more workers than the available
    memory holds at WORKER_MEMORY_BYTES each (a worker's torch and JAX oracle processes)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    available = _available_memory()
    if available is None:
        return max(1, cores)
    return max(1, min(cores, available // WORKER_MEMORY_BYTES))


# Measured (docs/performance.md): a worker's torch oracle process ~320 MiB, its JAX one ~640 MiB growing by up to
# ~380 MiB of compiled executables before it clears them, the campaign process ~60 MiB.
WORKER_MEMORY_BYTES = 3 * 2**29  # 1.5 GiB


def _available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes; None where the system does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def run_parallel(
    plan: WorkerPlan, workers: int, on_progress: Callable[[Sequence[Progress], float], None] | None = None
) -> CampaignStats:
    """Run the campaign on `workers` spawned processes and return the merged statistics."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    started = time.monotonic()
    processes = []
    for index in range(workers):
        settings = replace(plan.settings, worker_index=index, worker_count=workers)
        process = context.Process(target=_worker_main, args=(replace(plan, settings=settings), results, os.getpid()))
        process.start()
        processes.append(process)
    finished: list[CampaignStats] = []
    latest: dict[int, Progress] = {}
    interrupted = False
    while len(finished) < workers:
        try:
            message = results.get(timeout=1.0)
        except queue.Empty:
            if not any(p.is_alive() for p in processes) and results.empty():
                break  # a worker died without reporting; the merge below counts what did report
            continue
        except KeyboardInterrupt:
            interrupted = True  # the workers got the same SIGINT; wait for their reports
            continue
        if isinstance(message, Progress):
            latest[message.worker] = message
            if on_progress is not None:
                on_progress(list(latest.values()), time.monotonic() - started)
        else:
            finished.append(message)
    for process in processes:
        process.join(30)
    merged = CampaignStats.merged(finished, plan.settings.seed, started)
    merged.interrupted |= interrupted
    if len(finished) < workers:
        merged.verdicts["workers lost"] += workers - len(finished)
    return merged
