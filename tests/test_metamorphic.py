"""Metamorphic oracles: a framework checked against itself through identities of convolution, usable with one
framework installed, and catching a planted forward bug on their own."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.cli import UsageError, _usable_devices
from convfuzz.fuzz.judge.verdict import judge
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.fuzz.store.script import finding_script
from convfuzz.oracles.base import Oracle, Outcome
from convfuzz.oracles.channel_matmul import ChannelMatmulOracle
from convfuzz.oracles.hand_check import HandCheckOracle
from convfuzz.oracles.metamorphic import RELATIONS, MetamorphicOracle
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.oracles.registry import serves, takes_part
from convfuzz.strategies.case import FORWARD_OPS, OPS, ConvCase, ConvConfig, Padding
from tests.conftest import in_process_or_skip
from tests.helpers import run_script
from tests.planted import OutputGroupsReversed

# One case that every relation rearranges: grouped, strided, dilated, padded on both sides, with bias, batch 2.
CASES = [
    ConvConfig("conv2d", 2, 4, 6, 2, (6, 7), (2, 3), (2, 3), (2, 1), Padding("explicit", ((2, -1), (1, 3))), True,
               "float64"),
    ConvConfig("conv1d", 3, 2, 4, 2, (6,), (3,), (2,), (2,), Padding("symmetric", ((2, 2),)), True, "float64",
               padding_mode="reflect"),
    ConvConfig("conv_transpose2d", 2, 4, 6, 2, (3, 4), (2, 3), (2, 3), (3, 1), Padding("symmetric", ((1, 1), (2, 2))),
               True, "float64", output_padding=(1, 2)),
]


@pytest.mark.parametrize("relation", list(RELATIONS))
@pytest.mark.parametrize("cfg", CASES, ids=lambda c: c.op)
def test_each_relation_reproduces_the_reference(relation: str, cfg: ConvConfig) -> None:
    """With the reference as the base, every relation gives the reference's own output (float64, to rounding)."""
    rng = np.random.default_rng(0)
    case = ConvCase(cfg, rng.normal(size=cfg.input_shape()), rng.normal(size=cfg.weight_shape()),
                    rng.normal(size=(cfg.out_channels,)))
    oracle = MetamorphicOracle(ReferenceOracle(), relation)
    if not serves(f"torch-{relation}", cfg):
        pytest.skip(f"{relation} does not apply to {cfg.op}")
    np.testing.assert_allclose(oracle.run(case), ReferenceOracle().run(case), rtol=1e-12, atol=1e-12)


def test_torch_metamorphic_oracles_agree_with_torch_and_the_reference(torch_oracle: Oracle) -> None:
    cfg = CASES[0]
    rng = np.random.default_rng(1)
    x, w, b = (rng.integers(-3, 4, size=s).astype(float) for s in (cfg.input_shape(), cfg.weight_shape(), (6,)))
    case = ConvCase(replace(cfg, dtype="float32"), x, w, b)
    oracles: dict[str, Oracle] = {"torch": torch_oracle, "reference": ReferenceOracle()}
    oracles |= {f"torch-{r}": MetamorphicOracle(torch_oracle, r) for r in RELATIONS}
    verdict = judge(case, {n: Outcome.of(o, case) for n, o in oracles.items()})
    assert verdict.exact_tier and not verdict.discrepant, verdict.message


@pytest.mark.campaign
def test_metamorphic_oracles_alone_catch_a_planted_forward_bug() -> None:
    """One framework (planted: grouped outputs land in the wrong group's slot) and its metamorphic oracles, no
    second framework: the group-split relation, which calls it with groups=1 only, disagrees with the direct
    call; with the reference voting too, the direct call is the suspect."""
    broken = OutputGroupsReversed()
    oracles: dict[str, Oracle] = {"broken": broken}
    oracles |= {f"broken-{r}": MetamorphicOracle(broken, r) for r in ("groupsplit", "batchsplit", "linear")}
    settings_ = CampaignSettings(seed=8, max_examples=300, ops=FORWARD_OPS, dtypes=("float32",))
    alone = Campaign(oracles, settings_).run()
    assert alone.first_discrepancy_at is not None and alone.first_discrepancy_at <= 300
    assert alone.findings and all("broken-groupsplit" in f.observed for f in alone.findings)
    voted = Campaign({**oracles, "reference": ReferenceOracle()}, settings_).run()
    found = [f for f in voted.findings if f.kind == "mismatch"]
    assert found and all("broken" in f.suspects and "broken-groupsplit" not in f.suspects for f in found)
    assert min(f.case.element_count() for f in found) <= 16


