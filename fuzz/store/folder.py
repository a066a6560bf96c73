"""The findings folder: strict loading and atomic writes of <id>.json + <id>.py pairs."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from convfuzz.fuzz.store.bugs import file_under_bug
from convfuzz.fuzz.store.records import FindingFormatError, FindingRecord
from convfuzz.fuzz.store.script import finding_script

LOCK_NAME = ".convfuzz.lock"


def render_json(document: dict[str, Any]) -> str:
    """One top-level key per line, each value compact: readable in a diff, arrays stay on one line."""
    body = ",\n".join(f" {json.dumps(key)}: {json.dumps(value)}" for key, value in document.items())
    return "{\n" + body + "\n}\n"


class StoreError(RuntimeError):
    """The findings folder cannot be used (not a folder, not writable)."""


@dataclass(frozen=True)
class LoadProblem:
    """A finding file that could not be read, with why."""

    path: Path
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def settled_signatures(records: Iterable[FindingRecord]) -> tuple[str, ...]:
    """The signatures a campaign may skip: those of stored findings that were fully shrunk and confirmed. A finding
    the time budget stopped shrinking stays open to a smaller case of its signature, and one seen only once (an
    unconfirmed crash or hang) to a second sighting."""
    return tuple(r.signature for r in records if r.shrink_complete and r.confirmed)


def improves(new: FindingRecord, stored: FindingRecord) -> bool:
    """Whether `new`, of the same signature, should replace `stored`: a confirmed finding replaces an unconfirmed
    one (whatever its size) and is never replaced by one; otherwise the stored one was not fully shrunk (the time
    budget ended its shrinking), and the new one is fully shrunk or smaller."""
    if new.confirmed != stored.confirmed:
        return new.confirmed
    if stored.shrink_complete:
        return False
    return new.shrink_complete or new.case.element_count() < stored.case.element_count()


class FindingStore:
    """One findings folder. Loading parses JSON only; nothing in it is ever executed."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def check_writable(self) -> None:
        """Create the folder if needed and prove it is writable; raises StoreError naming the path."""
        if self.directory.exists() and not self.directory.is_dir():
            raise StoreError(f"findings folder {self.directory} exists but is not a folder")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.directory, prefix=".write-check-"):
                pass
        except OSError as exc:
            raise StoreError(f"findings folder {self.directory} is not writable ({exc.strerror or exc})") from exc

    def json_paths(self) -> list[Path]:
        """Every <id>.json in the folder, sorted."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.glob("*.json") if not p.name.startswith("."))

    def load(self) -> tuple[list[FindingRecord], list[LoadProblem]]:
        """Every readable finding, and a problem (path and reason) for each unreadable one."""
        records: list[FindingRecord] = []
        problems: list[LoadProblem] = []
        for path in self.json_paths():
            try:
                record = read_finding(path)
            except READ_ERRORS as exc:
                problems.append(LoadProblem(path, str(exc)))
                continue
            if record.id != path.stem:
                problems.append(LoadProblem(path, f"id {record.id!r} does not match the file name"))
                continue
            records.append(record)
        return records, problems

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's exclusive lock (flock on <folder>/.convfuzz.lock): one writer at a time across
        processes and campaigns."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / LOCK_NAME, "a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def add(self, record: FindingRecord) -> bool:
        """Write `record` unless a finding with its signature is already in the folder; True when written. A stored
        finding of that signature whose shrinking the time budget cut short is replaced when `record` improves on
        it (keeping its triage and history).

        Safe for concurrent campaigns on one folder: the check and the write happen under the folder lock. A
        record without a bug key gets one (fuzz.store.bugs): a known bug's where it is a new signature of one.
        """
        with self.locked():
            self._remove_leftovers()
            stored, _ = self.load()
            same = [r for r in stored if r.signature == record.signature]
            if same and not improves(record, same[0]):
                return False
            for old in same:  # a finding cut short while shrinking, now shrunk further: the new one takes its place
                record = replace(record, triage=old.triage or record.triage, history=old.history)
                stored.remove(old)
            # Filed under its bug now, under the lock, so that two campaigns meeting one new bug agree on its key;
            # a stored finding the new one moves to another bug gets its new key as well.
            filed = {r.id: r for r in file_under_bug(stored, record).filed()}
            self.write(filed[record.id])
            for old in same:  # removed only once its successor is written: a kill in between loses nothing
                if old.id != record.id:
                    (self.directory / f"{old.id}.json").unlink(missing_ok=True)
                    (self.directory / f"{old.id}.py").unlink(missing_ok=True)
            for old in stored:
                if filed[old.id].bug != old.bug:
                    self._atomic_write(self.directory / f"{old.id}.json", render_json(filed[old.id].to_json()))
            return True

    def still_stored(self, records: Iterable[FindingRecord]) -> list[FindingRecord]:
        """Those of `records` whose finding is in the folder now, each once: a finding handed over before its
        shrinking ended may have been replaced since by a smaller case of its signature (another worker's)."""
        present = {path.stem for path in self.json_paths()}
        return list({r.id: r for r in records if r.id in present}.values())

    def recover(self) -> list[Path]:
        """Remove what killed writers left behind (see _remove_leftovers); returns the removed paths."""
        with self.locked():
            return self._remove_leftovers()

    def _remove_leftovers(self) -> list[Path]:
        """Temp files and repro scripts without their JSON. Called under the lock, where no live writer can
        be midway, so all of them come from a writer that was killed."""
        leftovers = [p for p in self.directory.glob(".*.tmp")]
        leftovers += [p for p in self.directory.glob("*.py") if not p.with_suffix(".json").exists()]
        for path in leftovers:
            path.unlink(missing_ok=True)
        return leftovers

    def write(self, record: FindingRecord) -> Path:
        """Write <id>.py then <id>.json, each atomically (temp file, then rename); returns the JSON path.

        The JSON is what marks a finding as present, and it is renamed last, so a reader never sees a JSON
        whose repro is missing or half written.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        self._atomic_write(self.directory / f"{record.id}.py", finding_script(record))
        path = self.directory / f"{record.id}.json"
        self._atomic_write(path, render_json(record.to_json()))
        return path

    def stale_scripts(self, records: Iterable[FindingRecord]) -> list[Path]:
        """The script of each of `records` that differs from what fuzz.store.script writes for it now (or is
        missing): one path each."""
        return [path for path, _ in self._fresh_scripts(records)]

    def rewrite_scripts(self, records: Iterable[FindingRecord]) -> list[Path]:
        """Write the script of each of `records` afresh from its JSON where it differs (under the folder lock);
        returns the paths written."""
        with self.locked():
            fresh = self._fresh_scripts(records)
            for path, text in fresh:
                self._atomic_write(path, text)
            return [path for path, _ in fresh]

    def _fresh_scripts(self, records: Iterable[FindingRecord]) -> list[tuple[Path, str]]:
        """(path, what the generator writes now) for each of `records` whose stored script differs or is missing:
        each script is generated once, whether it is then only reported or also written."""
        fresh = []
        for record in records:
            path = self.directory / f"{record.id}.py"
            try:
                current: str | None = path.read_text(encoding="utf-8")
            except OSError:
                current = None
            text = finding_script(record)
            if current != text:
                fresh.append((path, text))
        return fresh

    def update(self, record: FindingRecord) -> Path:
        """Rewrite the JSON of a stored finding (its status and history), atomically and under the folder lock;
        the script is left as it is (nothing it is written from changes)."""
        with self.locked():
            path = self.directory / f"{record.id}.json"
            self._atomic_write(path, render_json(record.to_json()))
            return path

    def modify(self, ids: Iterable[str], change: Callable[[FindingRecord], FindingRecord]) -> list[FindingRecord]:
        """Apply `change` to each stored finding of `ids` and rewrite it: read, changed and written under the folder
        lock, so that a replay --update or another triage in between loses nothing. Returns the new records."""
        changed = []
        with self.locked():
            for ident in ids:
                path = self.directory / f"{ident}.json"
                record = change(read_finding(path))
                self._atomic_write(path, render_json(record.to_json()))
                changed.append(record)
        return changed

    def set_status(self, record: FindingRecord, status: str) -> FindingRecord:
        """Rewrite `record` with a new status; returns the updated record."""
        updated = replace(record, status=status)
        self.write(updated)
        return updated

    def _atomic_write(self, path: Path, text: str) -> None:
        write_atomically(path, text)


# What reading a finding file may raise: the file, its text, its JSON, or its schema.
READ_ERRORS = (OSError, UnicodeDecodeError, json.JSONDecodeError, FindingFormatError)


def read_finding(path: Path) -> FindingRecord:
    """The finding stored in one JSON file (parsed as data only); raises one of READ_ERRORS."""
    return FindingRecord.from_json(json.loads(path.read_text(encoding="utf-8")))


def current_umask() -> int:
    """This process's umask (read by setting it and putting it back: the only way the OS offers)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a hidden temp file beside it, synced, then renamed: a reader sees the old
    file or the whole new one, never part of it."""
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file 0600; a finding is shared data (a team's nightly folder), so it gets the mode any
        # new file of this user gets: 0666 less the umask.
        os.fchmod(handle, 0o666 & ~current_umask())
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
