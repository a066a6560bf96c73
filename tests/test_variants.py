"""Oracle variants (backend settings, torch.compile, eager JAX, device pins) and the TF32 contract."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.replay import FIXED, INCONCLUSIVE, replay_record
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.judge.bounds import PASS, PRECISION, error_bound
from convfuzz.fuzz.judge.verdict import judge, yardstick
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.fuzz.store.script import finding_script
from convfuzz.oracles.base import Oracle, OracleUnavailable, Outcome
from convfuzz.oracles.pinned import PinnedOracle, split_pin
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.oracles.registry import is_known, make_oracle, serves
from convfuzz.strategies.budget import SizeBudget
from convfuzz.strategies.case import FORWARD_OPS, ConvCase, ConvConfig, Padding
from convfuzz.strategies.conv import conv_cases
from convfuzz.strategies.dtypes import round_to_dtype
from tests.conftest import in_process_or_skip, oracle_or_skip
from tests.helpers import make_case, run_script, user_form_comparisons
from tests.known_bugs import unexplained
from tests.planted import DroppedBias

CPU_VARIANTS = ("torch-nomkldnn", "torch-compile", "jax-eager", "torch@cpu")


@pytest.fixture(scope="module")
def cpu_variants() -> dict[str, Oracle]:
    return {name: oracle_or_skip(name) for name in CPU_VARIANTS}


@settings(max_examples=12)
@given(case=conv_cases(ops=("conv1d", "conv2d"), budget=SizeBudget.from_elements(512)))
def test_cpu_variants_agree_with_the_reference(cpu_variants: dict[str, Oracle], case: ConvCase) -> None:
    """No false alarm from any variant. conv3d is left out: torch 2.13's inductor fails to compile F.pad + conv3d
    with dynamic shapes, a real finding stored in findings/ and replayed by test_findings_replay."""
    outcomes = {"reference": Outcome.of(ReferenceOracle(), case)}
    outcomes |= {name: Outcome.of(oracle, case) for name, oracle in cpu_variants.items() if serves(name, case.config)}
    verdict = judge(case, outcomes)
    assert not verdict.discrepant, verdict.message


def test_disabling_onednn_changes_the_backend_torch_picks() -> None:
    """The setting really reaches torch: a case oneDNN serves goes to the slow path under torch-nomkldnn."""
    plain, off = oracle_or_skip("torch"), oracle_or_skip("torch-nomkldnn")
    cfg = ConvConfig("conv2d", 2, 8, 8, 1, (16, 16), (3, 3), (1, 1), (1, 1), Padding("valid"), False, "float32")
    case = ConvCase(cfg, np.ones(cfg.input_shape()), np.ones(cfg.weight_shape()), None)
    plain.run(case)
    off.run(case)
    served: str = getattr(plain, "last_path", None) or ""
    if served.partition("/")[0] != "Mkldnn":
        pytest.skip(f"this torch build serves the case with {served or None}, not oneDNN")
    assert "/" in served  # the oneDNN implementation behind it (oracles.onednn_log)
    slow: str = getattr(off, "last_path", None) or ""
    # Another backend, and no oneDNN convolution ran at all.
    assert slow and slow.partition("/")[0] != "Mkldnn" and "/" not in slow, slow


def test_torch_compile_starts_every_shape_class_afresh() -> None:
    """A new shape class resets dynamo (so it compiles as in a fresh process); the same class is reused."""
    compiled = in_process_or_skip("torch-compile")
    base = make_case()
    before = getattr(compiled, "compile_resets", 0)
    for stride in ((1, 1), (1, 1), (2, 1), (2, 1), (1, 2)):  # three shape classes, each called twice in a row
        case = replace(base, config=replace(base.config, stride=stride))
        verdict = judge(case, {"reference": Outcome.of(ReferenceOracle(), case),
                               "torch-compile": Outcome.of(compiled, case)})
        assert not verdict.discrepant, verdict.message
    assert getattr(compiled, "compile_resets", 0) - before == 2


def test_pins_parse_and_refuse_devices_the_oracle_lacks() -> None:
    assert split_pin("torch-compile@cuda") == ("torch-compile", "cuda")
    assert split_pin("jax") == ("jax", None)
    # A word after '@' that is not a device names an environment (oracles.environments), which selection checks.
    assert split_pin("jax@tpu") == ("jax", None) and split_pin("jax@nightly@cuda") == ("jax", "cuda")
    with pytest.raises(KeyError, match="more than one"):
        split_pin("jax@cpu@cuda")
    with pytest.raises(KeyError, match="neither a device"):
        split_pin("jax@tp/u")
    assert is_known("torch-tf32@cpu") and not is_known("torch@cpu@cuda") and not is_known("mxnet")
    with pytest.raises(OracleUnavailable, match="cannot run on cuda"):
        PinnedOracle(ReferenceCpuOnly(), "cuda")


class ReferenceCpuOnly(ReferenceOracle):
    name = "reference-cpu"

    def devices(self) -> tuple[str, ...]:
        return ("cpu",)


def test_pinned_oracle_runs_on_its_device_whatever_the_case_says() -> None:
    seen: list[str] = []

    class Recording(ReferenceOracle):
        name = "recording"

        def run(self, case: ConvCase) -> np.ndarray:
            seen.append(case.config.device)
            return super().run(case)

    case = make_case()
    pinned = PinnedOracle(Recording(), "cpu")
    np.testing.assert_array_equal(pinned.run(replace(case, config=replace(case.config, device="cuda"))),
                                  ReferenceOracle().run(case))
    assert seen == ["cpu"] and pinned.name == "recording@cpu" and "cuda" in pinned.devices()


def tf32(values: np.ndarray) -> np.ndarray:
    """float32 values cut to TF32 by truncation (the 13 low mantissa bits cleared): the worst a GPU may do."""
    bits = values.astype(np.float32).view(np.uint32) & np.uint32(0xFFFFE000)
    return bits.view(np.float32).astype(np.float64)


def test_tf32_results_pass_only_under_the_tf32_contract() -> None:
    rng = np.random.default_rng(11)
    beyond_float32 = 0
    for trial in range(200):
        k = int(rng.integers(1, 300))
        x = round_to_dtype(rng.normal(size=k), "float32")
        w = round_to_dtype(rng.normal(size=k), "float32")
        got = np.float32(0)
        for i in rng.permutation(k):  # TF32 products, float32 accumulation in any order
            got = np.float32(got + np.float32(tf32(x[i : i + 1])[0] * tf32(w[i : i + 1])[0]))
        exact = float(np.dot(x, w))
        args = (np.array([np.dot(np.abs(x), np.abs(w))]), np.array([exact]), np.zeros(1), k, "float32")
        error = abs(float(got) - exact)
        assert error <= error_bound(*args, PASS, oracle="torch-tf32")[0], f"trial {trial}"
        assert error <= error_bound(*args, PRECISION)[0], f"trial {trial}: TF32 must be the precision level"
        beyond_float32 += error > error_bound(*args, PASS)[0]
    assert beyond_float32 > 100  # TF32 really is beyond the float32 contract


def test_judge_applies_the_tf32_contract_by_name() -> None:
    case = make_case(family="normal")
    yard = yardstick(case)
    # What a TF32 convolution may return: off by a few TF32 ulps of |x| conv |w|.
    off = yard.exact + 2 * 2.0**-11 * yard.abs_sum
    plain = judge(case, {"reference": Outcome(value=yard.exact), "torch": Outcome(value=off)})
    assert plain.kind == "precision" and plain.suspects == ("torch",)
    relaxed = judge(case, {"reference": Outcome(value=yard.exact), "torch-tf32@cuda": Outcome(value=off)})
    assert not relaxed.discrepant, relaxed.message


@pytest.mark.campaign
def test_device_only_variants_sit_out_other_devices_cases() -> None:
    """An oracle that only serves cuda is never asked about a cpu case (here it would be wrong on every one)."""

    class CudaOnlyBroken(DroppedBias):
        name = "cuda_only"

        def devices(self) -> tuple[str, ...]:
            return ("cuda",)

    oracles: dict[str, Oracle] = {
        "reference": ReferenceOracle(), "reference@cpu": PinnedOracle(ReferenceOracle(), "cpu"),
        "cuda_only": CudaOnlyBroken(),
    }
    stats = Campaign(oracles, CampaignSettings(seed=3, max_examples=40, ops=("conv1d",), dtypes=("float64",))).run()
    assert stats.checks >= 40 and not stats.findings and "cuda_only" not in stats.oracle_seconds


def test_script_calls_the_suspect_variant_with_its_backend_settings(tmp_path: Path) -> None:
    """A finding against a variant calls that variant as a user writes it (its backend flag set in the script);
    on a correct torch the discrepancy is gone."""
    for name in CPU_VARIANTS:
        oracle_or_skip(name)
    case = make_case(family="small_int")
    voters = ("reference", *CPU_VARIANTS)
    outcomes = {name: Outcome(value=yardstick(case).exact) for name in voters}
    outcomes["torch-nomkldnn"] = Outcome.of(DroppedBias(), case)
    verdict = judge(case, outcomes)
    assert verdict.suspects == ("torch-nomkldnn",)
    record = FindingRecord.from_decision(case, verdict, {"torch": "x", "platform": "test"})
    text = finding_script(record)
    assert "def run_torch_nomkldnn(" in text and "torch.backends.mkldnn.enabled = False" in text
    result = run_script(text, tmp_path)
    assert result.returncode == 0 and "GONE" in result.stdout, result.stdout + result.stderr


def test_cli_refuses_a_pin_to_an_unknown_device(tmp_path: Path) -> None:
    from convfuzz.fuzz.cli import main

    assert main(["run", "--oracles", "torch@tpu,reference", "--findings", str(tmp_path / "f")]) == 2
    assert not (tmp_path / "f").exists()


def test_make_oracle_builds_pinned_variants() -> None:
    oracle = oracle_or_skip("jax-eager@cpu")
    assert oracle.name == "jax-eager@cpu"
    with pytest.raises(KeyError):
        make_oracle("jax-lazy")


def test_replay_is_inconclusive_when_the_suspect_ran_on_another_processor_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A CPU-kernel finding stored without kernel-selecting facts that does not show on another CPU model is
    inconclusive, not called fixed."""
    oracle_or_skip("torch")
    # This machine as a numbered model: a family name alone ('Intel(R) Xeon(R) Processor') never matches.
    monkeypatch.setattr("convfuzz.fuzz.campaign.replay.device_model", lambda device: "Imaginary CPU 7000")
    case = make_case(family="small_int")
    outcomes = {"reference": Outcome.of(ReferenceOracle(), case), "torch@cpu": Outcome.of(DroppedBias(), case)}
    verdict = judge(case, outcomes)
    assert verdict.suspects == ("torch@cpu",)
    elsewhere = FindingRecord.from_decision(case, verdict, {"devices": {"cpu": "Imaginary CPU 9000"}})
    # A pinned suspect's '@' never reaches a file name, and the record loads back.
    assert "-torch-at-cpu-" in elsewhere.id and FindingRecord.from_json(elsewhere.to_json()).id == elsewhere.id
    result = replay_record(elsewhere)
    assert result.state == INCONCLUSIVE and "Imaginary CPU 9000" in result.reason
    here = FindingRecord.from_decision(case, verdict, {"devices": {"cpu": "Imaginary CPU 7000"}})
    assert replay_record(here).state == FIXED  # the real torch has no dropped bias


