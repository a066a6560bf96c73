"""The `convfuzz` command line: a thin layer over the engine, the findings store and replay.

Exit status: 0 no new finding (run; with --fail-on new-bug, no finding of a bug the folder did not know) / every
finding as recorded (replay); 1 new findings written (run) / a
finding whose status should change or an unreadable finding file (replay; with --update the change is stored
and only a regression or an unreadable file gives 1); bisect: 0 once its table is printed; 2 usage or
configuration error, with a message naming the bad value and nothing written.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TextIO

import convfuzz
from convfuzz.fuzz.campaign.bisect import bisect, suspect_framework, with_history
from convfuzz.fuzz.campaign.bisect import summary as bisect_summary
from convfuzz.fuzz.campaign.bisect import table as bisect_table
from convfuzz.fuzz.campaign.cluster import LOCAL_RUNTIME, ClusterError, RayPool, connect, placement
from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.environment import environment, versions
from convfuzz.fuzz.campaign.example_db import example_database
from convfuzz.fuzz.campaign.implementations import summary_lines as implementation_lines
from convfuzz.fuzz.campaign.parallel import (
    OracleChoice,
    Pool,
    Progress,
    ReportedOracle,
    WorkerPlan,
    WorkerPool,
    default_worker_count,
)
from convfuzz.fuzz.campaign.record import campaign_record, write_campaign_record
from convfuzz.fuzz.campaign.replay import REGRESSED, replay_record, updated_record
from convfuzz.fuzz.campaign.settings import (
    BACKWARD_ONE_IN,
    DEFAULT_MAX_EXAMPLES,
    CampaignSettings,
    gradients_from_environment,
)
from convfuzz.fuzz.campaign.statistics import CampaignStats
from convfuzz.fuzz.judge.deviation import DEVIATIONS
from convfuzz.fuzz.report.data import ReportError, gather
from convfuzz.fuzz.report.explain import ExplainError, explain, find_record, render_text
from convfuzz.fuzz.report.html import write_report
from convfuzz.fuzz.store.bugs import RunBugs, bugs_line, group_bugs, run_bugs
from convfuzz.fuzz.store.folder import FindingStore, LoadProblem, StoreError, settled_signatures
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.fuzz.store.script import found_in
from convfuzz.fuzz.store.triage import TriageError, TriageVerdict, triage_line, triage_targets
from convfuzz.oracles.base import Oracle
from convfuzz.oracles.environments import (
    CONFIG_FILE,
    BadEnvironment,
    Environment,
    configured,
    environment_of,
    require_environments,
)
from convfuzz.oracles.framework import RegistrationError, frameworks
from convfuzz.oracles.isolation import cap_address_space, close_oracles, worker_memory_budget
from convfuzz.oracles.registry import IN_PROCESS, default_oracles, is_known, oracle_names, serves_op
from convfuzz.oracles.selection import available_oracles
from convfuzz.strategies.budget import SizeBudget
from convfuzz.strategies.case import (
    ALL_DTYPES,
    COMPLEX_DTYPES,
    DTYPES,
    GRADIENT_SEPARATOR,
    INVALID_STREAM,
    LAYOUTS,
    OPS,
    PADDING_MODES,
    gradient_op_names,
    ops_with_layouts,
)
from convfuzz.strategies.sizes import SIZE_CLASSES, sizes_from_environment

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class UsageError(Exception):
    """A bad command-line or environment value; the message names it."""


def _integer_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high), with a message naming the bad value."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value < high:
            raise argparse.ArgumentTypeError(f"{value} must be at least {low} and below {high}")
        return value

    return parse


_positive_int = _integer_in(1, 2**63)
_seed = _integer_in(0, 2**63)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive, finite number of seconds")
    return value


def _choices(
    option: str, text: str | None, allowed: Sequence[str], import_paths: bool = False,
    also: Callable[[str], bool] = lambda _: False,
) -> tuple[str, ...] | None:
    """A comma list of `allowed` values (None when the option was not given), deduplicated in order.

    With `import_paths`, 'module:factory' entries are accepted as well (oracles of the user's own); values for
    which `also` is true are accepted too (pinned oracles such as 'torch@cuda').
    """
    if text is None:
        return None
    chosen = tuple(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
    if not chosen:
        raise UsageError(f"{option} {text!r} names nothing; choose from {', '.join(allowed)}")
    for value in chosen:
        if value not in allowed and not also(value) and not (import_paths and _IMPORT_PATH.match(value)):
            paths = " nor a module:factory path" if import_paths else ""
            raise UsageError(f"{option}: {value!r} is not one of {', '.join(allowed)}{paths}")
    return chosen


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="convfuzz", description="Differential fuzzing of convolution.")
    commands = parser.add_subparsers(dest="command", required=True)
    # Options every subcommand shares, declared once.
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--findings", type=Path, default=Path("findings"), help="findings folder (default findings/)")
    run = commands.add_parser("run", parents=[shared], help="run a fuzz campaign and store new findings")
    run.add_argument(
        "--time-budget", type=_seconds, metavar="SECONDS",
        help="end within this many seconds of convfuzz's start, plus at most about ten (start-up and shrinking "
        "included; what is being shrunk then is stored as the smallest case reached, marked not fully shrunk)",
    )
    run.add_argument(
        "--shrink-time", type=_seconds, metavar="SECONDS", default=0.0,
        help="of the time budget, keep the last SECONDS for shrinking what was found: no new examples then "
        "(default 0)",
    )
    run.add_argument(
        "--max-examples", type=_positive_int, metavar="N",
        help=f"stop after N examples (default {DEFAULT_MAX_EXAMPLES} when no time budget is given)",
    )
    run.add_argument("--seed", type=_seed, help="campaign seed; same seed and versions give the same campaign")
    run.add_argument(
        "--workers", type=_positive_int,
        help="campaign processes sharing the work (default: one per core, at most one per 1.5 GiB of available "
        "memory); with more than one, each runs the frameworks single-threaded",
    )
    run.add_argument(
        "--ray", nargs="?", const=LOCAL_RUNTIME, metavar="ADDRESS",
        help="run the workers as Ray actors: on a local Ray runtime (no ADDRESS; it listens on 127.0.0.1 only) or on "
        "the cluster at ADDRESS (auto, ray://HOST:10001, HOST:6379); --workers then defaults to one per CPU the "
        "cluster reports (one per GPU on a CUDA campaign). Needs the cluster extra: pip install 'convfuzz[cluster]'",
    )
    run.add_argument(
        "--ops",
        help=f"comma list of {', '.join(OPS)}, and {INVALID_STREAM} (the stream of invalid configurations every "
        "framework must refuse), or one gradient of an op: OP.grad_input, OP.grad_weight, OP.grad_bias "
        "(default: every op and the invalid stream)",
    )
    run.add_argument(
        "--dtypes",
        help=f"comma list of {', '.join(ALL_DTYPES)} (default: {', '.join(DTYPES)}; complex ones forward only)",
    )
    run.add_argument("--devices", help="comma list of cpu, cuda (default: every device the oracles see)")
    run.add_argument(
        "--padding-modes",
        help=f"comma list of {', '.join(PADDING_MODES)} (default: all; non-zero ones need symmetric pads)",
    )
    run.add_argument(
        "--sizes",
        help=f"comma list of size classes: {', '.join(SIZE_CLASSES)}; small cases are most of what is drawn "
        "(default: $CONVFUZZ_SIZES, else all). small: kernels to 7, 8 channels per group, $CONVFUZZ_BUDGET "
        "elements per tensor; large: kernels to 31 (64 in 1-D), channels to 513, 1-D lengths in the thousands, "
        "batch to 8, 16 times the budget; models: production layers (ResNet, ConvNeXt, RepLKNet, wav2vec 2.0, "
        "Conformer, Mamba, U-Net ...) cut to that budget",
    )
    run.add_argument("--layouts", help=f"comma list of {', '.join(LAYOUTS)} (default: all; half the cases contiguous)")
    run.add_argument(
        "--oracles",
        help=f"comma list of {', '.join(oracle_names())}, any of them pinned to a device (torch@cuda), or "
        f"module:factory paths (default: {','.join(default_oracles())}; needs at least two)",
    )
    backward = run.add_mutually_exclusive_group()
    backward.add_argument(
        "--gradients", dest="gradients", action="store_const", const="all",
        help="draw each op's backward passes as often as the op itself: the gradient with respect to input, weight "
        f"or bias at a drawn output cotangent (op named OP.grad_input, ...); by default one case in {BACKWARD_ONE_IN} "
        "of an op is one of its gradients ($CONVFUZZ_GRADIENTS=none|some|all sets the default)",
    )
    backward.add_argument(
        "--no-gradients", dest="gradients", action="store_const", const="none",
        help="check the ops' forward passes only",
    )
    run.add_argument(
        "--nonfinite", action="store_true",
        help="also draw inputs holding inf/-inf/NaN, judged by the IEEE propagation rule (kind nonfinite)",
    )
    run.add_argument(
        "--fail-on", choices=("new-finding", "new-bug"), default="new-finding",
        help="what makes the exit status 1: any new finding, also a new signature of a bug the folder knows "
        "(new-finding, the default), or only a finding of a bug the folder did not know (new-bug: a nightly job "
        "that pages someone only on new bugs)",
    )
    run.add_argument(
        "--accept", metavar="CLASSES",
        help=f"comma list of deviation classes to judge as passing: {', '.join(DEVIATIONS)} (default: none; each "
        "stays a finding tagged with its class). reduced-accumulation: a float16/bfloat16 result outside the "
        "float32-accumulation bound but inside that of summing in the dtype itself; nan-through-zero: NaN that a "
        "correct kernel could produce by multiplying a non-finite input by a zero it writes out",
    )
    run.add_argument(
        "--case-timeout", type=_seconds, default=60.0, metavar="SECONDS",
        help="an isolated oracle that takes longer on one case is a timeout finding (default 60)",
    )
    run.add_argument(
        "--database", metavar="SPEC",
        help="Hypothesis example database whose saved examples are retried first: a folder (default "
        "<findings>/hypothesis), redis://HOST:PORT to share one between machines, or none (the campaign then "
        "depends on its seed alone)",
    )
    run.add_argument(
        "--no-isolation", dest="isolation", action="store_false",
        help="run framework oracles in this process (faster start; a crash then ends the campaign)",
    )
    run.add_argument(
        "--environment", dest="environment_pairs", action="append", default=[], metavar="NAME=PYTHON",
        help="name another Python environment (a venv folder or its python) whose frameworks run as oracles "
        "NAME@...: --oracles torch,torch@NAME,reference (also named in convfuzz.toml beside the findings folder)",
    )
    replay = commands.add_parser("replay", parents=[shared], help="re-check every stored finding, or the ones named")
    replay.add_argument(
        "targets", nargs="*", metavar="FOLDER|ID",
        help="a findings folder (same as --findings), or finding ids (a unique prefix, or the hash: '97e80552') in "
        "--findings; default: every finding of --findings",
    )
    replay.add_argument(
        "--update", action="store_true",
        help="store what the replay showed: status open -> fixed -> regressed, and the versions where each finding "
        "was last seen, found fixed or found regressed (history)",
    )
    replay.add_argument(
        "--environment", metavar="NAME[=PYTHON]",
        help="run each finding's suspects in this environment (named in convfuzz.toml, or here as NAME=PYTHON): does "
        "that release still have them? Reports only (no --update)",
    )
    replay.add_argument(
        "--accept-other-hardware", action="store_true",
        help="call a finding fixed where it is gone even if a kernel-selecting fact of this machine (ISA flag, oneDNN "
        "support, GPU) differs from where it was found; by default such a replay is 'inconclusive' and changes nothing",
    )
    scripts = commands.add_parser(
        "scripts", parents=[shared], help="rewrite every finding's script <id>.py from its JSON"
    )
    scripts.add_argument("folder", nargs="?", type=Path, help="findings folder (same as --findings)")
    scripts.add_argument(
        "--check", action="store_true",
        help="write nothing; list the scripts that differ from what would be written and exit 1 if any does",
    )
    explain = commands.add_parser("explain", parents=[shared], help="explain one finding and draft its upstream issue")
    explain.add_argument("finding", help="a finding's id (or a prefix of exactly one id), or the path of its JSON")
    explain.add_argument("--json", action="store_true", help="print the explanation as JSON (for tools)")
    explain.add_argument(
        "--no-replay", dest="replay", action="store_false",
        help="explain from the stored finding alone, without running its oracles here",
    )
    triage = commands.add_parser(
        "triage", parents=[shared], help="store a person's verdict on a finding (or every finding of its bug)"
    )
    triage.add_argument("finding", help="a finding's id, a unique prefix of one, or its hash ('97e80552')")
    triage.add_argument(
        "--class", dest="triage_class", metavar="CLASS",
        help="bug (a real defect), expected (by design: no upstream issue is drafted) or artifact (convfuzz's own)",
    )
    triage.add_argument("--upstream", metavar="URL", help="the issue that tracks it")
    triage.add_argument("--note", metavar="TEXT", help="why, in a sentence or two")
    triage.add_argument("--bug", metavar="KEY", help="file the finding under this bug (bug-xxxxxxxx): merge two bugs")
    triage.add_argument(
        "--whole-bug", action="store_true", help="give the verdict to every finding of the finding's bug"
    )
    bisect = commands.add_parser(
        "bisect", parents=[shared], help="replay one finding in several environments: since when, and fixed where?"
    )
    bisect.add_argument("finding", help="a finding's id, a unique prefix of one, or its hash ('97e80552')")
    bisect.add_argument(
        "--environments", required=True, metavar="A,B,...",
        help="comma list of environments (each NAME from convfuzz.toml, or NAME=PYTHON), shown oldest release first "
        "by the versions they hold",
    )
    bisect.add_argument("--update", action="store_true", help="store the table and its summary in the finding")
    bisect.add_argument(
        "--accept-other-hardware", action="store_true",
        help="call a no-show gone even where a kernel-selecting fact differs from where it was found",
    )
    report = commands.add_parser(
        "report", parents=[shared], help="write an HTML report and a Markdown summary of campaigns and findings"
    )
    report.add_argument("folder", nargs="?", type=Path, help="findings folder (same as --findings)")
    report.add_argument(
        "--campaign", type=Path, metavar="FILE",
        help="report on this one campaign record (a file in <findings>/campaigns/) and the findings it wrote",
    )
    report.add_argument("--out", type=Path, metavar="DIR", help="where to write the report (default <findings>/report)")
    return parser


def _select_oracles(
    names: tuple[str, ...] | None, isolate: bool, case_timeout: float, environments: dict[str, Environment]
) -> dict[str, Oracle]:
    usable, missing = available_oracles(names, isolate, case_timeout, environments)
    return _enough_oracles(names, usable, missing)


def _environments(findings: Path, named: Sequence[str]) -> dict[str, Environment]:
    """The environments of convfuzz.toml beside the `findings` folder and of the `named` arguments that say
    NAME=PYTHON; UsageError where one is malformed or a plain NAME among `named` is not configured."""
    try:
        found = configured(findings, [text for text in named if "=" in text])
    except BadEnvironment as exc:
        raise UsageError(str(exc)) from None
    for text in named:
        name = text.partition("=")[0]
        if name not in found:
            listed = ", ".join(found) or f"none: {CONFIG_FILE} beside {findings} names none"
            raise UsageError(f"environment {name!r} is not named (named: {listed}); give it as {name}=PYTHON")
    return found


def _enough_oracles(
    names: tuple[str, ...] | None, usable: dict[str, Oracle], missing: dict[str, str]
) -> dict[str, Oracle]:
    """`usable` when every named oracle is in it and there are at least two; else UsageError naming why (and the
    usable ones are closed)."""
    if names is not None and missing:
        close_oracles(usable)
        name, why = next(iter(missing.items()))
        raise UsageError(f"--oracles: {name!r} is not available: {why}")
    if len(usable) < 2:
        close_oracles(usable)
        reasons = "; ".join(f"{n}: {why}" for n, why in missing.items())
        raise UsageError(f"a differential campaign needs at least two oracles, have {list(usable)} ({reasons})")
    return usable


def _campaign_settings(args: argparse.Namespace) -> CampaignSettings:
    """Every setting that needs no oracle, validated (devices are filled in once the oracles exist)."""
    try:
        budget = SizeBudget.from_environment()
        sizes = sizes_from_environment()
        gradients = gradients_from_environment()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    ops = _choices("--ops", args.ops, (*OPS, INVALID_STREAM, *gradient_op_names())) or (*OPS, INVALID_STREAM)
    layouts = _choices("--layouts", args.layouts, LAYOUTS) or LAYOUTS
    conv_ops = [op for op in ops if op != INVALID_STREAM]
    if conv_ops and not ops_with_layouts(conv_ops, layouts):
        raise UsageError(
            f"--layouts: none of {','.join(layouts)} applies to {','.join(ops)} (channels_last needs 2 or 3 dims)"
        )
    dtypes = _choices("--dtypes", args.dtypes, ALL_DTYPES) or DTYPES
    gradient_ops = [op for op in ops if GRADIENT_SEPARATOR in op]
    if gradient_ops and all(d in COMPLEX_DTYPES for d in dtypes):
        raise UsageError(f"--ops: {gradient_ops[0]} needs a real dtype; --dtypes {','.join(dtypes)} are complex")
    database = args.database if args.database is not None else str(args.findings / "hypothesis")
    try:
        example_database(database)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.shrink_time and (args.time_budget is None or args.shrink_time >= args.time_budget):
        raise UsageError(f"--shrink-time {args.shrink_time:g} needs a --time-budget longer than it")
    max_examples = args.max_examples
    if max_examples is None and args.time_budget is None:
        max_examples = DEFAULT_MAX_EXAMPLES
    return CampaignSettings(
        seed=args.seed if args.seed is not None else secrets.randbelow(2**32),
        max_examples=max_examples,
        time_budget=args.time_budget,
        shrink_time=args.shrink_time,
        budget_started=args.started,
        ops=ops,
        dtypes=dtypes,
        devices=_choices("--devices", args.devices, ("cpu", "cuda")) or (),
        layouts=layouts,
        padding_modes=_choices("--padding-modes", args.padding_modes, PADDING_MODES) or PADDING_MODES,
        sizes=_choices("--sizes", args.sizes, SIZE_CLASSES) or sizes,
        budget=budget,
        nonfinite=args.nonfinite,
        gradients=args.gradients or gradients,
        database=database,
        accept=_choices("--accept", args.accept, DEVIATIONS) or (),
    )


def _usable_devices(requested: tuple[str, ...], oracles: dict[str, Oracle]) -> tuple[str, ...]:
    """The requested devices, each one served by at least two of the oracles, one of them running on it (a case
    is judged by the oracles that run on its device; the host-side reference and hand check answer for every
    device but run on none); by default every such device."""

    def voters(device: str) -> list[str]:
        return [n for n, o in oracles.items() if device in o.devices()]

    def usable(device: str) -> bool:
        return len(voters(device)) >= 2 and any(n not in IN_PROCESS for n in voters(device))

    if not requested:
        found = tuple(d for d in ("cpu", "cuda") if usable(d))
        if not found:
            raise UsageError(
                f"no device is served by two of the oracles {', '.join(oracles)} with one of them running on it "
                "(the reference and the hand check answer for any device but run on none: add a framework)"
            )
        return found
    for device in requested:
        if not usable(device):
            raise UsageError(
                f"--devices: {device!r} is served by {voters(device) or 'none'} of the oracles; a differential "
                "check needs two, one of them running on it"
            )
    return requested


def _usable_ops(ops: tuple[str, ...], oracles: dict[str, Oracle], explicit: bool) -> tuple[str, ...]:
    """The ops at least two of the oracles compute (the adjoint variants compute transposed ops only). An op the
    user asked for by name that fewer serve is an error; by default such ops are left out."""

    def voters(op: str) -> list[str]:
        return [n for n in oracles if serves_op(n, op)]

    # The invalid stream needs no second voter: each oracle is held to the rule on its own.
    usable = tuple(op for op in ops if op == INVALID_STREAM or len(voters(op)) >= 2)
    if explicit:
        for op in ops:
            if op not in usable:
                raise UsageError(f"--ops: {op!r} is computed by {voters(op) or 'none'} of the oracles; a "
                                 "differential check needs two")
    if not usable:
        raise UsageError(f"no op is computed by two of the oracles {', '.join(oracles)}")
    return usable


class _Progress:
    """A live status line on a terminal; an occasional plain line otherwise (logs of nightly runs)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.last_line = -1e9

    def __call__(self, stats: CampaignStats) -> None:
        rate = stats.examples / max(stats.elapsed, 1e-9)
        text = (
            f"[{stats.elapsed:6.0f}s] {stats.examples} examples ({rate:.1f}/s), {stats.checks} checks, "
            f"{len(stats.findings)} new findings"
        )
        self._show(text, stats.elapsed)

    def parallel(self, workers: Sequence[Progress], elapsed: float) -> None:
        """The status line of a parallel campaign: totals over the workers."""
        examples = sum(w.examples for w in workers)
        text = (
            f"[{elapsed:6.0f}s] {examples} examples ({examples / max(elapsed, 1e-9):.1f}/s), "
            f"{sum(w.checks for w in workers)} checks, {sum(w.findings for w in workers)} new findings, "
            f"{len(workers)} worker(s) reporting"
        )
        self._show(text, elapsed)

    def _show(self, text: str, elapsed: float) -> None:
        if self.live:
            self.stream.write("\r" + text)
            self.stream.flush()
        elif elapsed - self.last_line >= 60:
            self.last_line = elapsed
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")


def format_summary(
    stats: CampaignStats, folder: Path, skipped_files: int, bugs: RunBugs | None = None, started: float | None = None
) -> str:
    """The end-of-run summary: counts per op/dtype, verdicts, findings by kind and suspect, time split; with the
    command's start time, how long it took to the first check judged and to the first finding written."""
    elapsed = max(stats.elapsed, 1e-9)
    configs = f"{'' if stats.configs.is_exact else '~'}{len(stats.configs)}"  # '~': estimated past 100k
    lines = [
        f"convfuzz run: seed {stats.seed}, {elapsed:.1f} s, {stats.examples} examples "
        f"({stats.examples / elapsed:.1f}/s), {stats.checks} checks ({stats.checks / elapsed:.1f}/s, "
        f"{stats.multiply_adds / elapsed / 1e6:.1f} M multiply-adds/s) "
        f"of {configs} distinct configurations, {stats.hypothesis_runs} Hypothesis run(s)"
        + (", interrupted" if stats.interrupted else ""),
        "checks by op and dtype: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.by_op_dtype.items())),
        "verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.verdicts.items()))
        + (f" (of which {stats.known_discrepancies} of findings already stored)" if stats.known_discrepancies else ""),
    ]
    if stats.workers_lost or stats.actors_replaced:
        lines.append(f"workers: actors replaced {stats.actors_replaced}, workers lost {stats.workers_lost}")
    if started is not None and stats.first_check_time is not None:
        first = f"first check judged {stats.first_check_time - started:.1f} s after the command started"
        if stats.first_finding_time is not None:
            first += f", first finding written after {stats.first_finding_time - started:.1f} s"
        lines.append(first)
    if stats.findings:
        kinds = Counter(f.kind for f in stats.findings)
        suspects = Counter(s for f in stats.findings for s in f.suspects)
        lines.append(
            f"new findings: {len(stats.findings)} (by kind: {', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}; "
            f"by suspect: {', '.join(f'{k} {v}' for k, v in sorted(suspects.items()))})"
        )
        lines += _wrong_releases(stats.findings)
        cut = [f.id for f in stats.findings if not f.shrink_complete]
        if cut:
            lines.append(
                f"not fully shrunk (the time budget, or the first pass's shrink limit with no later pass to finish, "
                f"ended their shrinking; a later campaign with this example database goes on from them): "
                f"{', '.join(cut)}"
            )
        once = [f.id for f in stats.findings if not f.confirmed]
        if once:
            lines.append(
                f"unconfirmed (a crash or hang seen once; the budget ended before it could show again; the next "
                f"campaign re-checks it first): {', '.join(once)}"
            )
        if bugs is None:
            for finding in stats.findings:
                lines.append(f"  {folder / (finding.id + '.json')}: {finding.message.splitlines()[0]}")
        else:
            lines.append(
                f"by bug: {len(bugs.new)} new bug(s), {len(bugs.known)} known bug(s) with new findings "
                "(convfuzz report groups every finding of the folder)"
            )
            lines += bugs.lines(str(folder))
    else:
        lines.append("new findings: none")
    if stats.unconfirmed:
        lines.append(f"not recorded: {stats.unconfirmed} discrepancy(ies) that did not show again in three re-runs")
    if stats.sat_out:
        lines.append(
            "sat out after a stored crash of that kind: "
            + ", ".join(f"{who} cases {n}" for who, n in sorted(stats.sat_out.items()))
            + " (checks; the other oracles ran them)"
        )
    if stats.rechecked:
        lines.append(
            f"re-checked first: {sum(stats.rechecked.values())} unconfirmed finding(s) of earlier campaigns ("
            + ", ".join(f"{outcome} {n}" for outcome, n in sorted(stats.rechecked.items())) + ")"
        )
    if skipped_files:
        lines.append(f"warning: {skipped_files} unreadable finding file(s) in {folder} were ignored (see replay)")
    split = ", ".join(f"{k} {v:.1f} s" for k, v in stats.oracle_seconds.items())
    lines.append(
        f"time split: {split}, judge {stats.judge_seconds:.1f} s, "
        f"hypothesis+engine {stats.overhead_seconds():.1f} s"
    )
    lines.append(
        "closest approach to the bound (max err/bound of passing checks): "
        + ", ".join(f"{k} {v:.3g}" for k, v in sorted(stats.closest_to_bound.items()))
    )
    lines += implementation_lines(stats.features)
    lines.append("coverage: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.features.items())))
    return "\n".join(lines)


def _checked_oracles(
    args: argparse.Namespace, names: tuple[str, ...] | None, campaign_settings: CampaignSettings,
    pool: Pool | None,
) -> tuple[dict[str, Oracle], CampaignSettings]:
    """The oracles and the settings narrowed to the devices and ops they serve, once the findings folder is known
    to be writable; UsageError names what is wrong (the oracles are closed then). With a pool of campaign workers,
    the oracles are those the first worker built and reported (this process imports no framework); else they
    are built here."""
    if pool is None:
        oracles = _select_oracles(names, args.isolation, args.case_timeout, args.environments)
        if not args.isolation:  # the frameworks run in this process: it holds to a worker's memory budget
            cap_address_space(worker_memory_budget())
    else:
        ready = pool.first_ready()
        if ready is None:
            raise UsageError("the campaign's worker processes ended before their oracles were built")
        reported: dict[str, Oracle] = {
            n: ReportedOracle(n, d, ready.versions.get(n, {})) for n, d in ready.devices.items()
        }
        oracles = _enough_oracles(names, reported, ready.missing)
    try:
        campaign_settings = replace(
            campaign_settings,
            devices=_usable_devices(campaign_settings.devices, oracles),
            ops=_usable_ops(campaign_settings.ops, oracles, explicit=args.ops is not None),
        )
        FindingStore(args.findings).check_writable()
    except (UsageError, StoreError) as exc:
        close_oracles(oracles)
        raise UsageError(str(exc)) from None
    return oracles, campaign_settings


def _worker_pool(
    args: argparse.Namespace, choice: OracleChoice, devices: tuple[str, ...]
) -> Pool | None:
    """The campaign's workers, started now so that they build their oracles while the settings are checked: Ray
    actors with --ray (args.workers is set to their number), local processes with more than one worker, else
    None (the campaign runs in this process)."""
    if args.ray is not None:
        try:
            ray = connect(args.ray, local_cpus=args.workers or default_worker_count())
            try:
                where = placement(ray.cluster_resources(), args.workers, devices or None)
            except ClusterError:
                ray.shutdown()
                raise
        except ClusterError as exc:
            raise UsageError(str(exc)) from None
        args.workers = where.actors
        return RayPool(choice, ray, where)
    if args.workers is None:
        args.workers = default_worker_count()
    return WorkerPool(choice, args.workers) if args.workers > 1 else None


def command_run(args: argparse.Namespace) -> int:
    """`convfuzz run`: validate everything, then fuzz and store new findings."""
    campaign_settings = _campaign_settings(args)
    names = _choices("--oracles", args.oracles, oracle_names(), import_paths=True, also=is_known)
    args.environments = _environments(args.findings, args.environment_pairs)
    try:
        require_environments(names or (), args.environments)
    except BadEnvironment as exc:
        raise UsageError(f"--oracles: {exc}") from None
    # With several workers each builds its own oracles, and they start now; the first to have built them reports
    # what they are, and the checks below use that (this process imports no framework). A worker does nothing
    # until it is given its plan, so a usage error still writes nothing.
    choice = OracleChoice(names or default_oracles(), args.isolation, args.case_timeout,
                          tuple(args.environments.values()))
    pool = _worker_pool(args, choice, campaign_settings.devices)
    try:
        oracles, campaign_settings = _checked_oracles(args, names, campaign_settings, pool)
    except BaseException:
        if pool is not None:
            pool.cancel()
        raise
    store = FindingStore(args.findings)
    store.recover()
    existing, problems = store.load()
    progress = _Progress(sys.stderr)
    print(
        f"convfuzz run: seed {campaign_settings.seed}, oracles {', '.join(oracles)}, devices "
        f"{', '.join(campaign_settings.devices)}, {args.workers} worker(s), {len(existing)} known finding(s) "
        f"in {args.findings}",
        file=sys.stderr,
    )
    for name, oracle in oracles.items():
        reported = getattr(oracle, "versions", None)
        if environment_of(name) is not None and reported:  # which release each other environment's oracle is
            print(f"  {name}: {_release_words(reported)}", file=sys.stderr)
    known = settled_signatures(existing)
    unconfirmed = tuple(r for r in existing if not r.confirmed)
    if pool is not None:
        close_oracles(oracles)  # each worker has built its own
        plan = WorkerPlan(campaign_settings, names or tuple(oracles), args.isolation, args.case_timeout,
                          args.findings, known, unconfirmed)
        stats = pool.run(plan, progress.parallel)
    else:
        campaign = Campaign(oracles, campaign_settings, known, record=store.add, progress=progress,
                            unconfirmed=unconfirmed)
        try:
            stats = campaign.run()
        finally:
            close_oracles(oracles)
    progress.close()
    # A finding handed over before its shrinking ended may since have been replaced by another worker's smaller
    # case of the same signature (workers share the schedule's combinations): the run's new findings are the ones
    # still in the folder, each counted once. (A cluster campaign's are every finding its driver wrote, a
    # lost actor's included.)
    stats.findings = store.still_stored(stats.findings)
    bugs = run_bugs(existing, store.load()[0], [f.id for f in stats.findings])
    print(format_summary(stats, args.findings, len(problems), bugs, args.started))
    record = campaign_record(stats, campaign_settings, names or tuple(oracles), args.workers, environment(),
                             datetime.now(UTC), ray=args.ray)
    try:
        print(f"campaign record: {write_campaign_record(args.findings, record)}")
    except OSError as exc:  # the findings are written already; a missing record is worth a warning only
        print(f"warning: campaign record not written ({exc})", file=sys.stderr)
    # By default any new finding is news (a known bug reaching another op or dtype is evidence for its report);
    # a nightly job that pages only on new bugs says --fail-on new-bug.
    failing = bugs.new if args.fail_on == "new-bug" else stats.findings
    return EXIT_FINDINGS if failing else EXIT_CLEAN


def _replay_selection(args: argparse.Namespace) -> tuple[Path, list[FindingRecord], list[LoadProblem]]:
    """The folder and findings `convfuzz replay` checks: a folder given as the one target, else --findings with
    every finding, or the findings the targets name there."""
    folder: Path = args.findings
    names = list(args.targets)
    if len(names) == 1 and Path(names[0]).is_dir():
        folder, names = Path(names[0]), []
    if not folder.is_dir():
        raise UsageError(f"findings folder {folder} does not exist")
    if not names:
        records, problems = FindingStore(folder).load()
        return folder, records, problems
    try:
        return folder, [find_record(folder, name) for name in dict.fromkeys(names)], []
    except ExplainError as exc:
        raise UsageError(str(exc)) from None


def command_replay(args: argparse.Namespace) -> int:
    """`convfuzz replay`: re-check every stored finding (or the named ones); say per finding reproduces / fixed /
    regressed."""
    folder, records, problems = _replay_selection(args)
    place = None if args.environment is None else args.environment.partition("=")[0]
    if place is not None and args.update:
        raise UsageError("--update with --environment: a finding's status is about this interpreter's frameworks; "
                         "`convfuzz bisect --update` stores what other releases show")
    environments = _environments(folder, [args.environment] if args.environment else [])
    for problem in problems:
        print(f"{problem.path}: unreadable finding ({problem.problem})")
    if place is not None:
        print(f"replaying with the suspects in environment {place} ({environments[place].python})")
    store = FindingStore(folder)
    if args.update:
        try:
            store.check_writable()  # before an hour of replays, not after
        except StoreError as exc:
            raise UsageError(str(exc)) from None
    changed = regressed = 0
    here = versions(environment())
    bugs = group_bugs(records)
    print(f"{bugs_line(bugs)} in {folder}")
    for bug in bugs:
        print(bug.headline())  # each bug, then its findings
        for record in bug.findings:
            result = replay_record(record, accept_other_hardware=args.accept_other_hardware,
                                   environments=environments, place=place)
            print("  " + result.line())
            changed += not result.as_recorded
            regressed += result.state == REGRESSED
            new = updated_record(result, here, datetime.now(UTC)) if args.update else None
            if new is not None:
                store.update(new)
                if new.status != record.status:
                    print(f"    status: {record.status} -> {new.status}")
    print(f"replayed {len(records)} finding(s): {changed} changed status, {len(problems)} unreadable"
          + (" (stored)" if args.update else ""))
    # Updated, a changed status is recorded and only a regression still asks for attention.
    attention = regressed if args.update else changed
    return EXIT_FINDINGS if attention or problems else EXIT_CLEAN


def command_scripts(args: argparse.Namespace) -> int:
    """`convfuzz scripts`: write every finding's script afresh from its JSON (--check: say which differ)."""
    folder = args.folder or args.findings
    if not folder.is_dir():
        raise UsageError(f"findings folder {folder} does not exist")
    store = FindingStore(folder)
    records, problems = store.load()
    for problem in problems:
        print(f"{problem.path}: unreadable finding ({problem.problem})")
    if args.check:
        stale = store.stale_scripts(records)
        for path in stale:
            print(f"{path}: differs from what its JSON gives (convfuzz scripts {folder} rewrites it)")
        print(f"{len(records)} script(s) checked, {len(stale)} stale, {len(problems)} unreadable finding(s)")
        return EXIT_FINDINGS if stale or problems else EXIT_CLEAN
    try:
        store.check_writable()
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    written = store.rewrite_scripts(records)
    for path in written:
        print(f"{path}: rewritten")
    print(f"{len(records)} script(s), {len(written)} rewritten, {len(problems)} unreadable finding(s)")
    return EXIT_FINDINGS if problems else EXIT_CLEAN


def _wrong_releases(findings: Sequence[FindingRecord]) -> list[str]:
    """For each suspect of another environment among `findings`, the release it is, as its findings recorded it:
    'the wrong release: torch@nightly is torch 2.16.0.dev20261201 (3 findings)'."""
    counts = Counter(s for f in findings for s in f.suspects if environment_of(s) is not None)
    lines = []
    for suspect, count in sorted(counts.items()):
        release = found_in(next(f for f in findings if suspect in f.suspects), suspect)
        named = ", ".join(f"{name} {version}" for name, version in release.items()) or "an unrecorded release"
        lines.append(f"the wrong release: {suspect} is {named} ({count} finding{'s' * (count > 1)})")
    return lines


def _release_words(versions: dict[str, str]) -> str:
    """'torch 2.14.1, numpy 2.4.6, python 3.11.7 (/venvs/old/bin/python)': an environment's worker's versions."""
    named = ", ".join(f"{k} {v}" for k, v in versions.items() if k not in ("executable", "python"))
    return f"{named}, python {versions.get('python')} ({versions.get('executable')})"


def command_bisect(args: argparse.Namespace) -> int:
    """`convfuzz bisect ID --environments A,B,C`: replay one finding with its suspects in each environment; print
    the table, oldest release first, and since when it shows and where it was gone; --update stores both."""
    try:
        record = find_record(args.findings, args.finding)
    except ExplainError as exc:
        raise UsageError(str(exc)) from None
    texts = [t.strip() for t in args.environments.split(",") if t.strip()]
    if not texts:
        raise UsageError(f"--environments {args.environments!r} names nothing")
    environments = _environments(args.findings, texts)
    store = FindingStore(args.findings)
    if args.update:
        try:
            store.check_writable()
        except StoreError as exc:
            raise UsageError(str(exc)) from None
    places = [environments[t.partition("=")[0]] for t in dict.fromkeys(texts)]
    framework = suspect_framework(record)
    print(f"bisecting {record.id} ({framework}: {', '.join(record.suspects)}) over {len(places)} environment(s)")
    steps = bisect(record, places, environments, args.accept_other_hardware)
    print(bisect_table(steps))
    print(bisect_summary(framework, steps))
    if args.update:
        store.update(with_history(record, framework, steps, datetime.now(UTC)))
        print(f"stored in {record.id}.json (history.bisect)")
    return EXIT_CLEAN


def command_explain(args: argparse.Namespace) -> int:
    """`convfuzz explain ID`: one finding in plain words (or JSON), with an upstream issue ready to paste."""
    try:
        record = find_record(args.findings, args.finding)
    except ExplainError as exc:
        raise UsageError(str(exc)) from None
    folder = FindingStore(args.findings).load()[0] if args.findings.is_dir() else []
    environments = _environments(args.findings, [])  # a suspect 'torch@nightly' replays in convfuzz.toml's 'nightly'
    explanation = explain(record, replay=args.replay, folder=folder,
                          replayer=partial(replay_record, environments=environments))
    if args.json:
        print(json.dumps(explanation.to_json(), indent=1, allow_nan=True))
    else:
        print(render_text(explanation))
    return EXIT_CLEAN


def command_triage(args: argparse.Namespace) -> int:
    """`convfuzz triage ID`: store a verdict (class, upstream issue, note, bug) in a finding, under the folder lock."""
    verdict = TriageVerdict(args.triage_class, args.upstream, args.note, args.bug)
    try:
        verdict.check()
        record = find_record(args.findings, args.finding)
    except (TriageError, ExplainError) as exc:
        raise UsageError(str(exc)) from None
    store = FindingStore(args.findings)
    try:
        store.check_writable()
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    targets = triage_targets(record, store.load()[0], args.whole_bug)
    for changed in store.modify(targets, verdict.apply):
        print(f"{changed.id}: {triage_line(changed) or 'no verdict'}; bug {changed.bug or '-'}")
    return EXIT_CLEAN


def command_report(args: argparse.Namespace) -> int:
    """`convfuzz report`: index.html (plots as image files beside it) and summary.md of a folder or campaign."""
    folder = args.folder or args.findings
    try:
        data = gather(folder, args.campaign)
    except ReportError as exc:
        raise UsageError(str(exc)) from None
    out = args.out or folder / "report"
    try:
        index, summary = write_report(data, out)
    except OSError as exc:
        raise UsageError(f"cannot write the report to {out}: {exc}") from None
    print(f"report of {data.scope}: {len(data.campaigns)} campaign run(s), {len(data.findings)} finding(s)")
    print(f"  {index}\n  {summary}")
    return EXIT_CLEAN


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `convfuzz` console script and `python -m convfuzz`."""
    # A time budget counts from when convfuzz started: run as the command, from its first import (its own imports
    # and start-up are part of the budget; whatever ran in this process before, such as an installer that exec'd
    # it, is not); called from Python, from this call.
    started = convfuzz.STARTED if argv is None else time.time()
    try:
        frameworks()  # one registered by the environment that does not load is a usage error, said before anything
    except RegistrationError as exc:
        print(f"convfuzz: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    args = build_parser().parse_args(argv)
    args.started = started
    handlers = {
        "run": command_run, "replay": command_replay, "explain": command_explain, "triage": command_triage,
        "report": command_report, "scripts": command_scripts, "bisect": command_bisect,
    }
    try:
        return handlers[args.command](args)
    except UsageError as exc:
        print(f"convfuzz {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
