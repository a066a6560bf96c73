"""Bugs, not duplicates: findings that share a root cause grouped under one key ('bug-' and eight hex digits).

A finding is one signature (op, dtype, device, kind, suspects); one bug often shows under many (a grouped-conv bug
in every op and dtype). A finding's *class* is what must agree for two findings to be one bug:

- the component that is wrong: the suspects' frameworks (torch.compile counts apart from torch: another compiler),
  and the devices the suspects ran on;
- what went wrong: wrong values (mismatch, and precision outside a deviation class: a wrong value that happens to be
  small), nonfinite, or the deviation class (reduced-accumulation, nan-through-zero); for a refused or crashed call
  the error: its type and message with numbers, quoted values and addresses stripped, or for a crash the signal
  (or MemoryError) and the first native frame its stderr names (XLA's 'algebraic_simplifier.cc');
- for reduced-accumulation, the kernel family (forward, transposed, gradient): a precision loss needs enough terms,
  and shrinking leaves incidental features behind, so features say nothing there.

Within a class, findings are told apart by their *trigger features*: the structural choices shrinking removes when a
bug does not need them (groups, negative or positive padding, a padding mode, stride or lhs dilation, dilation,
output_padding, a memory layout, bias, a batch, the gradient taken, earlier calls). Shrinking stops at a local
minimum, so a bug that needs only `groups` may be stored with `groups + bias` too: a finding joins a bug of its class
whose features are a subset or a superset of its own (the bug's core is its smallest feature set seen), and starts a
new bug otherwise. The op's rank and the dtype are not features: they are fixed per campaign entry, not shrunk, so
one bug shows in every op and dtype it reaches. A crash whose stderr names a native frame and an error message are
specific enough without features.

The grouping is a function of the findings; each finding stores its key (`bug`) as a copy, which the store keeps in
step when a new finding changes the grouping. A bug's key comes from its oldest finding, so it stays as newer
findings arrive. A person may file a finding under another bug (`convfuzz triage ID --bug KEY`): that choice wins.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from convfuzz.fuzz.judge.decide import ERROR_KINDS
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.oracles.names import framework_of
from convfuzz.oracles.pinned import split_pin
from convfuzz.oracles.registry import is_known, suspect_device
from convfuzz.strategies import features
from convfuzz.strategies.case import ConvConfig

_NATIVE_FRAME = re.compile(r"\b([\w-]+\.(?:cc|cpp|cxx|c|h|hpp|cu|cuh))[:(]\d+")
_SIGNAL = re.compile(r"killed by (\w+)|exited with status (-?\d+)|(MemoryError)")


def component(suspect: str) -> str:
    """The part of a framework a suspect stands for: 'torch.compile' for torch-compile (Inductor is a compiler of
    its own), else the framework ('torch' for torch-vjp@cuda, 'jax' for jax-eager)."""
    base = split_pin(suspect)[0] if is_known(suspect) else suspect
    return "torch.compile" if base == "torch-compile" else framework_of(suspect)


def trigger_features(config: ConvConfig, preceding: bool = False) -> tuple[str, ...]:
    """The structural features of a (shrunk) case, in a fixed order (module docstring)."""
    cfg = config
    found = [  # the names are part of every stored bug key: keep them
        ("groups", features.grouped(cfg)),
        ("batch groups", features.batch_grouped(cfg)),
        ("negative padding", features.negatively_padded(cfg)),
        ("padding", features.padded(cfg)),
        (f"padding_mode {cfg.padding_mode}", features.padding_mode_other_than_zeros(cfg)),
        ("stride", features.strided(cfg) and not cfg.transposed),
        ("lhs dilation", features.strided(cfg) and cfg.transposed),
        ("dilation", features.dilated(cfg)),
        ("output_padding", features.output_padded(cfg)),
        (f"{cfg.layout}", features.non_contiguous_layout(cfg)),
        ("bias", cfg.bias),
        ("batch", cfg.batch > 1),
        (f"gradient {cfg.gradient}", bool(cfg.gradient)),
        ("earlier calls", preceding),
    ]
    return tuple(name for name, present in found if present)


def kernel_family(config: ConvConfig) -> str:
    """'gradient', 'transposed' or 'forward': which of a framework's kernels computed the case."""
    return "gradient" if config.gradient else "transposed" if config.transposed else "forward"


def normalised_error(text: str) -> str:
    """An error's type and message with what varies between cases stripped: numbers, quoted values, addresses."""
    first = text.splitlines()[0] if text else ""
    first = re.sub(r"0x[0-9a-fA-F]+", "ADDR", first)
    first = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", first)
    first = re.sub(r"\d+(\.\d+)?", "N", first)
    return re.sub(r"\s+", " ", first).strip()[:160]


def crash_signature(text: str) -> tuple[str, str | None]:
    """(how the process ended, the first native source file its stderr names or None) of a crash or timeout."""
    found = _SIGNAL.search(text)
    how = "no answer" if "no answer" in text else (
        next((g for g in found.groups() if g), "crash") if found else normalised_error(text)
    )
    if found and found.group(2):
        how = f"exit status {found.group(2)}"
    frame = _NATIVE_FRAME.search(text)
    return how, frame.group(1) if frame else None



