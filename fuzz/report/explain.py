"""`convfuzz explain ID`: one finding in plain words, for the person deciding what to do about it.

Who is the outlier and why the others are believed; the case as a user writes it with each framework; the
worst element and what every oracle returned there next to the exact result; error against bound; whether the
exact tier applies; where it was found and where it is looked at; and an issue ready for the framework's tracker.
Values come from a fresh isolated replay on this machine unless the replay is skipped (then from the finding).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convfuzz.fuzz.campaign.bisect import releases_line
from convfuzz.fuzz.campaign.environment import versions
from convfuzz.fuzz.campaign.replay import REPRODUCES, ReplayResult, replay_record
from convfuzz.fuzz.judge.bounds import MANTISSA_DIGITS
from convfuzz.fuzz.judge.decide import NUMERIC_KINDS, PROCESS_KINDS, REFERENCE, agreement, stored_error
from convfuzz.fuzz.judge.deviation import DEVIATION_WORDS
from convfuzz.fuzz.judge.verdict import yardstick
from convfuzz.fuzz.report.upstream import UpstreamIssue, build_issue, no_issue_reason
from convfuzz.fuzz.store.bugs import Bug, group_bugs
from convfuzz.fuzz.store.folder import READ_ERRORS, read_finding
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.fuzz.store.script import script_suspect
from convfuzz.fuzz.store.triage import not_reported, triage_line
from convfuzz.oracles.base import Outcome
from convfuzz.oracles.framework import frameworks
from convfuzz.oracles.user_calls import user_runner

KIND_MEANINGS = {
    "precision": "beyond the rounding bound of a correct {dtype} implementation, but within a weaker, recognisable "
    "contract (inputs or sums kept in a narrower type): precision lost, not a wrong formula",
    "mismatch": "beyond even the weaker precision contract: a wrong value",
    "nonfinite": "inf/NaN in the inputs spread where the IEEE rules say they cannot, or vanished where they must show",
    "error_mismatch": "an error where the others computed a result, or a result where the others refused",
    "crash": "the process died (a signal, an abort or MemoryError) instead of answering",
    "timeout": "no answer within the time limit",
}


class ExplainError(Exception):
    """The finding to explain cannot be found or read; the message names it."""


def find_record(folder: Path, ident: str) -> FindingRecord:
    """The finding `ident` names: a path to its JSON file, its id in `folder`, or a prefix of exactly one id, or
    the start of exactly one id's hash part (the text after a '-': '97e80552')."""
    path = Path(ident)
    if path.suffix == ".json" and path.is_file():
        return _load(path)
    exact = folder / f"{ident}.json"
    if exact.is_file():
        return _load(exact)
    searchable = folder.is_dir() and "/" not in ident and "*" not in ident
    matches = sorted(folder.glob(f"{ident}*.json")) if searchable else []
    if not matches and searchable:  # the hash at the end of every id is what people copy: 97e80552
        matches = sorted(folder.glob(f"*-{ident}*.json"))
    if len(matches) == 1:
        return _load(matches[0])
    if matches:
        names = ", ".join(m.stem for m in matches[:5])
        raise ExplainError(f"{ident!r} matches {len(matches)} findings in {folder} ({names}...): give more of the id")
    raise ExplainError(f"no finding {ident!r} in {folder}")


def _load(path: Path) -> FindingRecord:
    try:
        return read_finding(path)
    except READ_ERRORS as exc:
        raise ExplainError(f"{path}: unreadable finding ({exc})") from None


def _number(value: Any) -> Any:
    """A NumPy scalar as JSON: a float, [re, im] for a complex one."""
    if np.iscomplexobj(value):
        return [float(np.real(value)), float(np.imag(value))]
    return float(np.real(value))


@dataclass(frozen=True)
class AtElement:
    """What one oracle returned at the element the explanation is about, against the exact result there."""

    oracle: str
    index: tuple[int, ...]
    value: Any = None  # a float ([re, im] complex), None where it raised or crashed
    error: str | None = None
    abs_error: float | None = None
    bound: float | None = None  # what the judge allows this oracle there (its bound plus the reference's)

    @property
    def within(self) -> bool | None:
        """Whether the value is within its bound (None when there is no value)."""
        if self.abs_error is None or self.bound is None:
            return None
        return self.abs_error <= self.bound

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "oracle": self.oracle, "index": list(self.index), "value": self.value, "error": self.error,
            "abs_error": self.abs_error, "bound": self.bound, "within": self.within,
        }


