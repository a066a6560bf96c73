"""XLA's batch_group_count, a lax-only semantic: the reference from its definition, JAX against it, torch out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convfuzz.fuzz.judge.bounds import Comparison
from convfuzz.fuzz.judge.decide import Decision, Observation
from convfuzz.fuzz.judge.verdict import judge
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.fuzz.store.script import finding_script
from convfuzz.oracles.base import Outcome
from convfuzz.oracles.reference import batch_grouped_reference
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.oracles.registry import serves
from convfuzz.strategies.case import ConvCase, ConvConfig, Padding
from convfuzz.strategies.values import ValueFamily
from tests.conftest import oracle_or_skip
from tests.helpers import run_script


def test_reference_splits_the_batch_into_contiguous_chunks() -> None:
    # Batch 4 in 2 groups: samples 0-1 meet output channel 0, samples 2-3 output channel 1; output batch 2.
    x = np.arange(1.0, 5.0).reshape(4, 1, 1)
    w = np.array([10.0, 100.0]).reshape(2, 1, 1)
    out = batch_grouped_reference(x, w, np.array([0.5, 0.25]), (1,), [(0, 0)], (1,), 2)
    assert out.reshape(2, 2).tolist() == [[10.5, 300.25], [20.5, 400.25]]


@st.composite
def batch_grouped_cases(draw: st.DrawFn) -> ConvCase:
    groups = draw(st.integers(2, 3))
    rank = draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    cfg = ConvConfig(
        op=f"conv{rank}d", batch=groups * draw(st.integers(1, 2)), in_channels=draw(st.integers(1, 3)),
        out_channels=groups * draw(st.integers(1, 2)), groups=1,
        spatial=tuple(k + draw(st.integers(0, 4)) for k in kernel), kernel=kernel, stride=(1,) * rank,
        dilation=(1,) * rank, padding=Padding("symmetric", tuple((p, p) for p in [draw(st.integers(0, 1))] * rank)),
        bias=draw(st.booleans()), dtype=draw(st.sampled_from(["float32", "float64", "bfloat16"])),
        batch_groups=groups,
    )
    cfg.validate()
    family = ValueFamily("normal", seed=draw(st.integers(0, 99)))
    b = family.make((cfg.out_channels,), cfg.dtype) if cfg.bias else None
    return ConvCase(cfg, family.make(cfg.input_shape(), cfg.dtype), family.make(cfg.weight_shape(), cfg.dtype), b)


@settings(max_examples=20)
@given(batch_grouped_cases())
def test_jax_batch_group_count_agrees_with_the_reference(case: ConvCase) -> None:
    jax = oracle_or_skip("jax")
    outcomes = {"reference": Outcome.of(ReferenceOracle(), case), "jax": Outcome.of(jax, case)}
    assert outcomes["jax"].value is not None and outcomes["jax"].value.shape == case.config.output_shape()
    verdict = judge(case, outcomes)
    assert not verdict.discrepant, verdict.message


def test_torch_sits_out_batch_grouped_cases_and_configs_round_trip() -> None:
    cfg = ConvConfig("conv1d", 4, 1, 2, 1, (3,), (1,), (1,), (1,), Padding("valid"), False, "float32", batch_groups=2)
    cfg.validate()
    assert not serves("torch", cfg) and not serves("torch-compile@cpu", cfg) and serves("jax-eager", cfg)
    assert ConvConfig.from_json(cfg.to_json()) == cfg and cfg.output_shape() == (2, 2, 3)
    with pytest.raises(ValueError, match="batch_groups=3"):
        ConvConfig("conv1d", 4, 1, 3, 1, (3,), (1,), (1,), (1,), Padding("valid"), False, "float32",
                   batch_groups=3).validate()


def test_repro_of_a_batch_grouped_case_runs_jax_and_the_reference(tmp_path: Path) -> None:
    oracle_or_skip("jax")
    cfg = ConvConfig("conv2d", 4, 2, 2, 1, (3, 3), (2, 1), (1, 1), (1, 1), Padding("valid"), True, "float32",
                     batch_groups=2)
    family = ValueFamily("small_int", seed=3)
    case = ConvCase(cfg, family.make(cfg.input_shape(), "float32"), family.make(cfg.weight_shape(), "float32"),
                    family.make((2,), "float32"))
    nothing = Comparison(0.0, 0.0, (), 0.0, 0.0, 0.0)
    claim = Decision(kind="mismatch", suspects=("jax",), exact_tier=True, max_ratio=2.0,
                     observations={n: Observation(n, "reference", nothing) for n in ("reference", "jax")})
    script = finding_script(FindingRecord.from_decision(case, claim, {"platform": "test"}))
    assert "batch_group_count=2" in script
    result = run_script(script, tmp_path)
    assert result.returncode == 0 and "GONE" in result.stdout, result.stdout + result.stderr
