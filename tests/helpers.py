"""Made-up cases, findings and helpers the test modules share (so that no test module imports another)."""

from __future__ import annotations

import itertools
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from convfuzz.fuzz.judge.bounds import Comparison, compare
from convfuzz.fuzz.judge.decide import Decision, Observation
from convfuzz.fuzz.judge.verdict import judge
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.fuzz.store.script import expected_and_bound, finding_script
from convfuzz.oracles.base import FloatArray, Outcome
from convfuzz.oracles.call_text import runner_name
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.oracles.user_calls import user_runner
from convfuzz.strategies.case import ConvCase, ConvConfig, Padding
from convfuzz.strategies.values import ValueFamily
from tests.planted import DroppedBias


def make_case(dtype: str = "float32", family: str = "normal", k: int = 3) -> ConvCase:
    """A grouped, padded conv2d with bias (4 -> 4 channels, 2 groups, 6x6, kernel k) of one value family."""
    cfg = ConvConfig(
        op="conv2d", batch=1, in_channels=4, out_channels=4, groups=2, spatial=(6, 6), kernel=(k, k),
        stride=(1, 1), dilation=(1, 1), padding=Padding("symmetric", ((1, 1), (1, 1))), bias=True, dtype=dtype,
    )
    return family_case(cfg, family)


def grouped_conv2d(**changes: object) -> ConvConfig:
    """A 2-D float32 conv of 2 groups (4 -> 6 channels) over a 7x6 input, kernel (3, 2), changed as asked: the base
    case the framework modules' tests vary."""
    base = ConvConfig(op="conv2d", batch=2, in_channels=4, out_channels=6, groups=2, spatial=(7, 6), kernel=(3, 2),
                      stride=(1, 1), dilation=(1, 1), padding=Padding("valid"), bias=True, dtype="float32")
    return replace(base, **changes)  # type: ignore[arg-type]


def family_case(cfg: ConvConfig, family: str = "small_int", seed: int = 4) -> ConvCase:
    """`cfg` with every tensor of one value family (strategies.values.ValueFamily; small_int: integers in [-3, 3],
    every product and sum exact in each dtype for small cases), a bias where the config has one and the cotangent
    of a gradient case."""
    fam = ValueFamily(family, seed=seed, scale=1.0)
    bias = fam.make((cfg.out_channels,), cfg.dtype) if cfg.bias else None
    # A gradient case's cotangent has the forward output's shape.
    cotangent = fam.make(replace(cfg, gradient="").output_shape(), cfg.dtype) if cfg.gradient else None
    return ConvCase(cfg, fam.make(cfg.input_shape(), cfg.dtype), fam.make(cfg.weight_shape(), cfg.dtype), bias,
                    g=cotangent)


def make_record() -> FindingRecord:
    """A finding that blames the planted 'bias' oracle (it drops the bias) against the reference."""
    case = make_case()
    outcomes = {name: Outcome.of(o, case) for name, o in (("reference", ReferenceOracle()), ("bias", DroppedBias()))}
    verdict = judge(case, outcomes)
    assert verdict.discrepant
    return FindingRecord.from_decision(case, verdict, {"python": "3.11", "platform": "test"})


class Intermittent(DroppedBias):
    """Drops the bias only on every `period`-th call, like an out-of-bounds read that usually finds zeros."""

    name = "torch"

    def __init__(self, period: int) -> None:
        self.period = period
        self.calls = 0

    def run(self, case: ConvCase) -> FloatArray:
        self.calls += 1
        return super().run(case) if self.calls % self.period == 0 else ReferenceOracle().run(case)


def stored_finding() -> FindingRecord:
    """A finding that blames 'torch', found with the planted dropped bias standing in for it, on integer data."""
    case = make_case(family="small_int")
    outcomes = {"reference": Outcome.of(ReferenceOracle(), case), "torch": Outcome.of(DroppedBias(), case),
                "jax": Outcome.of(ReferenceOracle(), case)}
    return FindingRecord.from_decision(case, judge(case, outcomes), {"platform": "test"})


