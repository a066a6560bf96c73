"""Campaigns on a Ray cluster (`convfuzz run --ray [ADDRESS]`): the workers of fuzz.campaign.parallel as Ray actors.

The driver (the `convfuzz run` process) connects to Ray - a local runtime it starts, listening on the loopback
only, or the cluster at ADDRESS - and places one CampaignHost actor per worker (one per CPU the cluster reports,
capped by memory; on a CUDA campaign one per GPU, each holding that GPU). Worker k runs the schedule positions
p % N == k exactly as a local worker would. The driver itself is the one writer of the findings folder: actors
send what needs the folder (findings, example-database access) through a FindingHub actor, and the driver takes
the requests from it as they come (a long poll in the same loop that waits for the actors' statistics); see
fuzz.campaign.cluster_actors. So the folder is the driver's even when it runs outside the cluster (Ray Client).

A lost actor (its process or node gone) loses nothing already handed over: the driver wrote it. The driver gives
the lost worker's share to a fresh actor - our own re-dispatch, not Ray's actor restart, because the fresh actor must
start from a new plan (the findings stored meanwhile are known) and keep the campaign's deadline (the same
budget_started). A worker is replaced at most MAX_REPLACEMENTS times; the summary counts each replacement.
Ctrl-C on the driver asks every actor to stop (each ends its campaign as a local worker would and returns its
statistics); actors that have not answered within STOP_WAIT_SECONDS are killed.
"""

from __future__ import annotations

import importlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

from convfuzz.fuzz.campaign.cluster_actors import CampaignHost, DriverWriter, FindingHub
from convfuzz.fuzz.campaign.parallel import (
    OracleChoice,
    ProgressCallback,
    WorkerPlan,
    WorkerReady,
    merged_stats,
    worker_plans,
    workers_for,
)
from convfuzz.fuzz.campaign.statistics import CampaignStats
from convfuzz.fuzz.store.folder import FindingStore, settled_signatures

# `--ray` with no address.
LOCAL_RUNTIME = "local"
INSTALL_LINE = 'pip install "convfuzz[cluster]" (or: pip install "ray[client]>=2.60")'
MAX_REPLACEMENTS = 2
STOP_WAIT_SECONDS = 30.0
POLL_SECONDS = 1.0
RAY_CLIENT_PREFIX = "ray://"
CLIENT_CONNECT_ATTEMPTS = 3
# Set to 0, Ray treats this machine as no cluster: its node address is 127.0.0.1 and nothing listens elsewhere.
NO_CLUSTER_VARIABLE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


class ClusterError(Exception):
    """The cluster cannot run this campaign as asked (no Ray, no such cluster, too few CPUs or GPUs)."""


def import_ray() -> ModuleType:
    """The ray module; ClusterError with the install line where it is not installed."""
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise ClusterError(f"--ray needs Ray, which is not installed ({exc}): {INSTALL_LINE}") from None


def on_loopback(address: str) -> bool:
    """True for the local runtime and for a cluster address on this machine's loopback (127.0.0.1:6379,
    localhost:6379): a one-machine cluster, whose Ray processes must listen on the loopback only."""
    if address == LOCAL_RUNTIME:
        return True
    host = address.split("://", 1)[-1].rsplit(":", 1)[0]
    return host in ("127.0.0.1", "localhost")