@settings(max_examples=6, deadline=None)
@given(conv_cases(ops=FORWARD_OPS, dtypes=("float16", "float32"), budget=SizeBudget.from_elements(256)))
def test_user_form_of_the_jax_layout_and_wide_output_variants_computes_the_case(case: ConvCase) -> None:
    """jax-nhwc (NHWC/HWIO through dimension_numbers) and jax-f32out (preferred_element_type=float32) as a user
    writes them (what a finding's script and explain show) compute the case within the judge's bound."""
    oracle_or_skip("jax")
    compared = user_form_comparisons(case, ("jax-nhwc", "jax-f32out"))
    assert set(compared) == {"jax-nhwc", "jax-f32out"}
    assert all(c.within for c in compared.values()), (case.config, compared)


@pytest.mark.campaign
def test_jax_layout_and_wide_output_variants_agree_with_the_reference() -> None:
    names = ("jax-nhwc", "jax-f32out")
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), **{n: oracle_or_skip(n) for n in names}}
    stats = Campaign(oracles, CampaignSettings(seed=9, max_examples=96, ops=FORWARD_OPS)).run()
    assert stats.examples >= 96 and not unexplained(stats.findings), unexplained(stats.findings)
    assert stats.features["padding_mode:reflect"] + stats.features["padding_mode:circular"] > 0
    wide = oracle_or_skip("jax-f32out")
    cfg = ConvConfig("conv1d", 1, 1, 1, 1, (3,), (3,), (1,), (1,), Padding("valid"), False, "float16")
    # 1 + 2^-11 + 2^-11 is not a float16 number: the float32 output keeps it.
    values = np.array([[[1.0, 2.0**-11, 2.0**-11]]])
    assert wide.run(ConvCase(cfg, values, np.ones((1, 1, 3)), None)).item() == 1 + 2.0**-10
