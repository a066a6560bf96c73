"""What each framework oracle costs a campaign: the time until its isolated worker is ready (spawn, import, facts),
its first check (first-call set-up: XLA's compilation, ONNX Runtime's session), and a check of a shape it has
seen (median of 20).

    .venv/bin/python bench/framework_cost.py torch jax onnxruntime onnxruntime-noopt
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from convfuzz.oracles.isolation import IsolatedOracle  # noqa: E402
from convfuzz.strategies.case import ConvCase, ConvConfig, Padding  # noqa: E402

REPEATS = 20


def measure(name: str) -> str:
    """One oracle's line: worker ready, first check, steady check of the same shape."""
    cfg = ConvConfig(op="conv2d", batch=1, in_channels=4, out_channels=4, groups=1, spatial=(8, 8), kernel=(3, 3),
                     stride=(1, 1), dilation=(1, 1), padding=Padding("valid"), bias=True, dtype="float32")
    case = ConvCase(cfg, np.ones(cfg.input_shape()), np.ones(cfg.weight_shape()), np.ones(4))
    started = time.perf_counter()
    oracle = IsolatedOracle(name)
    ready = time.perf_counter() - started
    try:
        started = time.perf_counter()
        oracle.run(case)
        first = time.perf_counter() - started
        steady = []
        for value in range(REPEATS):
            again = ConvCase(cfg, np.full(cfg.input_shape(), float(value)), case.w, case.b)
            started = time.perf_counter()
            oracle.run(again)
            steady.append(time.perf_counter() - started)
    finally:
        oracle.close()
    return (f"| {name} | {ready:.2f} s | {first * 1000:.0f} ms | {statistics.median(steady) * 1000:.1f} ms |")


def main() -> None:
    """A Markdown table row per oracle named on the command line."""
    print("| oracle | worker ready | first check | same-shape check (median) |\n|---|---|---|---|")
    for name in sys.argv[1:] or ["torch", "jax", "onnxruntime"]:
        print(measure(name))


if __name__ == "__main__":
    main()
