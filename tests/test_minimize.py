"""Minimising a large finding parameter by parameter reaches the threshold of a bug, not the layer it was found on."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from convfuzz.fuzz.campaign.minimize import minimized, rebuilt
from convfuzz.oracles.base import Oracle
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.strategies.budget import SizeBudget
from convfuzz.strategies.case import ConvCase, ConvConfig, Padding
from convfuzz.strategies.conv import beyond_small_class, case_from
from convfuzz.strategies.sizes import large_budget
from convfuzz.strategies.values import ValueFamily
from tests.planted import ChannelTailDropped, LongKernelTapsDropped

REFERENCE = ReferenceOracle()


def _replknet_case() -> ConvCase:
    """RepLKNet's 31x31 depthwise layer, cut to 64 channels, on a 5x5 input."""
    cfg = ConvConfig(
        op="conv2d", batch=2, in_channels=64, out_channels=64, groups=64, spatial=(5, 5), kernel=(31, 31),
        stride=(1, 1), dilation=(1, 1), padding=Padding("symmetric", ((15, 15), (15, 15))), bias=True,
        dtype="float64", device="cpu", layout="contiguous",
    )
    return case_from(cfg, {"x": ValueFamily("small_int", seed=3), "w": ValueFamily("ones"), "b": ValueFamily("zeros")})


def _differs(plant: Oracle) -> Callable[[ConvCase], bool]:
    def fails(case: ConvCase) -> bool:
        return not np.array_equal(plant.run(case), REFERENCE.run(case))

    return fails


def test_a_kernel_bug_found_on_a_production_layer_is_lowered_to_its_threshold() -> None:
    case = _replknet_case()
    assert beyond_small_class(case.config, SizeBudget())
    smallest = minimized(case, _differs(LongKernelTapsDropped()), large_budget(SizeBudget()), lambda: False)
    cfg = smallest.config
    assert cfg.kernel[-1] == 15 and cfg.kernel[0] == 1
    assert (cfg.batch, cfg.in_channels, cfg.out_channels, cfg.groups) == (1, 1, 1, 1)
    assert smallest.element_count() < case.element_count()
    assert smallest.families == case.families


def test_a_channel_bug_is_lowered_to_33_channels_per_group() -> None:
    cfg = ConvConfig(
        op="conv1d", batch=1, in_channels=129, out_channels=128, groups=1, spatial=(9,), kernel=(3,), stride=(2,),
        dilation=(1,), padding=Padding("valid"), bias=False, dtype="float64", device="cpu", layout="contiguous",
    )
    case = case_from(cfg, {"x": ValueFamily("ones"), "w": ValueFamily("ones")})
    smallest = minimized(case, _differs(ChannelTailDropped()), large_budget(SizeBudget()), lambda: False)
    assert smallest.config.in_channels == 33 and smallest.config.out_channels == 1
    assert smallest.config.kernel == (1,) and smallest.config.spatial == (1,)


def test_minimising_stops_when_time_is_up() -> None:
    case = _replknet_case()
    assert minimized(case, _differs(LongKernelTapsDropped()), large_budget(SizeBudget()), lambda: True) is case


def test_a_case_is_rebuilt_from_its_families_on_new_shapes() -> None:
    case = _replknet_case()
    smaller = rebuilt(case, ConvConfig(**{**vars(case.config), "in_channels": 2, "out_channels": 2, "groups": 2}))
    assert smaller is not None and smaller.x.shape == (2, 2, 5, 5) and smaller.w.shape == (2, 1, 31, 31)
    assert rebuilt(case, ConvConfig(**{**vars(case.config), "groups": 3})) is None  # 3 does not divide 64
