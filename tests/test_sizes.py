"""Size classes: large cases and production layers are drawn, stay within their budget, and small ones dominate."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis.errors import NoSuchExample

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.oracles.base import Oracle
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.strategies.budget import SizeBudget
from convfuzz.strategies.case import FORWARD_OPS, ConvCase, ConvConfig
from convfuzz.strategies.conv import MAX_PADDED_INPUT, conv_cases, conv_configs
from convfuzz.strategies.model_layers import MODEL_LAYERS, ModelLayer
from convfuzz.strategies.sizes import SIZE_CLASSES, SIZES_ENV, check_size_classes, large_budget, sizes_from_environment
from tests.known_bugs import unexplained

BUDGET = SizeBudget.from_elements(2048)


@given(conv_cases(budget=BUDGET, sizes=SIZE_CLASSES))
def test_every_case_is_valid_and_within_the_large_budget(case: ConvCase) -> None:
    cfg = case.config
    cfg.validate()
    large = large_budget(BUDGET)
    assert large.max_elements == 16 * 2048 and large.max_multiply_adds == 16 * BUDGET.max_multiply_adds
    assert all(math.prod(s) <= large.max_elements for s in (cfg.input_shape(), cfg.weight_shape(), cfg.output_shape()))
    assert cfg.multiply_adds() <= large.max_multiply_adds
    assert case.x.shape == cfg.input_shape() and case.w.shape == cfg.weight_shape()


def padded_input_elements(cfg: ConvConfig) -> int:
    """Elements of a forward case's input once padded as the case asks (what torch's F.pad materialises)."""
    padded = (n + max(lo, 0) + max(hi, 0) for n, (lo, hi) in zip(cfg.spatial, cfg.pad_pairs(), strict=True))
    return cfg.batch * cfg.in_channels * math.prod(padded)


def test_no_forward_case_pads_its_input_beyond_a_workers_means() -> None:
    """A long dilated kernel with 'same' padding and a stride once padded a few thousand elements to 1.2 G (torch's
    F.pad: 9 GiB, beyond the worker's memory budget, and torch was blamed for refusing). Without the cap, this
    search finds such a case in 3,000 examples (16.8 M elements); with it, none exists."""
    with pytest.raises(NoSuchExample):
        find(conv_configs(sizes=("large", "models"), ops=FORWARD_OPS),
             lambda cfg: padded_input_elements(cfg) > MAX_PADDED_INPUT,
             settings=settings(max_examples=3000, database=None, suppress_health_check=list(HealthCheck)))


def _reachable(predicate: object, **kwargs: object) -> ConvConfig:
    kwargs = {"sizes": SIZE_CLASSES, **kwargs}
    return find(conv_configs(**kwargs), predicate, settings=settings(max_examples=5000, database=None))  # type: ignore[arg-type]


def test_a_31_wide_2d_kernel_is_reachable() -> None:
    cfg = _reachable(lambda c: max(c.kernel) == 31, ops=("conv2d", "conv_transpose2d"))
    assert cfg.rank == 2


def test_a_64_long_1d_kernel_is_reachable() -> None:
    cfg = _reachable(lambda c: c.kernel == (64,), ops=("conv1d", "conv_transpose1d"), sizes=("large",))
    assert cfg.kernel == (64,)


def test_512_channels_are_reachable() -> None:
    cfg = _reachable(lambda c: max(c.in_channels, c.out_channels) >= 512)
    assert max(cfg.in_channels, cfg.out_channels) >= 512


def test_a_vector_width_neighbour_above_32_is_reachable() -> None:
    cfg = _reachable(lambda c: c.groups == 1 and c.in_channels in (33, 63, 65, 127, 129))
    assert cfg.in_channels % 16 != 0


def test_a_1d_length_in_the_thousands_is_reachable() -> None:
    cfg = _reachable(lambda c: c.spatial[0] >= 2000, ops=("conv1d",), sizes=("small", "large"))
    assert cfg.spatial[0] >= 2000


def test_batch_8_is_reachable() -> None:
    assert _reachable(lambda c: c.batch == 8).batch == 8


def test_a_production_layer_is_drawn_with_its_window() -> None:
    """RepLKNet's 31x31 depthwise layer with its padding of 15: only the models class draws both together."""
    cfg = _reachable(
        lambda c: c.op == "conv2d" and c.kernel == (31, 31) and c.padding.pairs == ((15, 15), (15, 15))
        and c.groups == c.in_channels > 1,
        ops=("conv2d",), sizes=("models",),
    )
    assert cfg.stride == (1, 1) and cfg.dilation == (1, 1)


@pytest.mark.parametrize("layer", MODEL_LAYERS, ids=lambda layer: layer.name)
def test_each_production_layer_fits_the_default_large_budget(layer: object) -> None:
    """Every layer is drawn as itself (kernel, stride, dilation), its channels at most one more than its own."""
    assert isinstance(layer, ModelLayer)
    cfg = _reachable(
        lambda c: c.kernel == layer.kernel and c.stride == layer.stride and c.dilation == layer.dilations()
        and (c.groups > 1) == (layer.groups > 1),
        ops=(layer.op,), sizes=("models",),
    )
    assert cfg.in_channels <= layer.in_channels + 1


def test_small_cases_dominate() -> None:
    """Most drawn cases stay in the small box (kernel <= 7 and the base budget), over a derandomized sample."""
    small: list[bool] = []

    @settings(max_examples=500, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(conv_configs(budget=SizeBudget(), sizes=SIZE_CLASSES))
    def collect(cfg: ConvConfig) -> None:
        shapes = (cfg.input_shape(), cfg.weight_shape(), cfg.output_shape())
        small.append(max(cfg.kernel) <= 7 and all(math.prod(s) <= SizeBudget().max_elements for s in shapes))

    collect()
    assert len(small) >= 400
    assert sum(small) / len(small) > 0.6


def test_size_classes_are_checked_by_name() -> None:
    assert check_size_classes(["models", "small"]) == ("small", "models")
    with pytest.raises(ValueError, match="'huge'"):
        check_size_classes(["small", "huge"])
    with pytest.raises(ValueError, match="empty"):
        check_size_classes([])


def test_size_classes_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SIZES_ENV, "large, models")
    assert sizes_from_environment() == ("large", "models")
    monkeypatch.setenv(SIZES_ENV, "")
    assert sizes_from_environment() == SIZE_CLASSES
    monkeypatch.setenv(SIZES_ENV, "tiny")
    with pytest.raises(ValueError, match="CONVFUZZ_SIZES='tiny'"):
        sizes_from_environment()


@pytest.mark.campaign
def test_a_campaign_of_every_size_class_on_real_frameworks_has_no_false_alarm(
    torch_oracle: Oracle, jax_oracle: Oracle,
) -> None:
    """Large cases and production layers in float32 and float64: sums run to thousands of products, and the bound
    must still hold for correct frameworks (a real bug must be one the committed findings explain)."""
    oracles = {"reference": ReferenceOracle(), "torch": torch_oracle, "jax": jax_oracle}
    settings_ = CampaignSettings(
        seed=25, max_examples=96, ops=FORWARD_OPS, dtypes=("float32", "float64"), sizes=SIZE_CLASSES,
    )
    stats = Campaign(oracles, settings_).run()
    assert stats.examples >= 96
    assert not unexplained(stats.findings), unexplained(stats.findings)
    assert stats.multiply_adds > 96 * SizeBudget().max_multiply_adds // 8  # large cases were among them
