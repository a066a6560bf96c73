"""Oracle adapters: unavailable frameworks explain themselves; torch and JAX agree with the reference on
hand-made cases that use each padding form the adapters translate."""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np
import pytest

from convfuzz.oracles.base import Oracle, OracleUnavailable
from convfuzz.oracles.jax_oracle import MAX_CACHED_SIGNATURES, JaxOracle
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.oracles.registry import make_oracle
from convfuzz.oracles.selection import available_oracles
from convfuzz.oracles.torch_oracle import torch_padding_plan
from convfuzz.strategies.case import ConvCase, ConvConfig, Padding


def case_with(padding: Padding, stride: tuple[int, int] = (1, 1), dtype: str = "float32") -> ConvCase:
    cfg = ConvConfig(op="conv2d", batch=1, in_channels=2, out_channels=4, groups=2, spatial=(5, 6), kernel=(2, 3),
                     stride=stride, dilation=(2, 1), padding=padding, bias=True, dtype=dtype)
    x = np.arange(60, dtype=np.float64).reshape(cfg.input_shape()) % 7
    w = np.arange(24, dtype=np.float64).reshape(cfg.weight_shape()) % 5 - 2
    return ConvCase(cfg, x, w, np.array([1.0, -1.0, 2.0, 0.0]))


def test_missing_framework_is_unavailable_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = importlib.import_module

    def no_torch(name: str, package: str | None = None) -> ModuleType:
        if name.split(".", maxsplit=1)[0] == "torch":
            raise ImportError("No module named 'torch'")
        return real_import(name, package)

    monkeypatch.setattr(importlib, "import_module", no_torch)
    with pytest.raises(OracleUnavailable, match="torch is not installed"):
        make_oracle("torch")
    usable, missing = available_oracles(("torch", "reference"))
    assert list(usable) == ["reference"] and "torch is not installed" in missing["torch"]


def test_torch_padding_plan() -> None:
    assert torch_padding_plan(case_with(Padding("same")).config) == (None, "same")
    # torch refuses 'same' with stride 2: pad explicitly by XLA's rule (odd extra pad on the high side).
    # dim 0: 5 inputs, effective kernel 3 -> 3 outputs need 2 pad (1, 1); dim 1: 6 inputs -> 1 pad (0, 1).
    # F.pad lists the last dim first.
    assert torch_padding_plan(case_with(Padding("same"), stride=(2, 2)).config) == ([0, 1, 1, 1], 0)
    assert torch_padding_plan(case_with(Padding("explicit", ((1, 1), (2, 2)))).config) == (None, (1, 2))
    assert torch_padding_plan(case_with(Padding("explicit", ((0, 1), (2, 0)))).config) == ([2, 0, 0, 1], 0)


@pytest.mark.parametrize("padding", [
    Padding("valid"), Padding("same"), Padding("symmetric", ((1, 1), (2, 2))), Padding("explicit", ((0, 2), (3, 1))),
])
@pytest.mark.parametrize("stride", [(1, 1), (2, 3)])
def test_frameworks_match_reference_exactly_on_integers(
    padding: Padding, stride: tuple[int, int], torch_oracle: Oracle, jax_oracle: Oracle
) -> None:
    case = case_with(padding, stride)
    expected = ReferenceOracle().run(case)
    assert expected.shape == case.config.output_shape()
    np.testing.assert_array_equal(torch_oracle.run(case), expected)
    np.testing.assert_array_equal(jax_oracle.run(case), expected)


def test_jax_compile_cache_is_bounded(jax_oracle: Oracle) -> None:
    oracle = JaxOracle()
    for width in range(1, MAX_CACHED_SIGNATURES + 3):
        cfg = ConvConfig(op="conv1d", batch=1, in_channels=1, out_channels=1, groups=1, spatial=(width,),
                         kernel=(1,), stride=(1,), dilation=(1,), padding=Padding("valid"), bias=False,
                         dtype="float32")
        oracle._bound_compile_cache(ConvCase(cfg, np.ones((1, 1, width)), np.ones((1, 1, 1)), None))
    assert oracle.cache_clears == 1


def test_an_empty_selection_builds_no_oracle() -> None:
    """Replaying a finding whose oracles are all outside the registry must not start torch or JAX workers."""
    assert available_oracles((), isolate=True) == ({}, {})