@dataclass(frozen=True)
class Explanation:
    """Everything `convfuzz explain` says about one finding (see the module docstring)."""

    record: FindingRecord
    suspect: str
    agreeing: tuple[str, ...]
    why: str
    calls: dict[str, str]
    expected: Any
    elements: tuple[AtElement, ...]
    values_from: str
    error_vs_bound: dict[str, Any]
    exact_tier: str
    environment_here: dict[str, Any]
    replay: dict[str, str] | None
    issue: UpstreamIssue | None
    no_issue: str = ""
    agreement: dict[str, dict[str, bool]] = field(default_factory=dict)
    bug: Bug | None = None  # the bug the finding belongs to, with the folder's other findings of it

    def to_json(self) -> dict[str, Any]:
        """The JSON of `convfuzz explain --json`."""
        record = self.record
        return {
            "id": record.id, "kind": record.kind, "kind_meaning": kind_meaning(record), "status": record.status,
            "suspects": list(record.suspects), "suspect": self.suspect, "agreeing": list(self.agreeing),
            "why": self.why, "agreement": self.agreement, "calls": self.calls, "expected": self.expected,
            "elements": [e.to_json() for e in self.elements], "values_from": self.values_from,
            "error_vs_bound": self.error_vs_bound, "exact_tier": {"applies": record.exact_tier, "why": self.exact_tier},
            "environment": {"found": record.environment, "here": self.environment_here},
            "replay": self.replay, "issue": self.issue.to_json() if self.issue else None, "no_issue": self.no_issue,
            "deviation": record.deviation, "triage": record.triage, "releases": releases_line(record),
            "bug": None if self.bug is None else {
                "key": self.bug.key, "what": self.bug.what(), "findings": [f.id for f in self.bug.findings],
            },
        }


def kind_meaning(record: FindingRecord) -> str:
    """What the finding's kind means, in words."""
    if record.case.config.defect and record.kind == "error_mismatch":
        return f"returned numbers for an invalid configuration ({record.case.config.defect}) that must be refused"
    return KIND_MEANINGS[record.kind].format(dtype=record.case.config.dtype)


def exact_tier_reason(record: FindingRecord) -> str:
    """Why the exact tier does or does not apply to the case."""
    case, cfg = record.case, record.case.config
    if cfg.defect or record.kind not in NUMERIC_KINDS:
        return "not applicable: no numbers are compared"
    tensors = list(case.result_tensors().values())
    if not all(np.array_equal(t, np.round(t)) for t in tensors):
        return "no: some inputs are not integers, so a correct result may differ by rounding (within the bound)"
    digits = MANTISSA_DIGITS[cfg.dtype]
    largest = float(yardstick(case).abs_sum.max()) if case.x.size else 0.0
    if record.exact_tier:
        return (
            f"yes: every input is an integer and every partial sum is at most {largest:g} <= 2^{digits}, so any "
            "correct summation order gives the exact result: any difference at all is a bug"
        )
    return f"no: the inputs are integers, but partial sums reach {largest:g} > 2^{digits}, where {cfg.dtype} rounds"


def _calls(record: FindingRecord, suspect: str) -> dict[str, str]:
    """The case as a user writes it: the plain call of each framework (oracles.framework), and the suspect's own
    call when it differs."""
    calls: dict[str, str] = {}
    cfg = record.case.config
    for name in dict.fromkeys((*frameworks(), suspect)):
        source = user_runner(name, cfg)
        if source is not None:
            calls[name] = source
        elif name in frameworks():
            calls[name] = f"# {name} has no call for this case (" + (
                f"{name} has no batch_group_count)" if cfg.batch_groups > 1 else "not computed)"
            )
    return calls


