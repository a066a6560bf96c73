"""complex64/complex128: the reference, the values, the bound and findings carry complex data end to end, and
planted complex-only bugs are found and shrunk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.judge.bounds import error_bound, is_exact_tier
from convfuzz.fuzz.judge.verdict import judge
from convfuzz.fuzz.store.folder import FindingStore
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.fuzz.store.script import finding_script
from convfuzz.oracles.base import Oracle, Outcome
from convfuzz.oracles.reference_oracle import ReferenceOracle, reference_output
from convfuzz.strategies.budget import SizeBudget
from convfuzz.strategies.case import COMPLEX_DTYPES, FORWARD_OPS, OPS, ConvCase
from convfuzz.strategies.conv import conv_cases
from convfuzz.strategies.values import ValueFamily
from tests.helpers import inserted_before_the_call, make_case, run_script
from tests.planted import PLANTED_COMPLEX_BUGS

SMALL = SizeBudget.from_elements(512)


@settings(max_examples=25)
@given(conv_cases(dtypes=COMPLEX_DTYPES, budget=SMALL))
def test_complex_reference_is_four_real_convolutions(case: ConvCase) -> None:
    """(a+bi) conv (c+di) = (a conv c - b conv d) + i (a conv d + b conv c), each with the real reference."""
    cfg = case.config
    a, b, c, d = np.real(case.x), np.imag(case.x), np.real(case.w), np.imag(case.w)

    def real(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        return reference_output(cfg, x, w, None)

    expected = real(a, c) - real(b, d) + 1j * (real(a, d) + real(b, c))
    if case.b is not None:
        expected = expected + case.b.reshape(1, -1, *([1] * cfg.rank))
    actual = reference_output(cfg, case.x, case.w, case.b)
    assert actual.dtype == np.complex128
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", COMPLEX_DTYPES)
def test_complex_values_are_exact_in_the_component_dtype(dtype: str) -> None:
    part = {"complex64": np.float32, "complex128": np.float64}[dtype]
    values = ValueFamily("normal", seed=3, scale=1.0).make((4, 5), dtype)
    assert values.dtype == np.complex128 and np.imag(values).any()
    for component in (np.real(values), np.imag(values)):
        np.testing.assert_array_equal(component.astype(part).astype(np.float64), component)
    assert not np.imag(ValueFamily("ones").make((3,), dtype)).any()  # shrinks to real data


def test_complex_finding_round_trips_exactly() -> None:
    case = make_case("complex64")
    planted = PLANTED_COMPLEX_BUGS[0]()
    verdict = judge(case, {"reference": Outcome.of(ReferenceOracle(), case), planted.name: Outcome.of(planted, case)})
    finding = FindingRecord.from_decision(case, verdict, {"platform": "test"})
    again = FindingRecord.from_json(finding.to_json())
    for name, tensor in case.tensors().items():
        assert again.case.tensors()[name].dtype == np.complex128
        np.testing.assert_array_equal(again.case.tensors()[name], tensor)
    assert again.to_json() == finding.to_json()


def test_complex_bound_covers_the_three_multiplication_form() -> None:
    """A float32 implementation of the 3M form stays within the complex64 bound on cancelling data, where the
    real-valued bound of the same A would not hold the imaginary part."""
    rng = np.random.default_rng(0)
    terms = 64
    x: np.ndarray = (rng.normal(size=terms) + 1j * rng.normal(size=terms)).astype(np.complex64).astype(np.complex128)
    w: np.ndarray = (rng.normal(size=terms) + 1j * rng.normal(size=terms)).astype(np.complex64).astype(np.complex128)
    exact = np.array([np.sum(x * w)])
    f32 = np.float32
    a, b, c, d = (np.real(x).astype(f32), np.imag(x).astype(f32), np.real(w).astype(f32), np.imag(w).astype(f32))
    ac, bd, both = np.sum(a * c, dtype=f32), np.sum(b * d, dtype=f32), np.sum((a + b) * (c + d), dtype=f32)
    gauss = np.array([complex(ac - bd, both - ac - bd)])
    abs_sum = np.array([np.sum(np.abs(x) * np.abs(w))])
    bound = error_bound(abs_sum, exact, np.zeros(1), terms, "complex64")
    assert np.abs(gauss - exact)[0] <= bound[0]
    assert not is_exact_tier([x, w], abs_sum, "complex64")


@pytest.mark.campaign
@pytest.mark.parametrize("planted_type", PLANTED_COMPLEX_BUGS, ids=lambda t: t.name)
def test_planted_complex_bug_is_found_and_shrunk(planted_type: type, tmp_path: Path) -> None:
    planted = planted_type()
    # Against the complex128 reference alone (the real frameworks' complex convolutions are checked by the campaign
    # below): a torch voter tripled the time, every shrink step a call to its worker.
    oracles = {"reference": ReferenceOracle(), planted.name: planted}
    settings_ = CampaignSettings(seed=3, max_examples=300, ops=FORWARD_OPS, dtypes=COMPLEX_DTYPES)
    stats = Campaign(oracles, settings_, record=FindingStore(tmp_path).add).run()
    assert stats.first_discrepancy_at is not None and stats.first_discrepancy_at <= 300
    assert stats.findings and all(f.suspects == (planted.name,) for f in stats.findings)
    smallest = min(stats.findings, key=lambda f: f.case.element_count())
    assert smallest.case.config.dtype in COMPLEX_DTYPES and smallest.case.element_count() <= 8


@pytest.mark.campaign
def test_complex_campaign_of_correct_frameworks_finds_nothing(torch_oracle: Oracle, jax_oracle: Oracle) -> None:
    oracles = {"reference": ReferenceOracle(), "torch": torch_oracle, "jax": jax_oracle}
    settings_ = CampaignSettings(seed=11, max_examples=60, ops=OPS, dtypes=COMPLEX_DTYPES)
    stats = Campaign(oracles, settings_).run()
    assert stats.checks >= 60 and not stats.findings, [f.message for f in stats.findings]


def test_complex_repro_script_runs_the_real_frameworks(tmp_path: Path) -> None:
    """A repro of a complex finding blaming torch: the literals are complex, both frameworks run, and on correct
    frameworks it says the discrepancy is gone; a torch call that conjugates the weight reproduces it."""
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    case = make_case("complex128", family="small_int")
    planted = PLANTED_COMPLEX_BUGS[0]()
    outcomes = {"reference": Outcome.of(ReferenceOracle(), case), "torch": Outcome.of(planted, case),
                "jax": Outcome.of(ReferenceOracle(), case)}
    finding = FindingRecord.from_decision(case, judge(case, outcomes), {"platform": "test"})
    text = finding_script(finding)
    assert "complex_array(" in text
    gone = run_script(text, tmp_path)
    assert gone.returncode == 0 and "GONE" in gone.stdout, gone.stdout + gone.stderr
    broken = run_script(inserted_before_the_call(text, "    w = w.conj()\n"), tmp_path)
    assert broken.returncode == 1 and "REPRODUCES" in broken.stdout, broken.stdout + broken.stderr
