"""Backward passes: the float64 reference gradients, the framework oracles' gradients, and the engine finding and
shrinking planted gradient bugs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from convfuzz.fuzz.campaign.confirm import palate_cleanser
from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.settings import BACKWARD_ONE_IN, CampaignSettings
from convfuzz.fuzz.judge.verdict import judge
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.fuzz.store.script import finding_script
from convfuzz.oracles.base import Oracle, Outcome
from convfuzz.oracles.reference_oracle import ReferenceOracle, reference_output, reference_result
from convfuzz.strategies.case import FORWARD_OPS, GRADIENTS, ConvCase, ConvConfig, Padding, split_op_name
from convfuzz.strategies.conv import conv_configs
from tests.planted import PLANTED_GRADIENT_BUGS, GradWeightGroupsSwapped

# Forward and transposed configurations that stress the index bookkeeping of a gradient: padding modes that copy
# border elements (an input element appears twice or more), cropping pads, 'same' with an even kernel, strides
# that leave input elements unread, output_padding at and above the stride (dilation 3 > stride 1).
CONFIGS = [
    ConvConfig("conv1d", 2, 4, 6, 2, (7,), (3,), (2,), (1,), Padding("symmetric", ((2, 2),)), True, "float64",
               padding_mode="reflect"),
    ConvConfig("conv2d", 1, 2, 3, 1, (4, 5), (2, 3), (1, 2), (2, 1), Padding("symmetric", ((1, 1), (3, 3))), True,
               "float64", padding_mode="replicate"),
    ConvConfig("conv2d", 2, 3, 3, 3, (5, 4), (3, 2), (1, 1), (1, 1), Padding("symmetric", ((2, 2), (1, 1))), False,
               "float64", padding_mode="circular"),
    ConvConfig("conv2d", 1, 2, 2, 1, (6, 6), (2, 2), (3, 1), (1, 2), Padding("explicit", ((-2, 1), (3, -1))), True,
               "float64"),
    ConvConfig("conv3d", 1, 2, 4, 2, (3, 4, 5), (2, 1, 2), (1, 1, 1), (1, 1, 2), Padding("same"), True, "float64"),
    ConvConfig("conv_transpose1d", 2, 4, 2, 2, (3,), (3,), (1,), (3,), Padding("symmetric", ((1, 1),)), True,
               "float64", output_padding=(2,)),
    ConvConfig("conv_transpose2d", 1, 2, 6, 2, (3, 2), (2, 3), (2, 3), (1, 1), Padding("symmetric", ((1, 1), (2, 2))),
               True, "float64", output_padding=(1, 2)),
]


def _values(cfg: ConvConfig, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=cfg.input_shape()), "w": rng.normal(size=cfg.weight_shape()),
            "b": rng.normal(size=(cfg.out_channels,)), "g": rng.normal(size=cfg.output_shape())}


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.op}-{c.padding_mode}-{c.padding.kind}")
def test_reference_gradients_satisfy_the_defining_identities(cfg: ConvConfig) -> None:
    """The op is linear in x, in w and in b separately, so its gradient at cotangent g is the unique G with
    <G, v> = <g, op(v)> for every direction v: checked against the forward reference in random directions."""
    cfg.validate()
    t = _values(cfg, 0)
    rng = np.random.default_rng(1)

    def along(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> float:
        return float(np.sum(t["g"] * reference_output(cfg, x, w, b)))

    for gradient in ("input", "weight", "bias"):
        grad = reference_result(replace(cfg, gradient=gradient), t["x"], t["w"], t["b"], t["g"])
        v = rng.normal(size=grad.shape)
        x, w = t["x"], t["w"]
        if gradient == "input":
            expected = along(v, w, None)
        elif gradient == "weight":
            expected = along(x, v, None)
        else:
            expected = along(np.zeros_like(x), np.zeros_like(w), v)
        assert float(np.sum(grad * v)) == pytest.approx(expected, rel=1e-10, abs=1e-10), gradient


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.op}-{c.padding_mode}-{c.padding.kind}")
def test_framework_gradients_match_the_reference_in_float64(
    cfg: ConvConfig, torch_oracle: Oracle, jax_oracle: Oracle
) -> None:
    """torch autograd and jax.vjp agree with the reference in float64 on every gradient, judged like a campaign."""
    t = _values(cfg, 2)
    for gradient in ("input", "weight", "bias"):
        case = ConvCase(replace(cfg, gradient=gradient), t["x"], t["w"], t["b"], g=t["g"])
        outcomes = {o.name: Outcome.of(o, case) for o in (torch_oracle, jax_oracle, ReferenceOracle())}
        verdict = judge(case, outcomes)
        assert not verdict.discrepant, (gradient, verdict.message)


def test_gradient_case_round_trips_through_a_finding_and_its_palate_cleanser(tmp_path: Path) -> None:
    cfg = replace(CONFIGS[0], gradient="weight")
    t = _values(cfg, 3)
    case = ConvCase(cfg, t["x"], t["w"], t["b"], g=t["g"])
    outcomes = {"reference": Outcome.of(ReferenceOracle(), case), "broken": Outcome(value=np.zeros(cfg.result_shape()))}
    record = FindingRecord.from_decision(case, judge(case, outcomes), {})
    assert record.id.startswith("conv1d.grad_weight-float64-mismatch-broken-")
    assert record.signature.startswith("conv1d.grad_weight|")
    back = FindingRecord.from_json(record.to_json())
    assert back.case.config.gradient == "weight" and back.case.g is not None
    assert np.array_equal(back.case.g, t["g"])
    # Against torch, the script takes the weight's gradient through autograd at the stored cotangent.
    script = finding_script(replace(back, suspects=("torch",)))
    assert "w.requires_grad_(True)" in script and "grad_outputs=g" in script and "G = np.array(" in script
    cleanser = palate_cleanser(case)
    assert cleanser.g is not None and cleanser.g.shape == cleanser.config.output_shape()
    assert ReferenceOracle().run(cleanser).shape == cleanser.config.result_shape()


def test_op_names_with_gradients() -> None:
    assert split_op_name("conv_transpose3d.grad_bias") == ("conv_transpose3d", "bias")
    assert split_op_name("conv2d") == ("conv2d", "")
    with pytest.raises(ValueError, match=r"conv2d\.grad_output"):
        split_op_name("conv2d.grad_output")
    with pytest.raises(ValueError, match="bias gradient needs a case with bias"):
        replace(CONFIGS[2], gradient="bias").validate()


MAX_EXAMPLES_TO_FIND = 300
MAX_REPRO_ELEMENTS = 64


@pytest.mark.campaign
@pytest.mark.parametrize(("planted_type", "ops"), PLANTED_GRADIENT_BUGS, ids=lambda v: getattr(v, "name", "ops"))
def test_planted_gradient_bug_is_found_within_300_examples(planted_type: type, ops: tuple[str, ...]) -> None:
    planted = planted_type()
    # Against the float64 reference gradients alone: real torch gradients are checked by the campaign below, and
    # their real findings (half-precision accumulation) would only add cases to shrink here.
    oracles = {"reference": ReferenceOracle(), planted.name: planted}
    # float32 only: the planted bugs are blind to the dtype, and each dtype more is one more finding to shrink.
    settings_ = CampaignSettings(seed=5, max_examples=MAX_EXAMPLES_TO_FIND, ops=ops, dtypes=("float32",))
    stats = Campaign(oracles, settings_).run()
    assert stats.first_discrepancy_at is not None and stats.first_discrepancy_at <= MAX_EXAMPLES_TO_FIND
    found = [f for f in stats.findings if f.kind == "mismatch"]
    assert found and all(f.suspects == (planted.name,) for f in stats.findings), [
        (f.kind, f.suspects) for f in stats.findings
    ]
    assert all(f.case.config.op_name in ops for f in found)
    assert min(f.case.element_count() for f in found) <= MAX_REPRO_ELEMENTS


@pytest.mark.campaign
def test_gradient_campaign_on_correct_frameworks_finds_nothing(torch_oracle: Oracle, jax_oracle: Oracle) -> None:
    """torch autograd, jax.vjp and the reference agree on every op and gradient in float32 and float64 (the half
    types hold real half-precision accumulation findings: docs/findings.md)."""
    oracles = {"reference": ReferenceOracle(), "torch": torch_oracle, "jax": jax_oracle}
    settings_ = CampaignSettings(seed=6, max_examples=150, dtypes=("float32", "float64"), gradients="all")
    campaign = Campaign(oracles, settings_)
    stats = campaign.run()
    assert not stats.findings, [f.message for f in stats.findings]
    computed = {feature for feature in stats.features if feature.startswith("op:")}
    assert {"op:conv2d.grad_input", "op:conv2d.grad_weight"} <= computed, computed
    assert campaign.schedule.gradients_of("conv2d") == ("conv2d", ("", "input", "weight", "bias"))


def _drawn_gradients(backward_one_in: int | None) -> list[str]:
    """What 400 derandomized conv2d cases compute, given `backward_one_in`."""
    seen: list[str] = []
    drawn = conv_configs(
        ops=("conv2d",), dtypes=("float32",), gradients=("", *GRADIENTS), backward_one_in=backward_one_in
    )

    @settings(max_examples=400, derandomize=True, database=None)
    @given(drawn)
    def collect(cfg: ConvConfig) -> None:
        seen.append(cfg.gradient)

    collect()
    return seen


def test_one_case_in_four_is_a_gradient_by_default() -> None:
    """With backward_one_in (the default campaign's share), about a quarter of an op's cases are one of its
    gradients; without it, each of the op and its three gradients is equally likely."""
    some = _drawn_gradients(BACKWARD_ONE_IN)
    assert 0.1 < sum(bool(g) for g in some) / len(some) < 0.4
    assert {g for g in some if g} == set(GRADIENTS)
    every = _drawn_gradients(None)
    assert sum(bool(g) for g in every) / len(every) > 0.5


@pytest.mark.campaign
@pytest.mark.parametrize("share", ["some", "none"])
def test_a_default_campaign_meets_a_backward_bug_and_no_gradients_does_not(share: str, tmp_path: Path) -> None:
    """A campaign of every forward op with the default share of gradients finds a planted weight-gradient bug;
    with gradients off (--no-gradients) it checks no gradient and finds nothing."""
    planted = GradWeightGroupsSwapped()
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), planted.name: planted}
    settings_ = CampaignSettings(seed=3, max_examples=300, ops=FORWARD_OPS, dtypes=("float64",), gradients=share)
    stats = Campaign(oracles, settings_).run()
    op_checks = {feature: n for feature, n in stats.features.items() if feature.startswith("op:")}
    gradient_checks = sum(n for feature, n in op_checks.items() if ".grad_" in feature)
    if share == "none":
        assert gradient_checks == 0 and not stats.findings
        return
    assert gradient_checks > 0
    found = [f for f in stats.findings if f.suspects == (planted.name,)]
    assert found and all(f.case.config.gradient == "weight" for f in found)