def _fresh_elements(
    record: FindingRecord, outcomes: Mapping[str, Outcome], index: tuple[int, ...]
) -> tuple[Any, tuple[AtElement, ...], dict[str, dict[str, bool]]]:
    """Every oracle at `index` of the freshly computed outputs, and which pairs of oracles agree."""
    yard = yardstick(record.case)
    values = {n: o.value for n, o in outcomes.items()}
    failures = {n: o.failure for n, o in outcomes.items() if o.failure is not None}
    pair_bound, consistent = agreement(values, yard, failures)
    elements = []
    for name, outcome in outcomes.items():
        value = outcome.value
        if value is None or value.shape != yard.exact.shape or not index:
            shape = None if value is None else value.shape
            elements.append(AtElement(name, index, error=outcome.error or f"returned an output of shape {shape}"))
            continue
        actual, exact = value[index], yard.exact[index]
        same = actual == exact or (np.isnan(actual) and np.isnan(exact))
        with np.errstate(invalid="ignore"):
            error = 0.0 if same else float(np.abs(actual - exact))
        elements.append(AtElement(
            name, index, _number(actual), abs_error=float("inf") if np.isnan(error) else error,
            bound=float(pair_bound(name, REFERENCE)[index]),
        ))
    names = list(outcomes)
    pairs = {a: {b: consistent(a, b) for b in names if b != a} for a in names}
    expected = _number(yard.exact[index]) if index and yard.exact.size else None
    return expected, tuple(elements), pairs


def _stored_elements(record: FindingRecord) -> tuple[Any, tuple[AtElement, ...]]:
    """Every oracle's stored observation, each at its own worst element (no replay)."""
    elements = []
    expected = None
    for name, seen in record.observed.items():
        index = tuple(seen.get("worst_index", ()))
        if "error" in seen or "accepted_shape" in seen:
            what = seen.get("error") or f"returned an output of shape {seen.get('accepted_shape')}"
            elements.append(AtElement(name, index, error=str(what)))
            continue
        elements.append(AtElement(name, index, seen.get("actual"), abs_error=stored_error(seen),
                                  bound=seen.get("bound")))
        if name in record.suspects and expected is None:
            expected = seen.get("expected")
    return expected, tuple(elements)


def _why(record: FindingRecord, suspect: str, agreeing: tuple[str, ...], pairs: dict[str, dict[str, bool]]) -> str:
    """Why `suspect` is the outlier, in words."""
    cfg = record.case.config
    if cfg.defect:
        return (
            f"The configuration is invalid on purpose ({cfg.defect}): every framework must refuse it, and each is "
            f"judged on its own. {suspect} did not refuse it."
        )
    if record.kind in PROCESS_KINDS:
        others = ", ".join(agreeing) or "the other oracles"
        return f"{suspect} {'crashed' if record.kind == 'crash' else 'hung'}, while {others} answered."
    others = ", ".join(agreeing)
    suspects = ", ".join(record.suspects)
    plural = len(record.suspects) > 1
    if len(agreeing) > 1:
        agree = f"{others} agree with each other within their summed rounding bounds at every element; {suspects} "
        agree += f"{'do' if plural else 'does'} not."
    else:  # one party left: nothing to agree with but itself
        agree = f"{suspects} {'are' if plural else 'is'} outside the summed rounding bounds of {others or 'the rest'}."
    text = (
        f"{agree} Leaving out {suspects} is the smallest change that makes every remaining pair agree, so "
        f"{'they are the suspects' if plural else 'it is the suspect'}."
    )
    if REFERENCE in agreeing and any(not pairs.get(a, {}).get(b, True) for a in agreeing for b in agreeing if a != b):
        text += (
            " Not every pair of the agreeing oracles agrees here: each framework among them is within its own "
            "precision contract of the float64 reference, so the reference stays the truth (a shared rounding "
            "shortcut of two frameworks does not outvote it)."
        )
    if pairs:
        lines = [
            f"{a} ~ {b}: {'agree' if ok else 'DISAGREE'}"
            for i, a in enumerate(pairs) for b, ok in pairs[a].items() if list(pairs).index(b) > i
        ]
        text += "\nPairs (this replay): " + "; ".join(lines)
    return text


def _main_suspect(record: FindingRecord) -> str:
    return script_suspect(record) or record.suspects[0]


