"""The two kinds of Ray actor a cluster campaign runs (fuzz.campaign.cluster starts them), and the driver's writer.

CampaignHost: one share of the campaign, on whatever node Ray places it. It is the local worker's CampaignWorker
(fuzz.campaign.parallel): it builds its oracles as a local worker does (torch and JAX each in an isolated subprocess
on that node, so a segfault or hang there is a crash or timeout finding, not a lost actor) and runs the same
Campaign over the same WorkerPlan. It writes nothing itself: every finding and every example-database access goes
to the FindingHub, and its statistics are the return value of `run`.

FindingHub: a mailbox between the actors and the driver (the `convfuzz run` process, wherever it runs: on a node of
the cluster or outside it through Ray Client). An actor's request that needs the findings folder (add a finding,
fetch saved examples) waits in the hub until the driver has taken it, done it and answered; the driver is the
only process that writes the folder. The hub also keeps every worker's latest progress and carries the driver's
stop request to the actors.

DriverWriter: what the driver does with the requests: FindingStore.add under the folder lock, and the folder
example database.

Neither actor class imports Ray at module level: the package works without the optional `cluster` extra, and Ray
wraps these classes only when a campaign asks for it.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hypothesis.database import ExampleDatabase

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.example_db import NO_DATABASE, example_database
from convfuzz.fuzz.campaign.parallel import CampaignWorker, Progress, WorkerPlan
from convfuzz.fuzz.campaign.statistics import CampaignStats
from convfuzz.fuzz.store.folder import FindingStore
from convfuzz.fuzz.store.records import FindingRecord


def relays_database(spec: str | None) -> bool:
    """True when the campaign's example database is a folder: on a cluster that folder is the driver's, so actors
    reach it through the hub and the driver. A redis:// database is shared by itself, and none is none."""
    return spec is not None and spec != NO_DATABASE and not spec.startswith("redis://")


# A request from an actor to the driver: (number, what, payload); number None: no answer is awaited.
Request = tuple[int | None, str, Any]
ADD, FETCH, SAVE, DELETE = "add", "fetch", "save", "delete"


class FindingHub:
    """The mailbox between the campaign actors and the driver (a threaded actor: every waiting request holds one of
    its threads, so it is created with a concurrency above the number of actors)."""

    def __init__(self) -> None:
        self.requests: queue.Queue[Request] = queue.Queue()
        self.answers: dict[int, tuple[threading.Event, list[Any]]] = {}
        self.numbers = itertools.count()
        self.latest: dict[int, Progress] = {}
        self.stopping = False

    def _ask(self, what: str, payload: Any) -> Any:
        number = next(self.numbers)
        done: tuple[threading.Event, list[Any]] = (threading.Event(), [])
        self.answers[number] = done
        self.requests.put((number, what, payload))
        done[0].wait()
        return self.answers.pop(number)[1][0]

    def add(self, record: FindingRecord) -> bool:
        """Have the driver store a finding (FindingStore.add: each signature once); True when it was written."""
        return bool(self._ask(ADD, record))

    def database_fetch(self, key: bytes) -> list[bytes]:
        """The examples the driver's folder database holds under `key`."""
        return list(self._ask(FETCH, key))

    def database_save(self, key: bytes, value: bytes) -> None:
        """Pass an example on to the driver's folder database (nobody waits for it)."""
        self.requests.put((None, SAVE, (key, value)))

    def database_delete(self, key: bytes, value: bytes) -> None:
        """Pass a removal on to the driver's folder database (nobody waits for it)."""
        self.requests.put((None, DELETE, (key, value)))

    def next_requests(self, timeout: float) -> list[Request]:
        """The driver's long poll: every waiting request, as soon as there is one (an empty list after `timeout`)."""
        try:
            taken = [self.requests.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                taken.append(self.requests.get_nowait())
            except queue.Empty:
                return taken

    def answer(self, number: int, value: Any) -> None:
        """The driver's answer to request `number`: the actor waiting for it goes on."""
        event, slot = self.answers[number]
        slot.append(value)
        event.set()

    def report(self, progress: Progress) -> bool:
        """Keep a worker's running counts; the answer is True once the driver asked every actor to stop."""
        self.latest[progress.worker] = progress
        return self.stopping

    def progress(self) -> list[Progress]:
        """The latest counts of every worker that reported."""
        return list(self.latest.values())

    def stop(self) -> None:
        """Ask every actor to end its campaign as Ctrl-C would: each sees it at its next progress report."""
        self.stopping = True


class DriverWriter:
    """The driver's end of the hub: does each request against the findings folder and its example database."""

    def __init__(self, findings: Path, database: str | None) -> None:
        self.store = FindingStore(findings)
        self.database = example_database(database) if relays_database(database) else None
        self.written: list[FindingRecord] = []

    def handle(self, request: Request) -> Any:
        """Do one request; its answer (None for those nobody waits for)."""
        _, what, payload = request
        if what == ADD:
            written = self.store.add(payload)
            if written:
                self.written.append(payload)
            return written
        if self.database is None:
            return [] if what == FETCH else None
        if what == FETCH:
            return list(self.database.fetch(payload))
        if what == SAVE:
            self.database.save(*payload)
        else:
            self.database.delete(*payload)
        return None


class RelayedDatabase(ExampleDatabase):
    """The driver's folder example database, reached through the hub: saves and deletes are sent without waiting,
    fetches wait for the answer. The hub is a threaded actor, so two calls may be served out of order; an example
    database tolerates that (it is a cache of interesting examples, and Hypothesis checks what it fetches)."""

    def __init__(self, hub: Any) -> None:
        super().__init__()
        self.hub = hub

    def save(self, key: bytes, value: bytes) -> None:
        """Send the example to the driver's folder."""
        self.hub.database_save.remote(key, value)

    def fetch(self, key: bytes) -> Iterable[bytes]:
        """The examples the driver's folder holds under `key`."""
        import ray

        return ray.get(self.hub.database_fetch.remote(key))  # type: ignore[no-any-return]

    def delete(self, key: bytes, value: bytes) -> None:
        """Remove the example from the driver's folder."""
        self.hub.database_delete.remote(key, value)


class CampaignHost(CampaignWorker):
    """One worker of a cluster campaign: a CampaignWorker (its oracles built when the actor is created, `ready` to
    report them) whose findings, example database and progress go through the hub."""

    def run(self, plan: WorkerPlan, hub: Any) -> CampaignStats:
        """Run this actor's share of the campaign, handing findings and progress to `hub`; the statistics."""
        import ray

        def record(finding: FindingRecord) -> bool:
            return bool(ray.get(hub.add.remote(finding)))

        def progress(campaign: Campaign, stats: CampaignStats) -> None:
            if ray.get(hub.report.remote(Progress.of(plan.settings.worker_index, stats))):
                campaign.interrupt_requested = True  # the driver's Ctrl-C: end as a local worker would

        database = RelayedDatabase(hub) if relays_database(plan.settings.database) else None
        return self.run_share(plan, record, progress, database)
