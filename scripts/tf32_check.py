"""Do the TF32 switches reach cuDNN? Prints err/bound of each CUDA oracle on one float32 conv (needs a GPU).

Run from the repository root: PYTHONPATH=. python3 scripts/tf32_check.py. Expected: torch, torch-nocudnn and
jax within the float32 bound (ratio <= 1); torch-tf32 beyond it (TF32 inputs) but within its TF32 contract.
"""

from __future__ import annotations

import sys

import numpy as np

from convfuzz.fuzz.judge.bounds import PASS, compare
from convfuzz.fuzz.judge.verdict import yardstick
from convfuzz.oracles.base import backend_path
from convfuzz.oracles.registry import make_oracle
from convfuzz.strategies.case import ConvCase, ConvConfig, Padding


def main() -> int:
    """Print one line per oracle; exit 1 when a switch visibly did not take effect."""
    cfg = ConvConfig("conv2d", 2, 64, 64, 1, (24, 24), (3, 3), (1, 1), (1, 1), Padding("symmetric", ((1, 1), (1, 1))),
                     True, "float32", device="cuda")
    rng = np.random.default_rng(1)

    def values(shape: tuple[int, ...]) -> np.ndarray:
        return rng.normal(size=shape).astype(np.float32).astype(np.float64)

    case = ConvCase(cfg, values(cfg.input_shape()), values(cfg.weight_shape()), values((cfg.out_channels,)))
    yard = yardstick(case)
    ratios: dict[str, float] = {}
    for name in ("torch", "torch-nocudnn", "torch-tf32", "jax"):
        oracle = make_oracle(name)
        value = oracle.run(case)
        ratios[name] = compare(value, yard.exact, yard.bound("torch", PASS)).ratio
        own = compare(value, yard.exact, yard.bound(name, PASS)).ratio
        path = backend_path(oracle)
        print(f"{name:14s} err/float32-bound {ratios[name]:9.3g}  err/own-bound {own:7.3g}  path {path}")
    strict_ok = all(ratios[n] <= 1 for n in ("torch", "torch-nocudnn", "jax"))
    tf32_visible = ratios["torch-tf32"] > 1
    print(f"strict float32 within bound: {strict_ok}; TF32 visible beyond the float32 bound: {tf32_visible}")
    return 0 if strict_ok and tf32_visible else 1


if __name__ == "__main__":
    sys.exit(main())