@pytest.mark.campaign
def test_single_framework_campaign_runs_without_jax(tmp_path: Path) -> None:
    """`convfuzz run` with torch, its metamorphic oracles and the reference, in a process where jax cannot be
    imported: the campaign needs no second framework. The ops only: the invalid stream's hostile parameters meet
    torch's own overflow bugs (committed findings), which are not this test's business."""
    pytest.importorskip("torch")
    oracles = ",".join(["torch", *(f"torch-{r}" for r in RELATIONS), "torch-matmul", "handcheck", "reference"])
    code = (
        "import sys; sys.modules['jax'] = None\n"
        "from convfuzz.fuzz.cli import main\n"
        f"sys.exit(main(['run', '--findings', {str(tmp_path / 'f')!r}, '--oracles', {oracles!r}, '--no-isolation',"
        " '--max-examples', '40', '--seed', '3', '--dtypes', 'float32,float64', '--workers', '1',"
        f" '--ops', {','.join(OPS)!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "torch-groupsplit" in done.stdout and "new findings: none" in done.stdout


def test_hand_check_answers_inputs_of_ones_inside_the_input_only() -> None:
    cfg = ConvConfig("conv2d", 2, 4, 6, 2, (5, 9), (2, 3), (2, 1), (1, 2), Padding("explicit", ((0, -1), (-2, 0))),
                     True, "float32")
    w = np.arange(float(np.prod(cfg.weight_shape()))).reshape(cfg.weight_shape()) - 20
    case = ConvCase(cfg, np.ones(cfg.input_shape()), w, np.arange(6.0))
    hand = HandCheckOracle()
    assert hand.serves(case)
    np.testing.assert_array_equal(hand.run(case), ReferenceOracle().run(case))
    assert not hand.serves(replace(case, x=case.x * 2))
    assert not hand.serves(replace(case, config=replace(cfg, padding=Padding("symmetric", ((1, 1), (0, 0))))))


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_channel_matmul_computes_one_by_one_convolutions(framework: str) -> None:
    oracle = in_process_or_skip(f"{framework}-matmul")
    cfg = ConvConfig("conv2d", 2, 6, 4, 2, (5, 7), (1, 1), (2, 3), (3, 1), Padding("explicit", ((1, -1), (2, 0))),
                     True, "float32")
    rng = np.random.default_rng(2)
    x, w, b = (rng.integers(-3, 4, size=s).astype(float) for s in (cfg.input_shape(), cfg.weight_shape(), (4,)))
    case = ConvCase(cfg, x, w, b)
    assert isinstance(oracle, ChannelMatmulOracle) and oracle.serves(case)
    np.testing.assert_array_equal(oracle.run(case), ReferenceOracle().run(case))
    three = replace(cfg, kernel=(3, 1))
    assert not oracle.serves(ConvCase(three, x, rng.normal(size=three.weight_shape()), b))


def test_a_relation_finding_script_says_to_replay_it(tmp_path: Path, torch_oracle: Oracle) -> None:
    """A finding whose only suspect is a relation between calls has no single framework call to show: its script
    says which convfuzz command checks it and exits 2 (cannot tell by itself)."""
    cfg = ConvConfig("conv2d", 2, 2, 2, 1, (3, 3), (1, 2), (1, 1), (1, 1), Padding("valid"), True, "float32")
    w = np.arange(8.0).reshape(cfg.weight_shape()) - 4
    case = ConvCase(cfg, np.ones(cfg.input_shape()), w, np.array([1.0, -1.0]))
    names = ["torch", "torch-batchsplit", "torch-linear", "handcheck", "reference"]
    outcomes = {n: Outcome.of(o, case) for n, o in {"torch": torch_oracle, "reference": ReferenceOracle()}.items()}
    outcomes |= {
        "torch-batchsplit": Outcome.of(MetamorphicOracle(torch_oracle, "batchsplit"), case),
        "torch-linear": Outcome(value=np.zeros(cfg.output_shape())),  # made up: the finding's only suspect
        "handcheck": Outcome.of(HandCheckOracle(), case),
    }
    record = FindingRecord.from_decision(case, judge(case, {n: outcomes[n] for n in names}), {})
    assert record.suspects == ("torch-linear",)
    done = run_script(finding_script(record), tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 2 and f"convfuzz replay {record.id}" in out, out


class _Opaque:
    """Stands for an isolated oracle: its object (and any serves method) lives in the worker process."""

    name = "opaque"

    def devices(self) -> tuple[str, ...]:
        return ("cpu",)

    def run(self, case: ConvCase) -> np.ndarray:
        raise AssertionError("never asked")


def test_case_rules_hold_for_isolated_oracles_by_name() -> None:
    """An isolated oracle is known by name only: the hand check, the matmul oracles and the relations that need a
    finite input must still sit out the cases they cannot compute."""
    cfg = ConvConfig("conv1d", 1, 1, 1, 1, (4,), (2,), (1,), (2,), Padding("valid"), False, "float32")
    nan_input = ConvCase(cfg, np.array([[[np.nan, 1.0, 1.0, 1.0]]]), np.ones((1, 1, 2)), None)
    ones = ConvCase(cfg, np.ones((1, 1, 4)), np.ones((1, 1, 2)), None)
    opaque = _Opaque()
    assert not takes_part("torch-dilatedzeros", opaque, nan_input)
    assert not takes_part("jax-linearw", opaque, nan_input)
    assert takes_part("torch-linear", opaque, nan_input)
    assert not takes_part("handcheck", opaque, nan_input) and takes_part("handcheck", opaque, ones)
    assert not takes_part("torch-matmul", opaque, ones)  # a kernel of 2


def test_host_side_oracles_alone_do_not_make_a_device_usable() -> None:
    """The reference and the hand check answer for every device but run on none: with only those two and a CPU
    oracle, a campaign fuzzes the CPU, not CUDA."""
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), "handcheck": HandCheckOracle(), "opaque": _Opaque()}
    assert _usable_devices((), oracles) == ("cpu",)
    with pytest.raises(UsageError, match="one of them running on it"):
        _usable_devices(("cuda",), oracles)