def run_script(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run a generated script in a fresh interpreter that cannot see this project."""
    script = tmp_path / "repro.py"
    script.write_text(text)
    # -I: isolated mode, the project folder is not on sys.path; cwd elsewhere too.
    return subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True, cwd=tmp_path,
                          timeout=300, check=False)


def inserted_before_the_call(text: str, lines: str) -> str:
    """A finding script with `lines` inserted into its torch runner right before the statements that make the call
    (an explicit pre-pad, the call, or its gradient)."""
    starts = ("    padded = ", "    out = ", "    (grad,) = ")
    call = next(line for line in text.splitlines(keepends=True) if line.startswith(starts))
    return text.replace(call, lines + call, 1)


def claim_that_torch_is_wrong(case: ConvCase, names: tuple[str, ...], suspect: str = "torch") -> FindingRecord:
    """A made-up finding that blames torch (or `suspect`) on `case`, computed by the oracles `names`."""
    nothing = Comparison(0.0, 0.0, (), 0.0, 0.0, 0.0)
    claim = Decision(kind="mismatch", suspects=(suspect,), exact_tier=False, max_ratio=2.0,
                     observations={n: Observation(n, "reference", nothing) for n in names})
    return FindingRecord.from_decision(case, claim, {"platform": "test"})


def run_claim_that_torch_is_wrong(case: ConvCase, names: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    """Run the script of a made-up finding that blames torch on `case`, computed by the oracles `names`."""
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    with tempfile.TemporaryDirectory() as folder:
        return run_script(finding_script(claim_that_torch_is_wrong(case, names)), Path(folder))


def user_form_comparisons(case: ConvCase, names: tuple[str, ...]) -> dict[str, Comparison]:
    """Each named oracle's call as a user writes it (oracles.user_calls: what a finding's script and explain show),
    run in this process on `case` and compared with the exact result within the judge's bound for that oracle.
    Oracles without a user form for the case are left out."""
    record = claim_that_torch_is_wrong(case, ("reference", *names))
    compared = {}
    for name in names:
        source = user_runner(name, case.config)
        if source is None:
            continue
        namespace: dict[str, Any] = {"np": np, "X": case.x, "W": case.w, "B": case.b, "G": case.g}
        exec(source, namespace)  # the function of X, W, B, G a finding's script carries
        exact, bound = expected_and_bound(record, name)
        compared[name] = compare(namespace[runner_name(name)](), exact, bound)
    return compared


def process_parents() -> dict[int, int]:
    """Every process on this machine with its parent's pid, from /proc (processes that end meanwhile are left out)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return parents


def naive_conv(case: ConvCase) -> np.ndarray:
    """Direct loops over every output element, straight from the definition (slow, obviously right)."""
    cfg = case.config
    pads = cfg.pad_pairs()
    out = np.zeros(cfg.output_shape())
    per_in = cfg.in_channels // cfg.groups
    per_out = cfg.out_channels // cfg.groups
    # XLA's batch groups: output channel o of batch sample n reads sample (o's batch group) * (N / G) + n.
    out_batch, per_batch_group = cfg.batch // cfg.batch_groups, cfg.out_channels // cfg.batch_groups
    for n, o in itertools.product(range(out_batch), range(cfg.out_channels)):
        group = o // per_out
        sample = (o // per_batch_group) * out_batch + n
        for pos in itertools.product(*(range(s) for s in cfg.output_spatial())):
            total = 0.0 if case.b is None else float(case.b[o])
            for i, k in itertools.product(range(per_in), itertools.product(*(range(k) for k in cfg.kernel))):
                src = [p * s + kk * d - lo for p, s, kk, d, (lo, _) in
                       zip(pos, cfg.stride, k, cfg.dilation, pads, strict=True)]
                if all(0 <= v < size for v, size in zip(src, cfg.spatial, strict=True)):
                    total += case.x[(sample, group * per_in + i, *src)] * case.w[(o, i, *k)]
            out[(n, o, *pos)] = total
    return out
