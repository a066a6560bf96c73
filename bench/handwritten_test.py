"""The hand-written differential test convfuzz is measured against: what a user writes in half an hour.

    .venv/bin/python bench/handwritten_test.py [--plant NAME] [--seed S] [--examples N]

A Hypothesis test of conv2d float32 - groups, bias, stride, padding, dilation - comparing torch and JAX with a
float64 NumPy reference under fixed tolerances. `--plant NAME` adds a planted-bug oracle of tests/planted.py as a
third framework under test. Exits 1 on the first (shrunk) failure, as pytest would report it, 0 when every example
passes; bench/benchmark.py times it from process start and counts its examples and distinct configurations.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, assume, given, seed, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.planted, when run as a script

from convfuzz.oracles.reference import conv_reference
from convfuzz.strategies.case import ConvCase, ConvConfig, Padding

# conv2d(x, w, b, stride, padding, dilation, groups) -> float32 output
Conv2d = Callable[[np.ndarray, np.ndarray, "np.ndarray | None", int, int, int, int], np.ndarray]


def framework_convs(plant: str | None) -> dict[str, Conv2d]:
    """torch's and JAX's conv2d as a user calls them, plus the planted oracle `plant` (a tests.planted class)."""
    import jax
    import torch
    from jax import lax

    jax.config.update("jax_enable_x64", True)

    def torch_conv(x, w, b, stride, pad, dil, groups):  # type: ignore[no-untyped-def]
        bias = None if b is None else torch.from_numpy(b)
        return torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), bias, stride, pad, dil,
                                          groups).numpy()

    def jax_conv(x, w, b, stride, pad, dil, groups):  # type: ignore[no-untyped-def]
        out = lax.conv_general_dilated(x, w, (stride, stride), [(pad, pad)] * 2, rhs_dilation=(dil, dil),
                                       feature_group_count=groups, precision=lax.Precision.HIGHEST)
        return np.asarray(out if b is None else out + b.reshape(1, -1, 1, 1))

    convs: dict[str, Conv2d] = {"torch": torch_conv, "jax": jax_conv}
    if plant:
        convs[plant] = planted_conv(getattr(importlib.import_module("tests.planted"), plant)())
    return convs


def planted_conv(oracle: object) -> Conv2d:
    """A planted oracle (it takes a convfuzz case) called like the frameworks' conv2d."""

    def conv(x, w, b, stride, pad, dil, groups):  # type: ignore[no-untyped-def]
        config = ConvConfig("conv2d", x.shape[0], x.shape[1], w.shape[0], groups, x.shape[2:], w.shape[2:],
                            (stride,) * 2, (dil,) * 2, Padding("symmetric", ((pad, pad),) * 2), b is not None,
                            "float32")
        wide = [None if a is None else a.astype(np.float64) for a in (x, w, b)]
        return oracle.run(ConvCase(config, *wide))  # type: ignore[attr-defined]

    return conv


def handwritten_test(
    convs: dict[str, Conv2d], examples: int, run_seed: int, configs: set[object]
) -> Callable[[], None]:
    """The test itself; every configuration it draws is added to `configs`."""

    @seed(run_seed)
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.integers(1, 2), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3), st.integers(1, 4),
           st.integers(1, 4), st.integers(1, 3), st.integers(0, 2), st.integers(1, 3), st.integers(1, 12),
           st.integers(1, 12), st.booleans(), st.data())
    def test_conv2d(n, groups, c_in, c_out, kh, kw, stride, pad, dil, h, w, with_bias, data):  # type: ignore[no-untyped-def]
        assume(h + 2 * pad >= dil * (kh - 1) + 1 and w + 2 * pad >= dil * (kw - 1) + 1)
        floats = st.floats(-1, 1, width=32)
        x = data.draw(hnp.arrays(np.float32, (n, groups * c_in, h, w), elements=floats))
        wt = data.draw(hnp.arrays(np.float32, (groups * c_out, c_in, kh, kw), elements=floats))
        b = data.draw(hnp.arrays(np.float32, (groups * c_out,), elements=floats)) if with_bias else None
        configs.add((x.shape, wt.shape, stride, pad, dil, groups, with_bias))
        ref = conv_reference(x.astype(np.float64), wt.astype(np.float64), None if b is None else b.astype(np.float64),
                             (stride,) * 2, [(pad, pad)] * 2, (dil,) * 2, groups)
        for name, conv in convs.items():
            np.testing.assert_allclose(conv(x, wt, b, stride, pad, dil, groups), ref, rtol=1e-4, atol=1e-5,
                                       err_msg=name)

    return test_conv2d  # type: ignore[no-any-return]


def main() -> int:
    """Run the test once; 1 on a failure (printed), 0 when it passes."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plant", help="a tests/planted.py class run as a third framework")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--examples", type=int, default=100_000)
    args = parser.parse_args()
    try:
        handwritten_test(framework_convs(args.plant), args.examples, args.seed, set())()
    except AssertionError as failure:
        print(failure)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
