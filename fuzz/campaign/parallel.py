"""Parallel campaigns: N worker processes (started with spawn) share one campaign's schedule and findings folder.

Worker k runs the schedule positions p with p % N == k; each Hypothesis run is seeded by its position, so it is
the same run a single-worker campaign would make there. Every worker writes through the locked findings store,
which records each signature once, and sends its statistics back for an exact merged summary. A terminal's
Ctrl-C reaches every worker; each ends its campaign cleanly and still reports. A worker whose parent dies (the
CLI killed with SIGKILL) ends its campaign the same way within a second.
"""

from __future__ import annotations

import _thread
import contextlib
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from hypothesis.database import ExampleDatabase

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.campaign.statistics import CampaignStats
from convfuzz.fuzz.store.folder import FindingStore
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.oracles.base import FloatArray, Oracle
from convfuzz.oracles.environments import Environment
from convfuzz.oracles.isolation import cap_address_space, close_oracles, worker_memory_budget
from convfuzz.oracles.selection import available_oracles
from convfuzz.strategies.case import ConvCase


@dataclass(frozen=True)
class WorkerPlan:
    """Everything a worker process needs to run its share of a campaign."""

    settings: CampaignSettings
    oracle_names: tuple[str, ...]
    isolate: bool
    case_timeout: float
    findings: Path
    known_signatures: tuple[str, ...]
    # Stored findings seen only once, which the workers re-check first (each its share).
    unconfirmed: tuple[FindingRecord, ...] = ()


@dataclass(frozen=True)
class Progress:
    """A worker's running counts, sent about once a second."""

    worker: int
    examples: int
    checks: int
    findings: int
    configs: int  # distinct configurations this worker has checked

    @classmethod
    def of(cls, worker: int, stats: CampaignStats) -> Progress:
        """Worker `worker`'s counts in its running statistics."""
        return cls(worker, stats.examples, stats.checks, len(stats.findings), len(stats.configs))


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


def single_threaded() -> None:
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


@dataclass(frozen=True)
class WorkerReady:
    """What a worker's oracles turned out to be, sent once they are built: name -> devices of each usable one, and
    why each other one is not usable. The caller validates the campaign with it without importing a framework."""

    devices: dict[str, tuple[str, ...]]
    missing: dict[str, str]
    # Each isolated oracle's interpreter versions (the release an oracle of another environment is).
    versions: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, oracles: Mapping[str, Oracle], missing: dict[str, str]) -> WorkerReady:
        """The report of a worker that built `oracles` and could not build `missing`."""
        versions = {name: dict(getattr(o, "versions", None) or {}) for name, o in oracles.items()}
        return cls({name: tuple(o.devices()) for name, o in oracles.items()}, missing, versions)


@dataclass
class ReportedOracle:
    """An oracle as a worker reported it (its name and devices): enough to check a campaign's settings; it runs
    nothing."""

    name: str
    served: tuple[str, ...]
    versions: dict[str, str] = field(default_factory=dict)

    def devices(self) -> tuple[str, ...]:
        """The devices the worker's oracle runs on."""
        return self.served

    def run(self, case: ConvCase) -> FloatArray:
        """Never called: the worker runs the cases."""
        raise NotImplementedError(f"{self.name} runs in a campaign worker")


@dataclass(frozen=True)
class OracleChoice:
    """What a worker needs to build its oracles, known before the campaign's settings are checked."""

    oracle_names: tuple[str, ...]
    isolate: bool
    case_timeout: float
    # The named environments oracles 'NAME@ENVIRONMENT' run in (their interpreters must exist where workers run).
    environments: tuple[Environment, ...] = ()


# What a pool's caller is shown while a campaign runs: every worker's latest counts and the seconds since start.
ProgressCallback = Callable[[Sequence[Progress], float], None]


class CampaignWorker:
    """One worker of a multi-worker campaign, wherever it runs (a local process, a Ray actor): it builds its oracles
    single-threaded when created, reports them with `ready`, then runs one share of the campaign and closes them."""

    def __init__(self, choice: OracleChoice) -> None:
        # Several workers share a machine's cores: each runs the frameworks single-threaded (see SINGLE_THREADED).
        single_threaded()
        self.oracles: dict[str, Oracle]
        self.oracles, self.missing = available_oracles(
            choice.oracle_names, choice.isolate, choice.case_timeout, {e.name: e for e in choice.environments}
        )
        if not choice.isolate:  # the frameworks run in this process: it holds to a worker's memory budget
            cap_address_space(worker_memory_budget())

    def ready(self) -> WorkerReady:
        """What this worker's oracles turned out to be (the caller checks the campaign's settings with it)."""
        return WorkerReady.of(self.oracles, self.missing)

    def run_share(
        self, plan: WorkerPlan, record: Callable[[FindingRecord], bool],
        progress: Callable[[Campaign, CampaignStats], None], database: ExampleDatabase | None = None,
    ) -> CampaignStats:
        """Run this worker's share of `plan`, storing findings with `record` and showing `progress` (which may ask
        the campaign to stop), then close the oracles; the share's statistics."""
        campaign: Campaign | None = None

        def report(stats: CampaignStats) -> None:
            if campaign is not None:
                progress(campaign, stats)

        try:
            campaign = Campaign(self.oracles, plan.settings, plan.known_signatures, record=record, progress=report,
                                database=database, unconfirmed=plan.unconfirmed)
            return campaign.run()
        finally:
            self.close()

    def close(self) -> None:
        """Close the oracles (their isolated processes end)."""
        close_oracles(self.oracles)


