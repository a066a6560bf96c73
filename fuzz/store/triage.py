"""A person's verdict on a finding, stored in it: `convfuzz triage ID [--class ...] [--upstream URL] [--note TEXT]
[--bug KEY] [--whole-bug]`.

class     bug (a real defect of the framework; the default), expected (behaviour its maintainers call by design,
          e.g. half-precision accumulation: no upstream issue is drafted), or artifact (convfuzz's own mistake)
upstream  the issue that tracks it (a URL)
note      why, in a sentence or two
date      when the verdict was given (UTC)
bug       (with --bug) the bug a person filed the finding under, which automatic grouping then keeps

--bug KEY files the finding under another bug (two root causes the grouping kept apart that a person knows to be
one); --whole-bug gives the verdict to every finding of the finding's bug.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from convfuzz.fuzz.store.bugs import group_bugs
from convfuzz.fuzz.store.records import TRIAGE_CLASSES, FindingRecord

_URL = re.compile(r"^https?://\S+$")
_BUG = re.compile(r"^bug-[0-9a-f]{8}$")
# Classes whose findings get no upstream-issue draft: nothing to report upstream.
NOT_REPORTED = ("expected", "artifact")


class TriageError(ValueError):
    """A triage request that names a bad value (the message says which)."""


@dataclass(frozen=True)
class TriageVerdict:
    """What one `convfuzz triage` call sets; None leaves a field as it is."""

    triage_class: str | None = None
    upstream: str | None = None
    note: str | None = None
    bug: str | None = None

    def check(self) -> None:
        """Raise TriageError naming the first bad value, or when nothing is set."""
        if self.triage_class is not None and self.triage_class not in TRIAGE_CLASSES:
            raise TriageError(f"--class {self.triage_class!r} is not one of {', '.join(TRIAGE_CLASSES)}")
        if self.upstream is not None and not _URL.match(self.upstream):
            raise TriageError(f"--upstream {self.upstream!r} is not an http(s) URL")
        if self.bug is not None and not _BUG.match(self.bug):
            raise TriageError(f"--bug {self.bug!r} is not 'bug-' and eight hex digits")
        if self.note is not None and not self.note.strip():
            raise TriageError("--note is empty")
        if all(v is None for v in (self.triage_class, self.upstream, self.note, self.bug)):
            raise TriageError("nothing to store: give --class, --upstream, --note or --bug")

    def apply(self, record: FindingRecord, now: datetime | None = None) -> FindingRecord:
        """`record` with this verdict stored (fields not given keep their stored value)."""
        triage: dict[str, Any] = dict(record.triage)
        given = {"class": self.triage_class, "upstream": self.upstream, "note": self.note}
        triage.update({k: v for k, v in given.items() if v is not None})
        if any(v is not None for v in given.values()):
            triage.setdefault("class", "bug")
            triage["date"] = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        if self.bug is not None:
            triage["bug"] = self.bug  # a person's filing: the grouping keeps it (fuzz.store.bugs)
        return replace(record, triage=triage, bug=self.bug or record.bug)


def triage_line(record: FindingRecord) -> str:
    """'expected (2026-12-01): sums float16 in float16; upstream https://...' or '' when not triaged."""
    triage = record.triage
    if not triage:
        return ""
    line = f"{triage.get('class', 'bug')}" + (f" ({str(triage['date'])[:10]})" if triage.get("date") else "")
    if triage.get("note"):
        line += f": {triage['note']}"
    if triage.get("upstream"):
        line += f"; upstream {triage['upstream']}"
    return line


def not_reported(record: FindingRecord) -> str:
    """Why no upstream issue is drafted for a triaged finding ('' when one may be)."""
    triage_class = record.triage.get("class")
    if triage_class in NOT_REPORTED:
        return f"triaged as {triage_class}" + (f": {record.triage['note']}" if record.triage.get("note") else "")
    return ""


def triage_targets(record: FindingRecord, everything: Sequence[FindingRecord], whole_bug: bool) -> list[str]:
    """The ids a verdict on `record` goes to: itself, or every finding of its bug."""
    if not whole_bug:
        return [record.id]
    for bug in group_bugs(everything):
        if any(f.id == record.id for f in bug.findings):
            return [f.id for f in bug.findings]
    return [record.id]
