"""Re-checking stored findings against whatever frameworks are installed now."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from convfuzz.fuzz.campaign.confirm import rerun_until_shown
from convfuzz.fuzz.campaign.environment import device_model
from convfuzz.fuzz.judge.verdict import Verdict, judge
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.oracles.base import Oracle, Outcome
from convfuzz.oracles.environments import Environment, environment_of, recorded_facts
from convfuzz.oracles.isolation import close_oracles
from convfuzz.oracles.kernel_facts import (
    fact_differences,
    kernel_facts_of,
    merge_facts,
    names_one_model,
    unrecorded_device_model,
)
from convfuzz.oracles.names import framework_of
from convfuzz.oracles.registry import is_known, suspect_device, takes_part
from convfuzz.oracles.selection import available_oracles
from convfuzz.strategies.case import ConvCase

REPRODUCES = "reproduces"
FIXED = "fixed"
REGRESSED = "regressed"
STILL_FIXED = "still fixed"
SKIPPED = "skipped"
# Gone here, but a kernel-selecting fact of this machine differs from the one it was found on: another kernel ran,
# so nothing can be said about the one that has the bug. Never counts as fixed.
INCONCLUSIVE = "inconclusive"
REPLAY_RUNS = 3


@dataclass(frozen=True)
class ReplayResult:
    """What replaying one finding showed. state is one of the constants above."""

    record: FindingRecord
    state: str
    verdict: Verdict | None = None
    reason: str = ""
    # What each oracle returned on the last run (empty when the finding could not be run here).
    outcomes: Mapping[str, Outcome] = field(default_factory=dict)
    # Each isolated oracle's interpreter versions as its worker reported them (python, numpy, its framework's).
    versions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def as_recorded(self) -> bool:
        """True when the finding behaves as its stored status says (or could not be checked here)."""
        return self.state in (REPRODUCES, STILL_FIXED, SKIPPED, INCONCLUSIVE)

    def line(self) -> str:
        """One line for the terminal: '<id>: reproduces (open) - <message>'."""
        detail = self.reason or (self.verdict.message.splitlines()[0] if self.verdict and self.verdict.message else "")
        advice = {
            FIXED: " - no longer reproduces: mark it fixed (replay --update does)",
            REGRESSED: " - marked fixed but reproduces again",
            INCONCLUSIVE: " - cannot tell: status kept (only a machine with the same kernel-selecting facts, or "
            "replay --accept-other-hardware, can call it fixed)",
        }.get(self.state, "")
        return f"{self.record.id}: {self.state} ({self.record.status}){advice}" + (f" - {detail}" if detail else "")


def reproduces(record: FindingRecord, verdict: Verdict) -> bool:
    """The stored discrepancy is still there: some stored suspect is still judged wrong."""
    return verdict.discrepant and bool(set(verdict.suspects) & set(record.suspects))


def model_difference(suspect: str, device: str, model: str) -> str | None:
    """For a finding whose `device` is known by its model name alone: why a no-show here says nothing about it - the
    device here is another model, or the name covers several (names_one_model) - or None."""
    now = device_model(device)
    if now is None:
        return None  # no such device here: the replay skips the suspect
    if now != model:
        return f"{suspect} ran on {device} {model!r} when it was found; this machine's is {now!r}"
    if not names_one_model(model):
        return (f"{suspect} ran on a {device} recorded only as {model!r}, a name that covers models with other "
                "kernels")
    return None


def oracles_in(record: FindingRecord, place: str | None) -> tuple[str, ...]:
    """The oracles a replay of `record` runs: its own; in another environment `place`, each suspect runs there under
    its own name and the other oracles of the suspects' frameworks are left out (they would be that environment's
    same framework again), while every other oracle runs as recorded."""
    if place is None:
        return record.oracles
    frameworks = {framework_of(s) for s in record.suspects}
    return tuple(n for n in record.oracles if n in record.suspects or framework_of(n) not in frameworks)


def hardware_differences(record: FindingRecord, here: Mapping[str, Any]) -> list[str]:
    """The kernel-selecting facts (oracles.kernel_facts) that differ between where `record` was found and `here`,
    for its suspects' frameworks on the devices they ran on: one line each, e.g. 'found with avx512_bf16, this CPU
    lacks it'. Where the recorded facts say nothing of a suspect's device, its recorded model name stands in for
    them (model_difference)."""
    lines: list[str] = []
    for suspect in record.suspects:
        device = suspect_device(suspect, record.case.config.device)
        framework = framework_of(suspect)
        found = fact_differences(recorded_facts(record.environment, suspect), here, [framework], device)
        model = unrecorded_device_model(record.environment, framework, device)
        legacy = None if model is None else model_difference(suspect, device, model)
        for line in [*found, *([legacy] if legacy else [])]:
            if line not in lines:
                lines.append(line)
    return lines


def replay_record(
    record: FindingRecord, oracles: Mapping[str, Oracle] | None = None, here: Mapping[str, Any] | None = None,
    accept_other_hardware: bool = False, environments: Mapping[str, Environment] | None = None,
    place: str | None = None,
) -> ReplayResult:
    """Run `record`'s case on its oracles (or the given ones) and say whether it still reproduces.

    A finding that does not show here where a kernel-selecting fact differs from where it was found is
    INCONCLUSIVE, not fixed, unless `accept_other_hardware`. `here` gives this machine's facts (by default those of
    the processes that run the oracles). `environments` are the named ones (oracles.environments) an oracle such as
    'torch@nightly' runs in; with `place`, one of them, the suspects run in that environment (oracles_in)."""
    owned = oracles is None
    if oracles is None:
        environments = environments or {}
        names = oracles_in(record, place)
        moved = {n: place for n in names if place is not None and n in record.suspects and is_known(n)}
        unnamed = {n: f"its environment {environment_of(n)!r} is not named here (convfuzz.toml or --environment)"
                   for n in names if n not in moved and is_known(n) and environment_of(n) not in (None, *environments)}
        known = tuple(n for n in names if is_known(n) and n not in unnamed)
        # Isolated: a stored crash or hang must not take the replay down with it.
        usable, missing = available_oracles(known, isolate=True, environments=environments, moved=moved)
        unknown = [n for n in names if not is_known(n)]
        absent = {**unnamed, **missing, **{n: "not a built-in oracle" for n in unknown}}
        device = record.case.config.device
        for name in [n for n, o in usable.items() if device not in o.devices()]:
            absent[name] = f"does not run on {device} here"
            close_oracles({name: usable.pop(name)})
        for name in [n for n, o in usable.items() if not takes_part(n, o, record.case)]:
            absent[name] = f"does not take part in a {record.case.config.op_name} case"
            close_oracles({name: usable.pop(name)})
        # An invalid-stream case holds each oracle to its rule alone; any other needs two voters.
        if any(s in absent for s in record.suspects) or len(usable) < (1 if record.case.config.defect else 2):
            close_oracles(usable)
            reasons = "; ".join(f"{n}: {why}" for n, why in absent.items())
            return ReplayResult(record, SKIPPED, reason=f"cannot run its oracles here ({reasons})")
        oracles = usable
    # Only the oracles that take part in such a case (the engine's rule), also when the caller hands them in.
    oracles = {name: oracle for name, oracle in oracles.items() if takes_part(name, oracle, record.case)}
    facts_here = dict(here) if here is not None else merge_facts(kernel_facts_of(o) for o in oracles.values())
    versions = {name: dict(getattr(oracle, "versions", None) or {}) for name, oracle in oracles.items()}
    outcomes: dict[str, Outcome] = {}

    def evaluate(case: ConvCase) -> Verdict:
        outcomes.clear()
        outcomes.update({name: Outcome.of(oracle, case) for name, oracle in oracles.items()})
        return judge(case, outcomes)

    try:
        # An open finding is called gone only after REPLAY_RUNS clean runs: some real bugs are intermittent (an
        # out-of-bounds read sometimes finds zeros), and "mark it fixed" must not rest on one lucky run. The calls
        # a stale-buffer finding needs come first each time.
        runs = REPLAY_RUNS if record.status != "fixed" else 1
        verdict, still = rerun_until_shown(
            evaluate, record.case, lambda v: reproduces(record, v), runs, record.preceding
        )
        outcomes = dict(outcomes)  # the last run's (the preceding calls' are not kept)
    finally:
        if owned:
            close_oracles(oracles)
    if record.status != "fixed":  # open, or regressed: is it still there?
        differences = [] if still or accept_other_hardware else hardware_differences(record, facts_here)
        if differences:
            reason = "gone here, but another kernel may have run: " + "; ".join(differences)
            return ReplayResult(record, INCONCLUSIVE, verdict, reason, outcomes, versions)
        state = REPRODUCES if still else FIXED
    else:
        state = REGRESSED if still else STILL_FIXED
    return ReplayResult(record, state, verdict, outcomes=outcomes, versions=versions)


# History entries `replay --update` keeps in a finding (each {"versions": {...}, "date": ...}): when the discrepancy
# was last seen, the replay that first found it gone, and the replay that saw a fixed finding come back.
LAST_SEEN = "last_seen"
FIXED_IN = "fixed_in"
REGRESSED_IN = "regressed_in"


def updated_record(result: ReplayResult, versions: Mapping[str, object], now: datetime) -> FindingRecord | None:
    """The finding as `replay --update` stores it after `result`, or None where there is nothing to store.

    reproduces -> status kept (open or regressed), last_seen updated; fixed (gone on every run) -> status fixed,
    fixed_in; regressed (a fixed finding reproduces) -> status regressed, regressed_in and last_seen; a finding
    still fixed or not checkable here is left as it is."""
    record = result.record
    stamp = {"versions": dict(versions), "date": now.isoformat(timespec="seconds")}
    history = dict(record.history)
    if result.state == REPRODUCES:
        status = record.status
        history[LAST_SEEN] = stamp
    elif result.state == REGRESSED:
        status = "regressed"
        history[LAST_SEEN] = history[REGRESSED_IN] = stamp
    elif result.state == FIXED:
        status = "fixed"
        history[FIXED_IN] = stamp
    else:
        return None
    return replace(record, status=status, history=history)
