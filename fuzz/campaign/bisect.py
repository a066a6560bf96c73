"""`convfuzz bisect`: replay one finding in each of several environments (releases of its suspect's framework) and
say where it reproduces, where it is gone, and so since when it exists and where it was fixed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from packaging.version import InvalidVersion, Version

from convfuzz.fuzz.campaign.replay import (
    FIXED,
    INCONCLUSIVE,
    REGRESSED,
    REPRODUCES,
    SKIPPED,
    STILL_FIXED,
    ReplayResult,
    replay_record,
)
from convfuzz.fuzz.judge.decide import PROCESS_KINDS
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.oracles.environments import Environment
from convfuzz.oracles.framework import framework_named
from convfuzz.oracles.names import framework_of

# What one environment showed, as the table says it.
SHOWN, GONE, CANNOT_TELL, CRASHES = "reproduces", "gone", "cannot tell", "crashes"
# The finding's history entry `bisect --update` writes.
HISTORY_KEY = "bisect"


@dataclass(frozen=True)
class Step:
    """One environment's row: its name, the suspect framework's release there, what the replay showed and why."""

    environment: str
    version: str | None
    state: str
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        """The row as the finding's history stores it."""
        return {"environment": self.environment, "version": self.version, "state": self.state, "reason": self.reason}


def suspect_framework(record: FindingRecord) -> str:
    """The framework a bisect follows: its first suspect's."""
    return framework_of(record.suspects[0])


def release_of(result: ReplayResult, framework: str) -> str | None:
    """The framework's release the replay ran its suspects with: its first distribution's version, as the
    suspects' worker in that environment reported it."""
    described = framework_named(framework)
    package = described.packages[0] if described is not None and described.packages else framework
    for suspect in result.record.suspects:
        version = result.versions.get(suspect, {}).get(package)
        if version:
            return str(version)
    return None


def state_of(record: FindingRecord, result: ReplayResult) -> tuple[str, str]:
    """(table state, reason) for one environment's replay: a crash or hang of a suspect where the finding is about
    values is its own state, not the finding reproducing."""
    verdict = result.verdict
    failed = [n for n in record.suspects if result.outcomes.get(n) is not None and result.outcomes[n].failure]
    if failed and record.kind not in PROCESS_KINDS and verdict is not None and verdict.kind in PROCESS_KINDS:
        # How it ended and the native error's first line, without the traceback that follows.
        return CRASHES, (result.outcomes[failed[0]].error or "").split(" | ")[0]
    if result.state in (REPRODUCES, REGRESSED):
        return SHOWN, ""
    if result.state in (FIXED, STILL_FIXED):
        return GONE, ""
    assert result.state in (INCONCLUSIVE, SKIPPED)
    return CANNOT_TELL, result.reason


def ordered(steps: Sequence[Step]) -> list[Step]:
    """Oldest release first, by the versions read; the environments whose version is unknown (the framework is not
    installed there) or does not parse come last, in the order given."""

    def key(indexed: tuple[int, Step]) -> tuple[int, Version | int]:
        try:
            return 0, Version(indexed[1].version or "")
        except InvalidVersion:
            return 1, indexed[0]

    return [step for _, step in sorted(enumerate(steps), key=key)]


def bisect(
    record: FindingRecord, places: Sequence[Environment], environments: Mapping[str, Environment],
    accept_other_hardware: bool = False,
) -> list[Step]:
    """Replay `record` with its suspects in each of `places` (the others as recorded, from `environments`), oldest
    release first."""
    framework = suspect_framework(record)
    steps = []
    for place in places:
        result = replay_record(record, accept_other_hardware=accept_other_hardware, environments=environments,
                               place=place.name)
        state, reason = state_of(record, result)
        steps.append(Step(place.name, release_of(result, framework), state, reason))
    return ordered(steps)


def _named(step: Step) -> str:
    return step.version or step.environment


def summary(framework: str, steps: Sequence[Step]) -> str:
    """'present in torch 2.9.0-2.13.0, gone in 2.14.0' (where it first showed, last showed, and the first release
    after that where it was gone), with the releases it was not seen in between and before, and those where the
    call crashed instead."""
    crashed = [_named(s) for s in steps if s.state == CRASHES]
    crashes = f"; the call crashes in {', '.join(crashed)}" if crashed else ""
    shown = [i for i, s in enumerate(steps) if s.state == SHOWN]
    if not shown:
        told = [_named(s) for s in steps if s.state == GONE]
        return f"not reproduced in {framework} " + (", ".join(told) if told else "(no release could tell)") + crashes
    first, last = shown[0], shown[-1]
    span = _named(steps[first]) if _named(steps[last]) == _named(steps[first]) else (
        f"{_named(steps[first])}-{_named(steps[last])}"
    )
    text = f"present in {framework} {span}"
    between = [_named(s) for s in steps[first:last] if s.state == GONE]
    if between:
        text += f" (but gone in {', '.join(between)})"
    after = next((s for s in steps[last + 1:] if s.state == GONE), None)
    if after is not None:
        text += f", gone in {_named(after)}"
    before = next((s for s in reversed(steps[:first]) if s.state == GONE), None)
    if before is not None:
        text += f"; not in {_named(before)}"
    return text + crashes


def table(steps: Sequence[Step]) -> str:
    """The steps as an aligned text table: environment, release, state, why."""
    rows = [("environment", "release", "state", "")] + [
        (s.environment, s.version or "?", s.state, s.reason) for s in steps
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)).rstrip()
        + (f"  {row[3]}" if row[3] else "")
        for row in rows
    )


def with_history(record: FindingRecord, framework: str, steps: Sequence[Step], now: datetime) -> FindingRecord:
    """`record` with the bisect stored in its history (replacing an earlier one): when, which framework, each
    environment's row, and the summary explain and the upstream draft quote."""
    entry = {
        "date": now.isoformat(timespec="seconds"),
        "framework": framework,
        "steps": [s.to_json() for s in steps],
        "summary": summary(framework, steps),
    }
    return replace(record, history={**record.history, HISTORY_KEY: entry})


def releases_line(record: FindingRecord) -> str | None:
    """The stored bisect's summary with its date ('present in jax 0.8.0-0.10.2, gone in ... (bisected
    2026-12-07)'), or None where the finding was never bisected."""
    entry = record.history.get(HISTORY_KEY)
    if not isinstance(entry, dict) or not entry.get("summary"):
        return None
    return f"{entry['summary']} (bisected {str(entry.get('date', ''))[:10]})"
