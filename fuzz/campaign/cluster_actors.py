"""The two kinds of Ray actor a cluster campaign runs (fuzz.campaign.cluster starts them).

CampaignHost: one share of the campaign, on whatever node Ray places it. It builds its oracles as a local worker
does (torch and JAX each in an isolated subprocess on that node, so a segfault or hang there is a crash or timeout
finding, not a lost actor) and runs the same Campaign over the same WorkerPlan. It writes nothing itself: every
finding goes to the FindingHub, and its statistics are the return value of `run`.

FindingHub: the one writer, started on the driver's node. It adds each finding to the findings folder under the
store's lock, keeps every worker's latest progress for the driver to show, relays the folder example database
(so actors on other machines share it through the driver), and carries the driver's stop request to the actors.

Neither class imports Ray at module level: the package works without the optional `cluster` extra, and Ray wraps
these classes only when a campaign asks for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hypothesis.database import ExampleDatabase

from fuzz.campaign.engine import Campaign
from fuzz.campaign.example_db import NO_DATABASE, example_database
from fuzz.campaign.parallel import OracleChoice, Progress, WorkerPlan, WorkerReady, single_threaded
from fuzz.campaign.statistics import CampaignStats
from fuzz.store.folder import FindingStore
from fuzz.store.records import FindingRecord
from oracles.base import Oracle
from oracles.isolation import close_oracles
from oracles.selection import available_oracles


def relays_database(spec: str | None) -> bool:
    """True when the campaign's example database is a folder: on a cluster that folder is the driver's, so actors
    reach it through the hub. A redis:// database is shared by itself, and none is none."""
    return spec is not None and spec != NO_DATABASE and not spec.startswith("redis://")


class FindingHub:
    """The driver-side end of a cluster campaign: the only process that writes the findings folder."""

    def __init__(self, findings: Path, database: str | None) -> None:
        self.store = FindingStore(findings)
        self.database = example_database(database) if relays_database(database) else None
        self.latest: dict[int, Progress] = {}
        self.written: list[FindingRecord] = []
        self.stopping = False

    def add(self, record: FindingRecord) -> bool:
        """Store a finding an actor confirmed (FindingStore.add: each signature once); True when written."""
        written = self.store.add(record)
        if written:
            self.written.append(record)
        return written

    def report(self, progress: Progress) -> bool:
        """Keep a worker's running counts; the answer is True once the driver asked every actor to stop."""
        self.latest[progress.worker] = progress
        return self.stopping

    def progress(self) -> list[Progress]:
        """The latest counts of every worker that reported."""
        return list(self.latest.values())

    def findings_written(self) -> list[FindingRecord]:
        """Every finding this hub wrote, in order (a replaced provisional one included: the driver keeps those
        still in the folder)."""
        return list(self.written)

    def stop(self) -> None:
        """Ask every actor to end its campaign as Ctrl-C would: each sees it at its next progress report."""
        self.stopping = True

    def database_save(self, key: bytes, value: bytes) -> None:
        """ExampleDatabase.save on the driver's folder."""
        if self.database is not None:
            self.database.save(key, value)

    def database_fetch(self, key: bytes) -> list[bytes]:
        """ExampleDatabase.fetch on the driver's folder."""
        return [] if self.database is None else list(self.database.fetch(key))

    def database_delete(self, key: bytes, value: bytes) -> None:
        """ExampleDatabase.delete on the driver's folder."""
        if self.database is not None:
            self.database.delete(key, value)


class RelayedDatabase(ExampleDatabase):
    """An example database that lives in the hub: saves and deletes are sent without waiting (one caller's calls
    reach an actor in order), fetches wait for the answer."""

    def __init__(self, hub: Any) -> None:
        super().__init__()
        self.hub = hub

    def save(self, key: bytes, value: bytes) -> None:
        """Send the example to the hub's folder."""
        self.hub.database_save.remote(key, value)

    def fetch(self, key: bytes) -> Iterable[bytes]:
        """The examples the hub's folder holds under `key`."""
        import ray

        return ray.get(self.hub.database_fetch.remote(key))  # type: ignore[no-any-return]

    def delete(self, key: bytes, value: bytes) -> None:
        """Remove the example from the hub's folder."""
        self.hub.database_delete.remote(key, value)


class CampaignHost:
    """One worker of a cluster campaign: builds its oracles when created, then runs its share when given a plan."""

    def __init__(self, choice: OracleChoice) -> None:
        # Several actors share a node's cores, as local workers do: each runs the frameworks single-threaded.
        single_threaded()
        self.oracles: dict[str, Oracle]
        self.oracles, self.missing = available_oracles(
            choice.oracle_names, isolate=choice.isolate, case_timeout=choice.case_timeout
        )

    def ready(self) -> WorkerReady:
        """What this actor's oracles turned out to be (the driver checks the campaign's settings with it)."""
        return WorkerReady({name: tuple(o.devices()) for name, o in self.oracles.items()}, self.missing)

    def run(self, plan: WorkerPlan, hub: Any) -> CampaignStats:
        """Run this actor's share of the campaign, handing findings and progress to `hub`; the statistics."""
        import ray

        campaign: Campaign | None = None

        def record(finding: FindingRecord) -> bool:
            return bool(ray.get(hub.add.remote(finding)))

        def progress(stats: CampaignStats) -> None:
            update = Progress(plan.settings.worker_index, stats.examples, stats.checks, len(stats.findings),
                              len(stats.configs))
            if ray.get(hub.report.remote(update)) and campaign is not None:
                campaign.interrupt_requested = True  # the driver's Ctrl-C: end as a local worker would

        database = RelayedDatabase(hub) if relays_database(plan.settings.database) else None
        try:
            campaign = Campaign(self.oracles, plan.settings, plan.known_signatures, record=record, progress=progress,
                                database=database)
            return campaign.run()
        finally:
            close_oracles(self.oracles)