def connect(address: str, local_cpus: int) -> ModuleType:
    """Connect this process to Ray: start a local runtime with `local_cpus` CPUs (address LOCAL_RUNTIME), else
    join the cluster at `address` ('auto', 'ray://host:10001', 'host:6379'). Returns the ray module."""
    if on_loopback(address):
        # Ray advertises (and binds) the machine's network address even on one machine unless told this is no
        # cluster: then every Ray process of this driver listens on 127.0.0.1 only. Read when ray is imported.
        os.environ.setdefault(NO_CLUSTER_VARIABLE, "0")
    ray = import_ray()
    # A Ray Client connection starts a server process for this client on the head, and that start can fail under
    # load (seen: it exits at once, "Starting Ray client server failed"); a new connection starts a new one.
    attempts = CLIENT_CONNECT_ATTEMPTS if address.startswith(RAY_CLIENT_PREFIX) else 1
    failed = 0
    while True:
        try:
            if address == LOCAL_RUNTIME:
                # address "local": always a new runtime, never one a `ray start` left for ray.init() to find
                ray.init(address="local", num_cpus=local_cpus, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            return ray
        except ConnectionAbortedError:
            failed += 1
            if failed == attempts:
                raise ClusterError(f"--ray {address}: the cluster's client server did not start for this "
                                   f"driver in {attempts} attempts") from None
            time.sleep(1.0)
        except Exception as exc:  # noqa: BLE001 - Ray raises many kinds (connection, authentication, a missing extra)
            raise ClusterError(f"--ray {address}: cannot connect ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True)
class Placement:
    """How many campaign actors, and whether each holds a GPU."""

    actors: int
    gpu_each: bool


def placement(resources: Mapping[str, float], workers: int | None, devices: Sequence[str] | None) -> Placement:
    """The actors for a cluster with `resources` (ray.cluster_resources()): a CUDA campaign (--devices names cuda,
    or no --devices and the cluster has GPUs) gets one actor per GPU; any other one actor per CPU, no more than
    the cluster's memory holds at WORKER_MEMORY_BYTES each. `workers` (--workers) overrides the count but may not
    ask for more CPUs or GPUs than the cluster has (the extra actors would wait forever)."""
    gpus = int(resources.get("GPU", 0))
    cuda = "cuda" in devices if devices is not None else gpus > 0
    if cuda:
        if gpus == 0:
            raise ClusterError("--devices cuda: the Ray cluster reports no GPU")
        if workers is not None and workers > gpus:
            raise ClusterError(f"--workers {workers}: the Ray cluster has {gpus} GPU(s), one per CUDA actor")
        return Placement(workers or gpus, gpu_each=True)
    cpus = int(resources.get("CPU", 0))
    if cpus == 0:
        raise ClusterError("the Ray cluster reports no CPU")
    if workers is not None:
        if workers > cpus:
            raise ClusterError(f"--workers {workers}: the Ray cluster has {cpus} CPU(s), one per actor")
        return Placement(workers, gpu_each=False)
    return Placement(workers_for(cpus, resources.get("memory")), gpu_each=False)


@dataclass
class Share:
    """One worker's share of the campaign: its plan, the actor running it, and how often it was replaced."""

    plan: WorkerPlan
    actor: Any
    result: Any = None  # the ObjectRef of actor.run
    replacements: int = 0


class RayPool:
    """The campaign actors of one cluster campaign, with the same life as parallel.WorkerPool: created (each
    builds its oracles) while the caller checks the settings, then run or cancelled."""

    def __init__(self, choice: OracleChoice, ray: ModuleType, where: Placement) -> None:
        self.ray = ray
        self.choice = choice
        self.where = where
        self.started = time.monotonic()
        self.actors = [self._new_actor() for _ in range(where.actors)]
        self.ready = [actor.ready.remote() for actor in self.actors]

    def _new_actor(self) -> Any:
        options: dict[str, Any] = {"num_cpus": 1, "num_gpus": 1 if self.where.gpu_each else 0}
        return self.ray.remote(CampaignHost).options(**options).remote(self.choice)

    def first_ready(self) -> WorkerReady | None:
        """The first actor's report of its built oracles; None when every actor died before reporting."""
        pending = list(self.ready)
        while pending:
            done, pending = self.ray.wait(pending, num_returns=1)
            try:
                return self.ray.get(done[0])  # type: ignore[no-any-return]
            except self.ray.exceptions.RayError:
                continue
        return None

    def cancel(self) -> None:
        """End every actor before the campaign began (a usage error), and leave Ray."""
        for actor in self.actors:
            self.ray.kill(actor)
        self.ray.shutdown()

    def run(self, plan: WorkerPlan, on_progress: ProgressCallback | None = None) -> CampaignStats:
        """Give each actor its share of `plan`, serve their requests (this process writes the findings folder),
        replace lost actors, and return the merged statistics; the merged findings are every finding written."""
        ray = self.ray
        # Every actor waits on the hub for at most one request at a time, and the driver polls it with one more.
        hub = ray.remote(FindingHub).options(num_cpus=0, max_concurrency=2 * len(self.actors) + 8).remote()
        writer = DriverWriter(plan.findings, plan.settings.database)
        shares = [Share(share_plan, actor) for share_plan, actor in zip(worker_plans(plan, len(self.actors)),
                                                                          self.actors, strict=True)]
        for share in shares:
            share.result = share.actor.run.remote(share.plan, hub)
        # Ctrl-C is KeyboardInterrupt here even where this process inherited SIGINT ignored (started in the
        # background of a script), as in a local campaign, whose workers install their own handler.
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            finished, replaced, interrupted = self._collect(shares, hub, writer, on_progress)
        finally:
            signal.signal(signal.SIGINT, previous)
            for share in shares:
                ray.kill(share.actor)
            ray.kill(hub)
            ray.shutdown()
        merged = merged_stats(finished, len(shares), plan.settings.seed, self.started, interrupted)
        merged.findings = writer.written  # a lost actor's included
        merged.actors_replaced += replaced
        return merged

    def _collect(
        self, shares: list[Share], hub: Any, writer: DriverWriter, on_progress: ProgressCallback | None
    ) -> tuple[list[CampaignStats], int, bool]:
        """Serve the hub's requests and wait for every share's statistics, replacing lost actors: (statistics of the
        shares that finished, replacements, interrupted). A share without statistics is a worker lost for good."""
        ray = self.ray
        running = {share.result: share for share in shares}
        polling = hub.next_requests.remote(POLL_SECONDS)
        finished: list[CampaignStats] = []
        replaced = 0
        interrupted = False
        stop_deadline: float | None = None
        shown = 0.0
        while running:
            try:
                done, _ = ray.wait([polling, *running], num_returns=1, timeout=POLL_SECONDS)
                if polling in done:
                    for request in ray.get(polling):
                        answer = writer.handle(request)
                        if request[0] is not None:
                            hub.answer.remote(request[0], answer)
                    polling = hub.next_requests.remote(POLL_SECONDS)
                if on_progress is not None and time.monotonic() - shown >= POLL_SECONDS:
                    shown = time.monotonic()
                    on_progress(ray.get(hub.progress.remote()), shown - self.started)
            except KeyboardInterrupt:
                interrupted = True
                hub.stop.remote()
                stop_deadline = time.monotonic() + STOP_WAIT_SECONDS
                continue
            if stop_deadline is not None and time.monotonic() > stop_deadline:
                break  # the actors still running did not answer the stop request in time; killed by the caller
            for result in [r for r in done if r in running]:
                share = running.pop(result)
                try:
                    finished.append(ray.get(result))
                except ray.exceptions.RayActorError:
                    if interrupted or share.replacements >= MAX_REPLACEMENTS or self._deadline_passed(share.plan):
                        continue  # lost for good
                    self._replace(share, hub)
                    replaced += 1
                    running[share.result] = share
        return finished, replaced, interrupted

    def _replace(self, share: Share, hub: Any) -> None:
        """Start a fresh actor on the lost one's share: the findings stored meanwhile are known to it, and it keeps
        the campaign's deadline (its plan's budget_started is the command's start)."""
        self.ray.kill(share.actor)
        existing, _ = FindingStore(share.plan.findings).load()
        known = tuple(sorted({*share.plan.known_signatures, *settled_signatures(existing)}))
        share.plan = replace(share.plan, known_signatures=known)
        share.actor = self._new_actor()
        share.result = share.actor.run.remote(share.plan, hub)
        share.replacements += 1

    @staticmethod
    def _deadline_passed(plan: WorkerPlan) -> bool:
        """True when the campaign's time budget is spent: a replacement would have nothing left to run."""
        started = plan.settings.budget_started
        return started is not None and plan.settings.drawing_over(time.time() - started)
