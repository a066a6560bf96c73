"""The campaign: oracles, a schedule of Hypothesis runs, confirmation and recording of what they find.

A Campaign walks its schedule (fuzz.campaign.schedule), starts one Hypothesis run per position
(fuzz.campaign.hypothesis_run), evaluates every case those runs draw on its oracles and the judge, counts it
(fuzz.campaign.statistics), and confirms each discrepancy the runs shrink before it hands it over as a finding
record. It never prints; it reports progress through a callback and returns its statistics. A Hypothesis run ends
once it has shrunk a new failure, and the same schedule position continues with its next attempt (its own derived
seed) until it has generated its quota of examples.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis.database import ExampleDatabase

from convfuzz.fuzz.campaign.confirm import rerun_until_shown
from convfuzz.fuzz.campaign.environment import environment_section, finding_environment
from convfuzz.fuzz.campaign.example_db import example_database
from convfuzz.fuzz.campaign.hypothesis_run import Failure, HypothesisRun
from convfuzz.fuzz.campaign.schedule import Schedule
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.campaign.statistics import CampaignStats
from convfuzz.fuzz.judge.decide import PROCESS_KINDS
from convfuzz.fuzz.judge.deviation import accepted
from convfuzz.fuzz.judge.verdict import Verdict, judge
from convfuzz.fuzz.store.records import FindingRecord, crash_classes, kind_of_signature, signature_of
from convfuzz.oracles.base import Oracle, Outcome, backend_path
from convfuzz.oracles.environments import environment_of
from convfuzz.oracles.kernel_facts import kernel_facts_of, merge_facts
from convfuzz.oracles.registry import takes_part
from convfuzz.strategies.case import ConvCase

# The time budget holds to within STOP_SECONDS: a check still running then (a slow compile, a hang waiting for its
# case timeout) is interrupted as Ctrl-C would, and what was found is kept (settings.shrink_grace says how long
# shrinking may go on before that).
STOP_SECONDS = 8.0
# Re-runs a discrepancy gets to show again before it is recorded (some real bugs are intermittent).
CONFIRM_RUNS = 3
# While Hypothesis shrinks a provisionally recorded finding, a smaller case replaces the stored one at most this often.
IMPROVE_SECONDS = 5.0


@dataclass
class Handed:
    """A finding handed over before its shrinking ended, and when (time.monotonic())."""

    record: FindingRecord
    written: float


class Campaign:
    """Runs one fuzz campaign over the given oracles and hands every new, confirmed finding to `record`.

    `record` may return False to say the finding was already stored (by a concurrent campaign); it is then not
    counted as new.
    """

    def __init__(
        self,
        oracles: Mapping[str, Oracle],
        settings_: CampaignSettings,
        known_signatures: Sequence[str] = (),
        record: Callable[[FindingRecord], object] = lambda _: True,
        progress: Callable[[CampaignStats], None] | None = None,
        progress_interval: float = 1.0,
        database: ExampleDatabase | None = None,
        unconfirmed: Sequence[FindingRecord] = (),
    ) -> None:
        """`unconfirmed`: the stored findings seen only once (a crash or hang whose confirmation an earlier
        campaign's budget cut), re-checked before anything else; a parallel worker takes its share of them."""
        self.oracles = dict(oracles)
        share = slice(settings_.worker_index, None, settings_.worker_count)
        self.unconfirmed = sorted(unconfirmed, key=lambda r: r.id)[share]
        self.settings = settings_
        self.known = set(known_signatures)
        # A stored crash or hang of an invalid case kind ('defect:hostile_padding'), met again in any op or dtype
        # (and by any one of its suspects: a finding of two TensorFlow variants counts for the plain one), costs a
        # worker restart (2-3 s) each time and teaches nothing new. Once a known one shows again, its suspects sit
        # out the rest of that kind's cases in this campaign: {(oracle, defect): the signature}.
        self._stored_crashes = {kind for s in known_signatures for kind in crash_classes(s)}
        self.sat_out: dict[tuple[str, str], str] = {}
        self.record = record
        self.progress = progress
        self.progress_interval = progress_interval
        self.stats = CampaignStats(seed=settings_.seed)
        self.schedule = Schedule(settings_, tuple(self.oracles))
        # A cluster actor passes the driver's folder database, relayed; everyone else opens what the settings name.
        self.example_database = database if database is not None else example_database(settings_.database)
        self._devices = {name: oracle.devices() for name, oracle in self.oracles.items()}
        self._facts: dict[str, dict[str, Any]] = {}  # kernel-selecting facts per oracle, asked when first needed
        self._last_progress = 0.0
        # Set by SIGINT (and by a parallel worker's orphan watch, which simulates one): the KeyboardInterrupt alone
        # is not enough, since Hypothesis collects an exception raised while it replays a failing example and
        # may carry on; the flag makes every later example stop the run.
        self.interrupt_requested = False
        self.finished = False
        # Signatures handed over before their shrinking ended (record_provisional, or cut short): what was handed
        # over, and when.
        self.provisional: dict[str, Handed] = {}
        # The coverage features of the paths (oracles.base.backend_path) the last evaluated case went through.
        self.last_paths: list[str] = []
        # How often each crash or hang signature has shown in this campaign (sighted): twice confirms it.
        self.sightings: Counter[str] = Counter()

    def evaluate(self, case: ConvCase) -> Verdict:
        """Run every oracle that serves the case's device on `case` and judge the outcomes, timing each part."""
        outcomes: dict[str, Outcome] = {}
        self.last_paths = []
        for name, oracle in self.oracles.items():
            if case.config.device not in self._devices[name]:
                continue  # a variant of one device only (torch-nocudnn, torch-nomkldnn) sits out the others' cases
            if not takes_part(name, oracle, case):
                continue  # the adjoint variants compute transposed ops only; torch's own rules bind torch only
            if case.config.defect and (name, case.config.defect) in self.sat_out:
                self.stats.sat_out[f"{name} {case.config.defect}"] += 1
                continue
            start = time.perf_counter()
            outcomes[name] = Outcome.of(oracle, case)
            spent = time.perf_counter() - start
            path = backend_path(oracle)
            if path is not None and outcomes[name].value is not None:
                self.stats.features[f"path {name}:{path}"] += 1
                self.last_paths.append(f"path {name}:{path}")
            self.stats.oracle_seconds[name] = self.stats.oracle_seconds.get(name, 0.0) + spent
        start = time.perf_counter()
        verdict = accepted(judge(case, outcomes), self.settings.accept)
        self.stats.judge_seconds += time.perf_counter() - start
        return verdict

    def run(self) -> CampaignStats:
        """Run until the example or time budget is spent (or SIGINT); returns the final statistics."""
        with self._noting_interrupts(), self._stopping_at_the_deadline():
            return self._run()

    def budget_elapsed(self) -> float:
        """Seconds of the time budget used: since the command started (settings.budget_started), or since this
        campaign started."""
        started = self.settings.budget_started
        return self.stats.elapsed if started is None else time.time() - started

    @contextlib.contextmanager
    def _stopping_at_the_deadline(self) -> Iterator[None]:
        """With a time budget, a timer that interrupts the campaign STOP_SECONDS after it, as Ctrl-C would, in
        case a check is still running then (only where a SIGINT handler is installed: the main thread)."""
        budget = self.settings.time_budget
        if budget is None or threading.current_thread() is not threading.main_thread():
            yield
            return
        running = threading.Lock()

        def stop() -> None:
            with running:
                if not self.finished:
                    self.stats.cut_at_deadline = True
                    os.kill(os.getpid(), signal.SIGINT)

        timer = threading.Timer(max(budget + STOP_SECONDS - self.budget_elapsed(), 0.0), stop)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            with running:
                self.finished = True
            timer.cancel()

    @contextlib.contextmanager
    def _noting_interrupts(self) -> Iterator[None]:
        """While the campaign runs, SIGINT sets the interrupt flag before raising KeyboardInterrupt as usual (only
        where a handler can be installed: the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)

        def note(signum: int, frame: Any) -> None:
            self.interrupt_requested = True
            raise KeyboardInterrupt

        signal.signal(signal.SIGINT, note)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _run(self) -> CampaignStats:
        combinations = self.schedule.combinations()
        s = self.settings
        runs = self.schedule.run_count()
        try:
            self._recheck_unconfirmed()
            for position in itertools.count(s.worker_index, s.worker_count):
                if (runs is not None and position >= runs) or self.time_spent():
                    break
                op, dtype, device = combinations[position % len(combinations)]
                quota = self.schedule.run_quota(position // len(combinations))
                # A Hypothesis run ends once it has shrunk a new failure: the position goes on with its next
                # attempt until it has generated its quota.
                generated, attempt = 0, 0
                while generated < quota and not self.time_spent():
                    run = HypothesisRun(self, op, dtype, device, quota - generated, position, attempt)
                    made = run.run()
                    if made == 0:
                        break  # Hypothesis had nothing left to try
                    generated, attempt = generated + made, attempt + 1
        except KeyboardInterrupt:
            self.stats.interrupted = True
        self.stats.interrupted |= self.interrupt_requested
        self.stats.interrupted &= not self.stats.cut_at_deadline  # the budget ended it, not a person
        return self.stats

    def _recheck_unconfirmed(self) -> None:
        """Run each unconfirmed finding of this campaign's share once more, first: shown again (the same signature
        on the oracles here), it is stored confirmed and counted under stats.rechecked 'confirmed'; not shown, it
        stays as it is ('not shown'; replay decides its fate); without its suspects here, 'not run here'."""
        for record in self.unconfirmed:
            if self.time_spent():
                return
            if not set(record.suspects) <= set(self.oracles):
                self.stats.rechecked["not run here"] += 1
                continue
            for earlier in record.preceding:
                self.evaluate(earlier)
            verdict = self.evaluate(record.case)  # not a drawn check: outside any Hypothesis test, not counted
            if not (verdict.discrepant and signature_of(record.case, verdict) == record.signature):
                self.stats.rechecked["not shown"] += 1
                continue
            confirmed = FindingRecord.from_decision(
                record.case, verdict, self.finding_environment(verdict), preceding=record.preceding,
                shrink_complete=record.shrink_complete,
            )
            if self.record(confirmed) is not False:
                self.stats.rechecked["confirmed"] += 1
                if confirmed.shrink_complete:
                    self.known.add(record.signature)

    def time_spent(self) -> bool:
        """True when no new example may start: the time budget (less the shrink time kept at its end) is spent, or
        the campaign was interrupted."""
        return self.interrupt_requested or self.settings.drawing_over(self.budget_elapsed())

    def shrinking_over(self) -> bool:
        """True when not even shrinking may go on: settings.shrink_grace past the time budget, or interrupted."""
        s = self.settings
        return self.interrupt_requested or (
            s.time_budget is not None and self.budget_elapsed() >= s.time_budget + s.shrink_grace
        )

    def sit_out_after_stored_crash(self, case: ConvCase, verdict: Verdict, signature: str) -> None:
        """Where known `signature` is a crash or hang on an invalid case of a kind stored before this campaign (any
        op or dtype: a new signature of it is shrunk and stored first), its suspects sit out the rest of this
        campaign's cases of that defect (see `_stored_crashes`). The caller makes sure no failure is being shrunk:
        a case that failed must keep failing while Hypothesis shrinks it."""
        defect = case.config.defect
        if not defect:
            return
        stored = crash_classes(signature) & self._stored_crashes
        for suspect in verdict.suspects:
            if any(kind.split("|")[2] == suspect for kind in stored):
                self.sat_out.setdefault((suspect, defect), signature)

    def check_one(self, case: ConvCase) -> Verdict:
        """Evaluate one case and count it in the statistics and Hypothesis events."""
        verdict = self.evaluate(case)
        self.stats.count_check(case, verdict)
        return verdict

    def record_all(self, cases: Mapping[str, Failure], shrink_complete: bool = True) -> None:
        """Confirm each failing case and hand it over as a finding (`shrink_complete`: whether Hypothesis finished
        shrinking it, or a time limit cut it short). A signature handed over before (record_provisional, or cut
        short earlier) is handed over again: the store puts the smaller or fully shrunk case in its place. One cut
        short stays open: a later run of its combination goes on shrinking it. A crash or hang is re-run only
        where it was seen once and the budget has time (see _observed_finding)."""
        for signature, failure in cases.items():
            if signature in self.known:
                continue
            finding: FindingRecord | None
            if kind_of_signature(signature) in PROCESS_KINDS:
                finding = self._observed_finding(signature, failure, shrink_complete)
            else:
                finding = self._confirmed_finding(signature, failure.case, failure.earlier, shrink_complete)
            if finding is None:
                continue
            handed = self.provisional.pop(signature, None)
            if shrink_complete and finding.confirmed:
                self.known.add(signature)
            if self.record(finding) is False:
                if handed is not None and not (shrink_complete and finding.confirmed):
                    self.provisional[signature] = handed  # a smaller (or confirmed) case of it is stored already
                elif shrink_complete:
                    # Another campaign writing the same folder stored this signature fully shrunk first (in place
                    # of what this one handed over before, if anything): it is that campaign's new finding.
                    if handed is not None:
                        self.stats.findings.remove(handed.record)
                    self.stats.known_discrepancies += 1
                continue
            self._count(finding, replacing=None if handed is None else handed.record)
            if not (shrink_complete and finding.confirmed):
                self.provisional[signature] = Handed(finding, time.monotonic())

    def record_provisional(self, signature: str, failure: Failure) -> bool:
        """Hand over the first failing case of a new signature as soon as it is confirmed, marked not fully shrunk,
        so that a user sees the finding before Hypothesis has shrunk it; the shrunk case replaces it
        (record_all), and so do smaller cases reached on the way (improve_provisional). The signature stays open
        to this campaign's shrinking. A crash or hang is handed over as seen (see sighted). False when it did not
        show again or was already stored."""
        if signature in self.known:
            return False
        if kind_of_signature(signature) in PROCESS_KINDS:
            return self.sighted(signature, failure)
        if signature in self.provisional:
            return False
        finding = self._confirmed_finding(signature, failure.case, failure.earlier, shrink_complete=False)
        if finding is None or self.record(finding) is False:
            return False
        self.provisional[signature] = Handed(finding, time.monotonic())
        self._count(finding)
        return True

    def improve_provisional(self, signature: str, failure: Failure) -> None:
        """While shrinking, store a smaller failing case (`failure`, the smallest so far) of a provisionally
        recorded signature, at most once every IMPROVE_SECONDS per signature: a run killed mid-shrink (SIGKILL, a
        node lost) leaves a recent case. A crash or hang showing again is a sighting (see sighted)."""
        if kind_of_signature(signature) in PROCESS_KINDS:
            self.sighted(signature, failure)
            return
        handed = self.provisional.get(signature)
        if handed is None or time.monotonic() - handed.written < IMPROVE_SECONDS:
            return
        if failure.case.element_count() >= handed.record.case.element_count():
            return
        handed.written = time.monotonic()  # also when it does not show again: one try per IMPROVE_SECONDS
        finding = self._confirmed_finding(signature, failure.case, failure.earlier, shrink_complete=False)
        if finding is None or self.record(finding) is False:
            return
        self._count(finding, replacing=handed.record)
        handed.record = finding

    def sighted(self, signature: str, smallest: Failure) -> bool:
        """A crash or hang of `signature` showed again: written at once, however the campaign ends - unconfirmed at
        its first sighting, confirmed at its second (in another example, or the same one again) - as `smallest`,
        its smallest failing case so far, at most every IMPROVE_SECONDS while only the size changes. Re-running a
        hang to confirm it costs a case timeout each time, which the time budget may not have left: a hang seen
        must never end in a green run. True when it was written."""
        self.sightings[signature] += 1
        handed = self.provisional.get(signature)
        confirmed = self.sightings[signature] >= 2
        if handed is not None:
            newly_confirmed = confirmed and not handed.record.confirmed
            smaller = smallest.case.element_count() < handed.record.case.element_count()
            if not newly_confirmed and not (smaller and time.monotonic() - handed.written >= IMPROVE_SECONDS):
                return False
        finding = self._observed_finding(signature, smallest, shrink_complete=False, rerun=False)
        if self.record(finding) is False:
            return False
        self._count(finding, replacing=None if handed is None else handed.record)
        self.provisional[signature] = Handed(finding, time.monotonic())
        return True

    def _observed_finding(
        self, signature: str, failure: Failure, shrink_complete: bool, rerun: bool = True
    ) -> FindingRecord:
        """The finding record of a crash or hang as it was seen: confirmed once its signature showed twice
        (sighted). Seen once, it is re-run for confirmation (with `rerun`, at the end of a Hypothesis run) only
        while the budget has time for that; otherwise it is stored unconfirmed, for the next campaign to re-check
        first."""
        confirmed = self.sightings[signature] >= 2
        verdict = failure.verdict
        if rerun and not confirmed and not self.shrinking_over() and not self.interrupt_requested:
            shown = self._confirm(failure.case, signature, failure.earlier)
            if shown is not None:
                self.sightings[signature] += 1
                confirmed, verdict = True, shown
        return FindingRecord.from_decision(
            failure.case, verdict, self.finding_environment(verdict), preceding=failure.earlier,
            shrink_complete=shrink_complete, confirmed=confirmed,
        )

    def _confirmed_finding(
        self, signature: str, case: ConvCase, earlier: tuple[ConvCase, ...], shrink_complete: bool
    ) -> FindingRecord | None:
        """The finding record of a failing case once it has shown again (after the calls `earlier` than it if it
        needs them), or None (counted as unconfirmed)."""
        preceding: tuple[ConvCase, ...] = ()
        verdict = self._confirm(case, signature)
        if verdict is None and earlier:
            # It showed as the second or third call of one shape: a stale-buffer bug needs the calls before it.
            preceding = earlier
            verdict = self._confirm(case, signature, preceding)
        if verdict is None:
            # Not reproducible on any re-run (a nondeterministic backend): never recorded.
            self.stats.unconfirmed += 1
            return None
        return FindingRecord.from_decision(
            case, verdict, self.finding_environment(verdict), preceding=preceding, shrink_complete=shrink_complete
        )

    def _count(self, finding: FindingRecord, replacing: FindingRecord | None = None) -> None:
        """Count `finding` among the campaign's new findings, in the place of `replacing` (an earlier case of its
        signature) if given."""
        if replacing is not None:
            self.stats.findings[self.stats.findings.index(replacing)] = finding
            return
        self.stats.findings.append(finding)
        if self.stats.first_finding_time is None:
            self.stats.first_finding_time = time.time()

    def finding_environment(self, verdict: Verdict) -> dict[str, Any]:
        """Where a finding was seen: versions, platform, and the kernel-selecting facts of the processes that ran
        the oracles judged in `verdict` (each asked once per campaign: facts do not change while it runs)."""
        facts: list[dict[str, Any]] = []
        elsewhere: dict[str, list[tuple[Oracle, dict[str, Any]]]] = {}  # other environments' oracles, kept apart
        for name in verdict.observations:
            if name not in self._facts and name in self.oracles:
                self._facts[name] = kernel_facts_of(self.oracles[name])
            place = environment_of(name)
            if place is None or name not in self.oracles:
                facts.append(self._facts.get(name, {}))
            else:
                elsewhere.setdefault(place, []).append((self.oracles[name], self._facts.get(name, {})))
        environments = {place: environment_section(ran) for place, ran in elsewhere.items()}
        return finding_environment(merge_facts(facts), environments)

    def _confirm(self, case: ConvCase, signature: str, preceding: Sequence[ConvCase] = ()) -> Verdict | None:
        """Re-run `case` (each time after the `preceding` cases) up to CONFIRM_RUNS times: the first verdict with
        the same signature, or None.

        More than one try because some real bugs are intermittent (an out-of-bounds read returns whatever memory
        holds); a finding is recorded only once it has shown twice, and its repro may need a few runs too.
        """
        # A crash or hang restarted its worker, so the re-run already starts fresh; a cleanser call there would
        # only warm the new worker up (and might be what makes the case crash).
        cleanse = not case.config.defect and kind_of_signature(signature) not in PROCESS_KINDS
        verdict, shown = rerun_until_shown(
            self.evaluate, case, lambda v: v.discrepant and signature_of(case, v) == signature, CONFIRM_RUNS,
            preceding, cleanse,
        )
        return verdict if shown else None

    def report_progress(self) -> None:
        now = time.monotonic()
        if self.progress is not None and now - self._last_progress >= self.progress_interval:
            self._last_progress = now
            self.progress(self.stats)
