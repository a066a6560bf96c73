"""Regression replay of a findings folder in the user's own pytest: `pytest --convfuzz-findings DIR` (or the ini
option `convfuzz_findings = DIR`) adds one test item per stored finding.

open (or regressed) and reproduces -> xfail, strict: the bug is still there
open (or regressed) and gone, on the same kernel-selecting facts -> XPASS(strict), a failure: "mark it fixed:
                                      convfuzz replay --update"
fixed and reproduces again          -> fail: regression
fixed and still gone                -> pass
gone, but a kernel-selecting fact of this machine differs from where it was found -> skip, with the difference
frameworks, oracles or device missing -> skip, with what is missing
an unreadable finding file           -> fail, naming the file and the problem

A finding whose oracles ran in another Python environment ('torch@nightly') replays there when convfuzz.toml beside
the folder names it (oracles.environments); a convfuzz.toml that does not read is one failing item.

Installed with convfuzz as a pytest11 entry point; nothing happens unless a findings folder is given.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the plugin loads in every pytest run of an environment with convfuzz: imports stay lazy
    from collections.abc import Mapping

    from convfuzz.fuzz.campaign.replay import ReplayResult
    from convfuzz.fuzz.store.records import FindingRecord
    from convfuzz.oracles.environments import Environment

XFAIL = "xfail"
FAIL = "fail"
SKIP = "skip"
PASS = "pass"
MARK_FIXED = "mark it fixed: convfuzz replay --update"


@dataclass(frozen=True)
class Judgement:
    """What a finding's test item does with a replay: one of XFAIL, FAIL, SKIP, PASS, and why. An open finding that
    is gone PASSes: the strict xfail mark every open finding carries (finding_marks) turns that into a failure."""

    action: str
    reason: str


def judgement(result: ReplayResult) -> Judgement:
    """The test outcome of one finding's replay (module docstring)."""
    from convfuzz.fuzz.campaign.replay import FIXED, INCONCLUSIVE, REGRESSED, REPRODUCES, SKIPPED

    record = result.record
    first = record.message.splitlines()[0] if record.message else record.kind
    if result.state in (SKIPPED, INCONCLUSIVE):
        return Judgement(SKIP, f"{record.id}: {result.state}: {result.reason}")
    if result.state == REPRODUCES:
        return Judgement(XFAIL, f"{record.id} still reproduces ({record.status}): {first}")
    if result.state == FIXED:
        return Judgement(PASS, f"{record.id} no longer reproduces, on the same kernel-selecting facts: {MARK_FIXED}")
    if result.state == REGRESSED:
        now = result.verdict.message.splitlines()[0] if result.verdict and result.verdict.message else first
        return Judgement(FAIL, f"{record.id} was fixed but reproduces again (regression): {now}")
    return Judgement(PASS, f"{record.id} is still fixed")


def finding_marks(record: FindingRecord) -> list[pytest.MarkDecorator]:
    """The marks of a finding's test: a strict xfail for an open (or regressed) one, so that the day it passes the
    test fails and says what to do."""
    if record.status == "fixed":
        return []
    return [pytest.mark.xfail(reason=f"{record.id} is open; it passes now, so {MARK_FIXED}", strict=True)]


def check_finding(record: FindingRecord, environments: Mapping[str, Environment] | None = None) -> None:
    """Replay `record` (its oracles of other environments in `environments`) and end the running test as its
    judgement says: xfail, fail, skip, or return (a pass; an open finding's strict xfail mark makes that a
    failure). Run it in a test carrying finding_marks(record)."""
    from convfuzz.fuzz.campaign.replay import replay_record

    verdict = judgement(replay_record(record, environments=environments))
    if verdict.action == SKIP:
        pytest.skip(verdict.reason)
    if verdict.action == XFAIL:
        pytest.xfail(verdict.reason)
    if verdict.action == FAIL:
        pytest.fail(verdict.reason, pytrace=False)


class FindingItem(pytest.Item):
    """One stored finding as a test."""

    def __init__(
        self, *, record: FindingRecord | None = None, problem: str = "",
        environments: Mapping[str, Environment] | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.record = record
        self.problem = problem
        self.environments = environments
        for mark in finding_marks(record) if record is not None else []:
            self.add_marker(mark)

    def runtest(self) -> None:
        """Replay the finding (module docstring)."""
        if self.record is None:
            pytest.fail(self.problem, pytrace=False)
        check_finding(self.record, self.environments)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the finding lives, for pytest's report."""
        return self.path, None, f"convfuzz finding {self.name}"


def findings_folder(config: pytest.Config) -> Path | None:
    """The folder given by --convfuzz-findings or the convfuzz_findings ini option (relative to the rootdir), or
    None."""
    given = config.getoption("convfuzz_findings") or config.getini("convfuzz_findings")
    if not given:
        return None
    folder = Path(str(given))
    return folder if folder.is_absolute() else Path(config.rootpath) / folder


def pytest_addoption(parser: pytest.Parser) -> None:
    """--convfuzz-findings DIR and the convfuzz_findings ini option (named for convfuzz: the plugin loads in every
    pytest run of the environment, beside the user's own options)."""
    group = parser.getgroup("convfuzz", "convfuzz findings replay")
    group.addoption("--convfuzz-findings", dest="convfuzz_findings", metavar="DIR",
                    help="replay every convfuzz finding in DIR as a test (open+reproduces: xfail)")
    parser.addini("convfuzz_findings", "folder of convfuzz findings to replay as tests", default="")


def _items(session: pytest.Session, folder: Path) -> Iterator[FindingItem]:
    from convfuzz.fuzz.store.folder import FindingStore
    from convfuzz.oracles.environments import CONFIG_FILE, BadEnvironment, configured

    try:
        environments = configured(folder)
    except BadEnvironment as exc:
        environments = {}
        config = folder.absolute().parent / CONFIG_FILE
        yield FindingItem.from_parent(session, name=CONFIG_FILE, path=config, nodeid=_nodeid(session, config),
                                      problem=str(exc))
    records, problems = FindingStore(folder).load()
    for record in records:
        path = folder / f"{record.id}.json"
        yield FindingItem.from_parent(session, name=record.id, path=path, nodeid=_nodeid(session, path),
                                      record=record, environments=environments)
    for problem in problems:
        yield FindingItem.from_parent(session, name=problem.path.name, path=problem.path,
                                      nodeid=_nodeid(session, problem.path),
                                      problem=f"{problem.path}: unreadable finding ({problem.problem})")


def _nodeid(session: pytest.Session, path: Path) -> str:
    """A finding's test id: its JSON path, relative to the rootdir where it lies below it."""
    try:
        return str(path.resolve().relative_to(Path(session.config.rootpath).resolve()))
    except ValueError:
        return str(path)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add one item per finding of the given folder (a missing folder is a usage error)."""
    folder = findings_folder(config)
    if folder is None:
        return
    if not folder.is_dir():
        raise pytest.UsageError(f"--convfuzz-findings: {folder} is not a folder")
    items.extend(_items(session, folder))