REDUCED = "reduced-accumulation"
WRONG_VALUES = "wrong values"


@dataclass(frozen=True)
class BugClass:
    """What two findings of one bug share (module docstring): the components and device, what went wrong, and the
    trigger features that tell bugs of one class apart (`features`; None where the class alone decides).
    `trigger` is the finding's own features, kept also where they do not decide."""

    components: frozenset[str]
    device: str
    what_went_wrong: tuple[str, ...]
    features: tuple[str, ...] | None  # in trigger_features' order
    trigger: tuple[str, ...] = ()
    family: str = "forward"

    def key(self) -> str:
        """The key of a bug of this class whose core is these features."""
        core = "" if self.features is None else " + ".join(self.features)
        parts = (",".join(sorted(self.components)), self.device, *self.what_went_wrong, core)
        return "bug-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:8]

    def what(self) -> str:
        """'torch, cpu: wrong values; groups + stride'."""
        detail = [*self.what_went_wrong]
        if self.features is not None:
            detail.append(" + ".join(self.features) or "no special feature")
        return f"{','.join(sorted(self.components))}, {self.device}: " + "; ".join(detail)

    def same_class(self, other: BugClass) -> bool:
        """One component in common (a finding may blame torch and torch-vjp, or a planted oracle and torch), the
        same device, the same thing gone wrong."""
        return bool(self.components & other.components) and self.device == other.device and (
            self.what_went_wrong == other.what_went_wrong
        )

    def related(self, other: BugClass) -> bool:
        """True when a finding of this class and features belongs to a bug of `other` (same class, and one feature
        set within the other)."""
        if not self.same_class(other):
            return False
        if self.features is None or other.features is None:
            return self.features is other.features
        mine, theirs = set(self.features), set(other.features)
        return mine <= theirs or theirs <= mine


def _error_class(record: FindingRecord, features: tuple[str, ...]) -> tuple[str, tuple[str, ...] | None]:
    """What went wrong in an error_mismatch, crash or timeout finding, and the features that still tell it apart."""
    errors = [str(record.observed.get(s, {}).get("error", "")) for s in record.suspects]
    if record.kind == "error_mismatch":
        return "raises " + (" / ".join(sorted({normalised_error(e) for e in errors if e})) or "error"), None
    how, frame = crash_signature(next((e for e in errors if e), ""))
    ended = "crash" if record.kind == "crash" else "hang"
    return (f"{ended}: {how} in {frame}", None) if frame is not None else (f"{ended}: {how}", features)


def bug_class(record: FindingRecord) -> BugClass:
    """The class of `record` and its trigger features (module docstring)."""
    cfg = record.case.config
    components = frozenset(component(s) for s in record.suspects)
    device = ",".join(sorted({suspect_device(s, cfg.device) for s in record.suspects}))
    trigger = trigger_features(cfg, bool(record.preceding))
    features: tuple[str, ...] | None = trigger
    what: tuple[str, ...]
    if cfg.defect:
        what, features = (f"{record.kind} on an invalid case ({cfg.defect})",), None
    elif record.kind in ERROR_KINDS:
        error, features = _error_class(record, trigger)
        what = (error,)
    elif record.deviation == REDUCED:
        what, features = (REDUCED, f"{kernel_family(cfg)} kernel"), None
    elif record.deviation:
        what = (record.deviation,)
    else:
        what = ("non-finite values" if record.kind == "nonfinite" else WRONG_VALUES,)
    return BugClass(components, device, what, features, trigger, kernel_family(cfg))


@dataclass
class Bug:
    """One bug: its key, the class and core features it was started with, and its findings (oldest first)."""

    key: str
    kind: BugClass
    findings: list[FindingRecord]

    def what(self) -> str:
        """The class and core features in words."""
        return self.kind.what()

    def reach(self) -> str:
        """Where the bug showed: 'conv1d, conv2d; float32, float64'."""
        ops = sorted({f.case.config.op_name for f in self.findings})
        dtypes = sorted({f.case.config.dtype for f in self.findings})
        return f"{', '.join(ops)}; {', '.join(dtypes)}"

    def headline(self) -> str:
        """'bug-1a2b3c4d (7 findings): torch, cpu: wrong values; groups - conv1d, conv2d; float32'."""
        count = f"{len(self.findings)} finding{'s' if len(self.findings) != 1 else ''}"
        return f"{self.key} ({count}): {self.what()} - {self.reach()}"


