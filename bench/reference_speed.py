"""How long the judge's yardstick takes on the conv layers production models run: the float64 reference result
and the |x| conv |w| sum its error bound needs (fuzz.judge.verdict.yardstick), per layer, with multiply-adds per
second. Prints a Markdown table for docs/performance.md.

    .venv/bin/python bench/reference_speed.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import numpy as np

from convfuzz.fuzz.judge.verdict import yardstick
from convfuzz.strategies.case import ConvCase, ConvConfig, Padding


@dataclass(frozen=True)
class Layer:
    """One named conv layer: enough to build its ConvConfig (float32, batch 1, symmetric padding)."""

    name: str
    op: str
    channels: tuple[int, int]  # in, out
    groups: int
    spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]

    def case(self, rng: np.random.Generator) -> ConvCase:
        """The layer as a float32 case of standard-normal values, with bias."""
        rank = len(self.kernel)
        cfg = ConvConfig(
            op=self.op, batch=1, in_channels=self.channels[0], out_channels=self.channels[1], groups=self.groups,
            spatial=self.spatial, kernel=self.kernel, stride=self.stride, dilation=(1,) * rank,
            padding=Padding("symmetric", tuple((p, p) for p in self.padding)), bias=True, dtype="float32",
        )
        values = [rng.standard_normal(shape).astype(np.float32).astype(np.float64)
                  for shape in (cfg.input_shape(), cfg.weight_shape(), (cfg.out_channels,))]
        return ConvCase(cfg, *values)


LAYERS = (
    Layer("ConvNeXt depthwise 7x7, 96 ch, 56x56", "conv2d", (96, 96), 96, (56, 56), (7, 7), (1, 1), (3, 3)),
    Layer("RepLKNet depthwise 31x31, 64 ch, 32x32", "conv2d", (64, 64), 64, (32, 32), (31, 31), (1, 1), (15, 15)),
    Layer("Conformer depthwise conv1d k31, 256 ch, 1000", "conv1d", (256, 256), 256, (1000,), (31,), (1,), (15,)),
    Layer("Mamba causal depthwise conv1d k4, 1536 ch, 256", "conv1d", (1536, 1536), 1536, (256,), (4,), (1,), (3,)),
    Layer("wav2vec 2.0 conv1d k10 s5, 512 ch, 4000", "conv1d", (512, 512), 1, (4000,), (10,), (5,), (0,)),
    Layer("ResNet stem 7x7 s2, 3->64, 112x112", "conv2d", (3, 64), 1, (112, 112), (7, 7), (2, 2), (3, 3)),
    Layer("3x3, 512 ch, 8x8", "conv2d", (512, 512), 1, (8, 8), (3, 3), (1, 1), (1, 1)),
    Layer("3-D 3x3x3, 32 ch, 16^3", "conv3d", (32, 32), 1, (16, 16, 16), (3, 3, 3), (1, 1, 1), (1, 1, 1)),
)


def main() -> None:
    """Time the yardstick of each layer (median of --repeats) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per layer (default 3; the median)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print("| layer | multiply-adds | yardstick (reference + bound) | multiply-adds/s (both sums) |")
    print("|---|---|---|---|")
    for layer in LAYERS:
        case = layer.case(rng)
        macs = case.config.multiply_adds()
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            yardstick(case)
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        print(f"| {layer.name} | {macs / 1e6:,.1f} M | {median * 1e3:,.0f} ms | {2 * macs / median / 1e9:.2f} G |")


if __name__ == "__main__":
    main()