def explain(
    record: FindingRecord, replay: bool = True, environment_here: dict[str, Any] | None = None,
    replayer: Callable[[FindingRecord], ReplayResult] = replay_record, folder: Sequence[FindingRecord] = (),
) -> Explanation:
    """Explain `record`; with `replay`, every value comes from a fresh isolated run of its oracles here. `folder`:
    the findings stored with it, to name the bug they share."""
    suspect = _main_suspect(record)
    result = replayer(record) if replay else None
    reproduced = result is not None and result.state == REPRODUCES and result.verdict is not None
    observation = dict(record.observed.get(suspect, {}))
    if reproduced and result is not None and result.verdict is not None:
        fresh = result.verdict.observations.get(suspect)
        if fresh is not None:
            observation = fresh.to_json()
    index = tuple(int(i) for i in observation.get("worst_index", ()))
    pairs: dict[str, dict[str, bool]] = {}
    numeric = record.kind in NUMERIC_KINDS and not record.case.config.defect
    if result is not None and result.outcomes and numeric and index:
        expected, elements, pairs = _fresh_elements(record, result.outcomes, index)
        values_from = f"a fresh replay on this machine ({result.state}), every oracle at the suspect's worst element"
    else:
        expected, elements = _stored_elements(record)
        values_from = "the finding as stored when it was found, each oracle at its own worst element"
        if result is not None and result.outcomes and not numeric:
            elements = tuple(
                AtElement(n, (), error=o.error or "answered") for n, o in result.outcomes.items()
            )
            values_from = f"a fresh replay on this machine ({result.state})"
    agreeing = tuple(n for n in record.oracles if n not in record.suspects)
    here = environment_here if environment_here is not None else _environment()
    issue = None
    if script_suspect(record) is not None and not not_reported(record):
        issue = build_issue(record, suspect, observation, list(agreeing), here if reproduced else record.environment)
    return Explanation(
        record=record,
        suspect=suspect,
        agreeing=agreeing,
        why=_why(record, suspect, agreeing, pairs),
        calls=_calls(record, suspect),
        expected=expected,
        elements=elements,
        values_from=values_from,
        error_vs_bound={k: observation.get(k) for k in (
            "max_error", "abs_error", "actual", "expected", "bound", "ratio", "worst_index", "error"
        ) if k in observation},
        exact_tier=exact_tier_reason(record),
        environment_here=here,
        replay=None if result is None else {"state": result.state, "reason": result.reason},
        issue=issue,
        no_issue="" if issue is not None else (not_reported(record) or no_issue_reason(record)),
        agreement=pairs,
        bug=_bug_of(record, folder),
    )


def _environment() -> dict[str, Any]:
    from convfuzz.fuzz.campaign.environment import environment

    return dict(environment())


def _format_value(value: Any) -> str:
    """A stored number as its shortest exact decimal (Python's repr): the VALUES table's value minus its exact
    value is then its |err| to every digit, however small the error is next to the value."""
    if value is None:
        return "-"
    if isinstance(value, list):
        real, imag = float(value[0]), float(value[1])
        return f"{real!r}{'-' if np.signbit(imag) else '+'}{abs(imag)!r}j"
    return repr(float(value)) if isinstance(value, float | int) and not isinstance(value, bool) else str(value)


def _versions(environment: Mapping[str, Any]) -> str:
    return ", ".join(f"{n} {v}" for n, v in versions(environment).items()) + (
        f"; {environment.get('platform')}; devices {environment.get('devices')}"
    )


def _bug_of(record: FindingRecord, folder: Sequence[FindingRecord]) -> Bug | None:
    """The bug `record` belongs to among the findings of its folder (itself included once)."""
    together = [*(f for f in folder if f.id != record.id), record]
    return next((b for b in group_bugs(together) if any(f.id == record.id for f in b.findings)), None)


def _bug_lines(explanation: Explanation) -> list[str]:
    """BUG: the bug's headline, its other findings, and a person's verdict where one is stored."""
    lines = []
    bug = explanation.bug
    if bug is not None:
        lines.append(f"BUG: {bug.headline()}")
        others = [f.id for f in bug.findings if f.id != explanation.record.id]
        if others:
            lines.append(f"  its other findings: {', '.join(others)}")
    verdict = triage_line(explanation.record)
    lines.append(f"TRIAGE: {verdict}" if verdict else "TRIAGE: none yet (convfuzz triage ID --class ... --note ...)")
    return lines