class BugBook:
    """The bugs of a set of findings, a function of the findings alone (their stored `bug` keys are a copy of what
    this computes, except a person's choice, `triage.bug`, which wins).

    Findings are filed oldest first: each joins the first related bug (module docstring) or starts its own, keyed
    by its class and features. Then a reduced-accumulation finding that has the trigger features of a wrong-values
    bug of a shared component, device and kernel family is moved into it: a wrong formula whose error happens to be
    small in a half type (a swapped group of similar values) is that bug, not an accumulation choice.
    """

    def __init__(self, records: Iterable[FindingRecord] = ()) -> None:
        self.bugs: dict[str, Bug] = {}
        for record in sorted(records, key=lambda r: (r.created, r.id)):
            self._file(record)
        self._fold_small_wrong_values()

    def _file(self, record: FindingRecord) -> None:
        chosen = record.triage.get("bug")
        found = bug_class(record)
        if isinstance(chosen, str) and chosen:
            key = chosen
        else:
            related = [b for b in self.bugs.values() if found.related(b.kind) and not _chosen(b)]
            key = min(related, key=lambda b: (len(b.kind.features or ()), b.key)).key if related else found.key()
        bug = self.bugs.get(key)
        if bug is None:
            self.bugs[key] = Bug(key, found, [record])
            return
        bug.findings.append(record)
        if found.same_class(bug.kind) and found.features is not None and bug.kind.features is not None and (
            set(found.features) < set(bug.kind.features)
        ):
            bug.kind = found  # a smaller core: the words say what the bug needs at least

    def _fold_small_wrong_values(self) -> None:
        for key, bug in list(self.bugs.items()):
            if bug.kind.what_went_wrong[:1] != (REDUCED,) or _chosen(bug):
                continue
            for finding in list(bug.findings):
                found = bug_class(finding)
                hosts = [
                    other for other in self.bugs.values()
                    if other.kind.what_went_wrong == (WRONG_VALUES,) and not _chosen(other)
                    and bool(other.kind.components & found.components) and other.kind.device == found.device
                    and any(bug_class(f).family == found.family for f in other.findings)
                    and set(other.kind.features or ()) <= set(found.trigger)
                ]
                if hosts:
                    host = min(hosts, key=lambda b: (len(b.kind.features or ()), b.key))
                    host.findings = sorted([*host.findings, finding], key=lambda r: (r.created, r.id))
                    bug.findings.remove(finding)
            if not bug.findings:
                del self.bugs[key]

    def key_of(self, finding_id: str) -> str | None:
        """The key of the bug the finding with this id is filed under (None when it is not in the book)."""
        return next((b.key for b in self.bugs.values() if any(f.id == finding_id for f in b.findings)), None)

    def filed(self) -> list[FindingRecord]:
        """Every finding with its `bug` set to the key it is filed under."""
        return [f if f.bug == bug.key else replace(f, bug=bug.key) for bug in self.bugs.values() for f in bug.findings]

    def ordered(self) -> list[Bug]:
        """The bugs, most findings first (then by key), each finding's `bug` set to its key."""
        bugs = [Bug(b.key, b.kind, [f if f.bug == b.key else replace(f, bug=b.key) for f in b.findings])
                for b in self.bugs.values()]
        return sorted(bugs, key=lambda b: (-len(b.findings), b.key))


def _chosen(bug: Bug) -> bool:
    """True for a bug a person made (`convfuzz triage --bug`): nothing is filed or folded into it automatically."""
    return any(f.triage.get("bug") == bug.key for f in bug.findings)


def file_under_bug(records: Sequence[FindingRecord], record: FindingRecord) -> BugBook:
    """The bugs of `records` with `record` filed among them (a stored record of the same id is replaced)."""
    return BugBook([*(r for r in records if r.id != record.id), record])


def group_bugs(records: Iterable[FindingRecord]) -> list[Bug]:
    """The bugs behind `records`, most findings first; each bug's findings oldest first."""
    return BugBook(records).ordered()


def bugs_line(bugs: Sequence[Bug], noun: str = "finding") -> str:
    """'3 bugs in 9 findings' (or 'no findings')."""
    total = sum(len(b.findings) for b in bugs)
    if not total:
        return f"no {noun}s"
    return f"{len(bugs)} bug{'s' if len(bugs) != 1 else ''} in {total} {noun}{'s' if total != 1 else ''}"


@dataclass(frozen=True)
class RunBugs:
    """A campaign's new findings by bug: bugs the folder did not know before the run, and known bugs the run found
    new signatures of (evidence that they reach further)."""

    new: list[Bug]
    known: list[Bug]

    def lines(self, folder: str) -> list[str]:
        """The summary's lines: each bug's headline, its new findings under it."""
        lines: list[str] = []
        for label, bugs in (("new bug", self.new), ("new finding of known bug", self.known)):
            for bug in bugs:
                lines.append(f"  {label} {bug.headline()}")
                lines += [f"    {folder}/{f.id}.json: {f.message.splitlines()[0]}" for f in bug.findings]
        return lines


def run_bugs(before: Iterable[FindingRecord], after: Iterable[FindingRecord], new_ids: Iterable[str]) -> RunBugs:
    """Sort the findings with `new_ids` (in `after`, the folder once the run is over) into new and known bugs, known
    meaning a bug of `before` (the folder when the run started)."""
    known_keys = set(BugBook(before).bugs)
    wanted = set(new_ids)
    new: list[Bug] = []
    known: list[Bug] = []
    for bug in BugBook(after).ordered():
        fresh = [f for f in bug.findings if f.id in wanted]
        if fresh:
            (known if bug.key in known_keys else new).append(Bug(bug.key, bug.kind, fresh))
    return RunBugs(new, known)
