"""Memory layouts and views: torch gets the case's tensors channels_last, strided or sliced, with the same values."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from convfuzz.fuzz.judge.verdict import judge
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.fuzz.store.script import finding_script
from convfuzz.oracles.base import Oracle, Outcome
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.oracles.torch_variants import arrange
from convfuzz.strategies.budget import SizeBudget
from convfuzz.strategies.case import LAYOUTS, ConvCase, Padding, layouts_for
from convfuzz.strategies.conv import conv_cases
from tests.helpers import make_case, run_script
from tests.planted import StridedWeightReadDense

NON_CONTIGUOUS = tuple(layout for layout in LAYOUTS if layout != "contiguous")


@pytest.mark.parametrize("layout", NON_CONTIGUOUS)
def test_arrange_changes_memory_not_values(layout: str) -> None:
    torch = pytest.importorskip("torch")
    x, w = torch.arange(2 * 4 * 5 * 6.0).reshape(2, 4, 5, 6), torch.arange(3 * 4 * 2 * 3.0).reshape(3, 4, 2, 3)
    ax, aw = arrange(torch, x, w, layout)
    assert torch.equal(ax, x) and torch.equal(aw, w)
    if layout == "channels_last":
        assert ax.is_contiguous(memory_format=torch.channels_last) and not ax.is_contiguous()
    else:
        assert not (ax.is_contiguous() and aw.is_contiguous())


def test_channels_last_is_never_drawn_for_conv1d() -> None:
    assert "channels_last" not in layouts_for(1) and "channels_last" in layouts_for(3)
    case = make_case()
    with pytest.raises(ValueError, match="channels_last"):
        replace(case.config, op="conv1d", spatial=(6,), kernel=(3,), stride=(1,), dilation=(1,),
                padding=Padding("valid"), layout="channels_last").validate()


@settings(max_examples=25)
@given(case=conv_cases(layouts=NON_CONTIGUOUS, budget=SizeBudget.from_elements(1024)))
def test_torch_agrees_with_the_reference_in_every_layout(torch_oracle: Oracle, case: ConvCase) -> None:
    assert case.config.layout != "contiguous"
    verdict = judge(case, {"reference": Outcome.of(ReferenceOracle(), case), "torch": Outcome.of(torch_oracle, case)})
    assert not verdict.discrepant, verdict.message


def test_layout_repro_arranges_the_tensors_as_the_oracle_did(torch_oracle: Oracle, tmp_path: Path) -> None:
    base = make_case(family="small_int")
    case = replace(base, config=replace(base.config, layout="sliced_weight"))
    outcomes = {"reference": Outcome.of(ReferenceOracle(), case), "torch": Outcome.of(StridedWeightReadDense(), case)}
    verdict = judge(case, outcomes)
    assert verdict.suspects == ("torch",)
    record = FindingRecord.from_decision(case, verdict, {"torch": "x", "platform": "test"})
    text = finding_script(record)
    assert "longer[..., : w.shape[-1]] = w" in text  # the weight as a slice of a longer buffer, as the oracle had it
    result = run_script(text, tmp_path)  # the real torch reads the slice correctly: gone
    assert result.returncode == 0 and "GONE" in result.stdout, result.stdout + result.stderr


def test_half_of_the_drawn_cases_keep_the_plain_layout() -> None:
    drawn: list[str] = []

    @settings(max_examples=200, derandomize=True)
    @given(case=conv_cases(ops=("conv2d",), budget=SizeBudget.from_elements(256)))
    def collect(case: ConvCase) -> None:
        drawn.append(case.config.layout)

    collect()
    share = drawn.count("contiguous") / len(drawn)
    assert 0.3 < share < 0.8, share
    assert set(drawn) == set(LAYOUTS)


def test_cli_refuses_layouts_no_op_can_have(tmp_path: Path) -> None:
    from convfuzz.fuzz.cli import main

    assert main(["run", "--ops", "conv1d", "--layouts", "channels_last", "--findings", str(tmp_path / "f")]) == 2
    assert main(["run", "--layouts", "diagonal", "--findings", str(tmp_path / "f")]) == 2
    assert not (tmp_path / "f").exists()


def test_strided_input_gaps_are_nan_so_a_dense_read_would_show() -> None:
    torch = pytest.importorskip("torch")
    x = torch.ones(1, 1, 4)
    strided, _ = arrange(torch, x, torch.ones(1, 1, 1), "strided_input")
    assert strided.stride()[-1] == 2
    assert bool(np.isnan(strided.as_strided((8,), (1,)).numpy()).sum() == 4)