def render_text(explanation: Explanation) -> str:
    """The plain-text explanation `convfuzz explain` prints."""
    record = explanation.record
    cfg = record.case.config
    lines = [
        f"finding {record.id}",
        f"  status {record.status}; found {record.created}; {cfg.op_name}, {cfg.dtype}, {cfg.device}, layout "
        f"{cfg.layout}",
        "",
        f"WHAT: {record.kind} - {kind_meaning(record)}.",
        f"  {record.message}".replace("\n", "\n  "),
        *([f"  deviation class: {record.deviation} ({DEVIATION_WORDS[record.deviation]})"] if record.deviation else []),
        *([] if record.shrink_complete else [
            "  not fully shrunk: the time budget ended its shrinking (a later campaign with the folder's example "
            "database goes on from it)"
        ]),
        *_bug_lines(explanation),
        "",
        f"WHO: outlier {', '.join(record.suspects)}; agreeing {', '.join(explanation.agreeing) or 'none'}.",
        *("  " + line for line in explanation.why.splitlines()),
        "",
        "THE CASE AS A USER WRITES IT (X, W, B, G: the inputs, in the finding and in the issue script below)",
    ]
    for name, source in explanation.calls.items():
        lines += [f"  -- {name} --", *("    " + line for line in source.rstrip().splitlines())]
    lines += ["", f"VALUES, from {explanation.values_from}:"]
    if explanation.expected is not None:
        at = explanation.error_vs_bound.get("worst_index")
        where = f" at out[{', '.join(map(str, at))}]" if at else ""
        lines.append(f"  exact (float64 reference){where}: {_format_value(explanation.expected)}")
    for element in explanation.elements:
        where = "out[" + ", ".join(map(str, element.index)) + "]" if element.index else ""
        if element.error is not None:
            lines.append(f"  {element.oracle:24} {where} {element.error}")
            continue
        verdict = {True: "within", False: "OUTSIDE", None: ""}[element.within]
        lines.append(
            f"  {element.oracle:24} {where} = {_format_value(element.value):>18}   |err| "
            f"{_format_value(element.abs_error):>10}  bound {_format_value(element.bound):>10}  {verdict}"
        )
    bound = explanation.error_vs_bound
    if "max_error" in bound:
        at = stored_error(bound)
        lines.append(
            f"ERROR VS BOUND ({explanation.suspect}): the worst element by err/bound is out{bound.get('worst_index')}: "
            f"|err| {_format_value(at)}, bound {_format_value(bound['bound'])}, {bound['ratio']:.3g} times the bound; "
            f"the largest |err| anywhere in the output is {_format_value(bound['max_error'])}"
        )
    if record.kind in NUMERIC_KINDS and not cfg.defect:
        lines.append(f"EXACT TIER: {explanation.exact_tier}")
    lines += [
        "",
        f"ENVIRONMENT when found: {_versions(record.environment)}",
    ]
    for place, section in (record.environment.get("environments") or {}).items():
        named = ", ".join(f"{n} {v}" for n, v in versions(section.get("versions") or {}).items())
        lines.append(f"  environment {place} (oracles NAME@{place}): {named}")
    releases = releases_line(record)
    if releases:
        lines.append(f"RELEASES: {releases}")
    if explanation.environment_here:
        lines.append(f"ENVIRONMENT here:       {_versions(explanation.environment_here)}")
    if explanation.replay is not None:
        reason = f" ({explanation.replay['reason']})" if explanation.replay["reason"] else ""
        lines.append(f"REPLAY here: {explanation.replay['state']}{reason}")
    lines.append("")
    if explanation.issue is None:
        lines.append(f"UPSTREAM ISSUE: none - {explanation.no_issue}")
    else:
        issue = explanation.issue
        lines += [
            f"UPSTREAM ISSUE for {issue.tracker} ({issue.url}):",
            f"Title: {issue.title}",
            "",
            issue.body,
        ]
    return "\n".join(lines)