def _worker_main(choice: OracleChoice, plans: Any, results: Any, parent: int) -> None:
    """One local worker process: build its own oracles, wait for its plan (None: the campaign was called off), run
    its share, send progress and then its final statistics."""
    orphaned = _stop_when_orphaned(parent)
    worker = CampaignWorker(choice)
    results.put(worker.ready())
    try:
        plan: WorkerPlan | None = plans.recv()
    except (KeyboardInterrupt, EOFError, OSError):  # Ctrl-C, or the parent gone, before the campaign began
        plan = None
    if plan is None:
        worker.close()
        return
    index = plan.settings.worker_index
    store = FindingStore(plan.findings)

    def progress(_: Campaign, stats: CampaignStats) -> None:
        if not orphaned.is_set():  # nobody reads the queue any more: a full pipe would hold the worker at exit
            results.put(Progress.of(index, stats))

    try:
        stats = worker.run_share(plan, store.add, progress)
    finally:
        if orphaned.is_set():
            # Nobody reads the queue any more; exiting, however the campaign ended, must not wait for buffered
            # messages to be flushed into a pipe the other worker still holds open.
            results.cancel_join_thread()
    if orphaned.is_set():
        return
    results.put(stats)


def worker_plans(plan: WorkerPlan, workers: int) -> list[WorkerPlan]:
    """`plan` for each of `workers` workers: worker k runs the schedule positions p % workers == k."""
    return [replace(plan, settings=replace(plan.settings, worker_index=index, worker_count=workers))
            for index in range(workers)]


def workers_for(cpus: int, memory: float | None) -> int:
    """How many workers `cpus` CPUs and `memory` bytes (None: unknown) hold: one per CPU, but no more than the
    memory holds at WORKER_MEMORY_BYTES each (a worker's torch and JAX oracle processes); at least one."""
    if memory is None:
        return max(1, cpus)
    return max(1, min(cpus, int(memory // WORKER_MEMORY_BYTES)))


def default_worker_count() -> int:
    """`--workers` when not given: the workers this machine holds (every core this process may run on, capped by
    the available memory)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return workers_for(cores, _available_memory())


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


class Pool(Protocol):
    """The workers of one multi-worker campaign (local processes: WorkerPool; Ray actors: cluster.RayPool), started
    before the campaign's settings are final: each builds its oracles while the caller checks the settings with
    `first_ready`, then the pool runs the campaign or is cancelled."""

    def first_ready(self) -> WorkerReady | None:
        """The first worker's report of its built oracles; None when every worker died before reporting."""

    def cancel(self) -> None:
        """Send every worker away before the campaign began (a usage error)."""

    def run(self, plan: WorkerPlan, on_progress: ProgressCallback | None = None) -> CampaignStats:
        """Run `plan` on the workers, each its share; the merged statistics."""


def merged_stats(
    finished: Sequence[CampaignStats], workers: int, seed: int, started: float, interrupted: bool
) -> CampaignStats:
    """The campaign's statistics from the `finished` workers' own, of `workers` in all: every worker that sent none
    counts as lost; `interrupted` when the caller saw Ctrl-C."""
    merged = CampaignStats.merged(finished, seed, started)
    merged.interrupted |= interrupted
    merged.workers_lost += workers - len(finished)
    return merged


class WorkerPool:
    """The worker processes of one parallel campaign, started before its settings are final: each builds its
    oracles (the slow part of start-up: torch and JAX imports) while the caller checks the settings, then waits for
    its plan (run) or is sent away (cancel)."""

    def __init__(self, choice: OracleChoice, workers: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.results = context.Queue()
        self.started = time.monotonic()
        self.processes: list[Any] = []
        self.plans: list[Any] = []
        for _ in range(workers):
            receiving, sending = context.Pipe(duplex=False)
            process = context.Process(target=_worker_main, args=(choice, receiving, self.results, os.getpid()))
            process.start()
            receiving.close()
            self.processes.append(process)
            self.plans.append(sending)

    def first_ready(self) -> WorkerReady | None:
        """The first worker's report of its built oracles (the others' are skipped later); None when every worker
        died before reporting."""
        while True:
            try:
                message = self.results.get(timeout=1.0)
            except queue.Empty:
                if not any(p.is_alive() for p in self.processes):
                    return None
                continue
            if isinstance(message, WorkerReady):
                return message

    def cancel(self) -> None:
        """Send every worker away before its campaign began (a usage error): it closes its oracles and exits."""
        for sending in self.plans:
            with contextlib.suppress(OSError):
                sending.send(None)
        for process in self.processes:
            process.join(30)

    def run(self, plan: WorkerPlan, on_progress: ProgressCallback | None = None) -> CampaignStats:
        """Give each worker its share of `plan` and return the merged statistics."""
        for sending, share in zip(self.plans, worker_plans(plan, len(self.processes)), strict=True):
            sending.send(share)
        return _collect(self.processes, self.results, plan.settings.seed, self.started, on_progress)


def run_parallel(plan: WorkerPlan, workers: int, on_progress: ProgressCallback | None = None) -> CampaignStats:
    """Run the campaign on `workers` spawned processes and return the merged statistics."""
    pool = WorkerPool(OracleChoice(plan.oracle_names, plan.isolate, plan.case_timeout), workers)
    return pool.run(plan, on_progress)


def _collect(
    processes: Sequence[Any], results: Any, seed: int, started: float, on_progress: ProgressCallback | None
) -> CampaignStats:
    """Wait for every worker's final statistics (passing their progress on) and merge them."""
    workers = len(processes)
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
        elif isinstance(message, CampaignStats):
            finished.append(message)  # (the workers' WorkerReady reports are not needed here)
    for process in processes:
        process.join(30)
    return merged_stats(finished, workers, seed, started, interrupted)
