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

Keys are stored in each finding (`bug`), so they stay stable as more findings arrive; a person may move a finding to
another bug (`convfuzz triage ID --bug KEY`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from fuzz.consensus import framework_of
from fuzz.records import FindingRecord
from oracles.pinned import split_pin
from oracles.registry import is_known, suspect_device
from strategies.case import ConvConfig

ERROR_KINDS = ("error_mismatch", "crash", "timeout")
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
    pads = cfg.pad_pairs()
    stride = any(s > 1 for s in cfg.stride)
    found = [
        ("groups", cfg.groups > 1),
        ("batch groups", cfg.batch_groups > 1),
        ("negative padding", any(lo < 0 or hi < 0 for lo, hi in pads)),
        ("padding", any(lo > 0 or hi > 0 for lo, hi in pads)),
        (f"padding_mode {cfg.padding_mode}", cfg.padding_mode != "zeros"),
        ("stride", stride and not cfg.transposed),
        ("lhs dilation", stride and cfg.transposed),
        ("dilation", any(d > 1 for d in cfg.dilation)),
        ("output_padding", cfg.transposed and any(cfg.output_padding)),
        (f"{cfg.layout}", cfg.layout != "contiguous"),
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



@dataclass(frozen=True)
class BugClass:
    """What two findings of one bug share (module docstring): `parts` in words, and the trigger features that tell
    bugs of one class apart (None where the class alone decides)."""

    parts: tuple[str, ...]
    features: tuple[str, ...] | None  # in trigger_features' order

    def key(self) -> str:
        """The key of a bug whose core is these features."""
        core = "" if self.features is None else " + ".join(self.features)
        return "bug-" + hashlib.sha256("|".join((*self.parts, core)).encode()).hexdigest()[:8]

    def what(self) -> str:
        """'torch, cpu: wrong values; groups + stride'."""
        detail = [*self.parts[2:]]
        if self.features is not None:
            detail.append(" + ".join(self.features) or "no special feature")
        return ", ".join(self.parts[:2]) + ": " + "; ".join(detail)

    def related(self, other: BugClass) -> bool:
        """True when a finding of this class and features belongs to a bug of `other` (same class, and one feature
        set within the other)."""
        if self.parts != other.parts:
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
    components = ",".join(sorted({component(s) for s in record.suspects}))
    devices = ",".join(sorted({suspect_device(s, cfg.device) for s in record.suspects}))
    features: tuple[str, ...] | None = trigger_features(cfg, bool(record.preceding))
    what: tuple[str, ...]
    if cfg.defect:
        what, features = (f"{record.kind} on an invalid case ({cfg.defect})",), None
    elif record.kind in ERROR_KINDS:
        error, features = _error_class(record, features or ())
        what = (error,)
    elif record.deviation == "reduced-accumulation":
        what, features = (record.deviation, f"{kernel_family(cfg)} kernel"), None
    elif record.deviation:
        what = (record.deviation,)
    else:
        what = ("non-finite values" if record.kind == "nonfinite" else "wrong values",)
    return BugClass((components, devices, *what), features)


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
    """The bugs of a findings folder, built finding by finding (oldest first): a finding with a stored key joins that
    bug; one without joins the first related bug (module docstring) or starts its own."""

    def __init__(self, records: Iterable[FindingRecord] = ()) -> None:
        self.bugs: dict[str, Bug] = {}
        for record in sorted(records, key=lambda r: (r.created, r.id)):
            self.add(record)

    def key_for(self, record: FindingRecord) -> str:
        """The bug `record` belongs to: its stored key, else the first related bug's, else a new one's."""
        if record.bug:
            return record.bug
        found = bug_class(record)
        related = [b for b in self.bugs.values() if found.related(b.kind)]
        if related:
            core = min(related, key=lambda b: (len(b.kind.features or ()), b.key))
            return core.key
        return found.key()

    def add(self, record: FindingRecord) -> FindingRecord:
        """File `record` under its bug; returns it with its key set."""
        key = self.key_for(record)
        filed = record if record.bug == key else replace(record, bug=key)
        bug = self.bugs.get(key)
        if bug is None:
            self.bugs[key] = Bug(key, bug_class(filed), [filed])
        else:
            bug.findings.append(filed)
            found = bug_class(filed)
            if found.parts == bug.kind.parts and found.features is not None and bug.kind.features is not None and (
                set(found.features) < set(bug.kind.features)
            ):
                bug.kind = found  # a smaller core: the words say what the bug needs at least
        return filed

    def ordered(self) -> list[Bug]:
        """The bugs, most findings first (then by key)."""
        return sorted(self.bugs.values(), key=lambda b: (-len(b.findings), b.key))


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
