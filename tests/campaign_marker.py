"""The `campaign` marker follows what a test runs: a pytest plugin of the suite (loaded by tests/conftest.py) that
fails a test which ran a fuzz campaign without the marker, and one marked that ran none. scripts/test --fast leaves
the marked tests out, so a wrong mark either slows the quick run down or hides a quick test from it.

A test ran a campaign when, during its setup (fixtures included: every test using such a fixture needs the mark)
or its call,
- a campaign ran in the test's own process (Campaign.run), or a pool of workers ran one in other processes
  (WorkerPool.run, RayPool.run), or
- a command that starts one (`convfuzz run`, `python -m convfuzz run`, main(['run', ...]) in `python -c`,
  scripts/fuzz, scripts/nightly; not with --help) ran as a subprocess and did not end as a usage error (exit
  status 2, the status of every refusal before a campaign begins).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Generator
from typing import Any

import pytest

from convfuzz.fuzz.campaign.cluster import RayPool
from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.parallel import WorkerPool
from convfuzz.fuzz.campaign.statistics import CampaignStats

EXIT_USAGE = 2
# Command lines that start a campaign unless they stop at a usage error.
CAMPAIGN_COMMAND = re.compile(r"convfuzz\W+run\b|main\(\[\s*['\"]run['\"]|scripts/(fuzz|nightly)\b")


class Evidence:
    """What ran while one test (or one fixture) was being set up or run."""

    def __init__(self) -> None:
        self.in_process = 0
        self.commands: list[subprocess.Popen[Any]] = []

    def ran_a_campaign(self) -> bool:
        """Whether a campaign ran: in this process, or in a command that got past its usage checks."""
        return self.in_process > 0 or any(p.returncode not in (None, EXIT_USAGE) for p in self.commands)


_current: list[Evidence] = []  # a stack: a fixture's setup inside a test's setup
_by_fixture: dict[int, bool] = {}  # id of a FixtureDef (they live the whole session): whether its setup ran one


def _note_in_process() -> None:
    for evidence in _current:
        evidence.in_process += 1


def _watch() -> Callable[[], None]:
    """Patch the places a campaign shows (see the module docstring); returns what undoes the patches."""
    run, popen_init = Campaign.run, subprocess.Popen.__init__
    pool_runs = {pool: pool.run for pool in (WorkerPool, RayPool)}

    def watched_run(self: Campaign) -> CampaignStats:
        _note_in_process()
        return run(self)

    def watching(pool_run: Callable[..., CampaignStats]) -> Callable[..., CampaignStats]:
        def watched_pool_run(self: Any, *args: Any, **kwargs: Any) -> CampaignStats:
            _note_in_process()
            return pool_run(self, *args, **kwargs)

        return watched_pool_run

    def watched_init(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        popen_init(self, args, *rest, **kwargs)
        command = args if isinstance(args, str | bytes) else " ".join(str(a) for a in args)
        if CAMPAIGN_COMMAND.search(str(command)) and "--help" not in str(command):
            for evidence in _current:
                evidence.commands.append(self)

    def undo() -> None:
        Campaign.run = run  # type: ignore[method-assign]
        for pool, pool_run in pool_runs.items():
            pool.run = pool_run  # type: ignore[method-assign]
        subprocess.Popen.__init__ = popen_init  # type: ignore[method-assign]

    Campaign.run = watched_run  # type: ignore[method-assign]
    for pool, pool_run in pool_runs.items():
        pool.run = watching(pool_run)  # type: ignore[method-assign]
    subprocess.Popen.__init__ = watched_init  # type: ignore[method-assign]
    return undo


def pytest_sessionstart(session: pytest.Session) -> None:
    """Watch for campaigns for the whole session (fixtures of module scope are set up early)."""
    session.config.add_cleanup(_watch())


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> Generator[
    None, Any, Any
]:
    """Attribute what a fixture's setup ran to the fixture: each test that uses it ran it too."""
    evidence = Evidence()
    _current.append(evidence)
    try:
        return (yield)
    finally:
        _current.remove(evidence)
        _by_fixture[id(fixturedef)] = _by_fixture.get(id(fixturedef), False) or evidence.ran_a_campaign()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, object]:
    """Collect what the test runs, from its setup to its teardown."""
    evidence = Evidence()
    item.stash[_EVIDENCE] = evidence
    _current.append(evidence)
    try:
        return (yield)
    finally:
        _current.remove(evidence)


_EVIDENCE = pytest.StashKey[Evidence]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[
    None, pytest.TestReport, pytest.TestReport
]:
    """After a passing call: fail it where its campaign marker does not match what it ran."""
    report = yield
    if call.when != "call" or not report.passed:
        return report
    evidence = item.stash.get(_EVIDENCE, None)
    if evidence is None:
        return report
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    used = [defs[-1] for defs in definitions.values() if defs]  # the definition each fixture name resolves to
    ran = evidence.ran_a_campaign() or any(_by_fixture.get(id(fixture), False) for fixture in used)
    marked = item.get_closest_marker("campaign") is not None
    if ran != marked:
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} ran a fuzz campaign: add @pytest.mark.campaign" if ran else
            f"{item.nodeid} is marked campaign but ran none: remove the mark (scripts/test --fast leaves it out)"
        )
    return report
