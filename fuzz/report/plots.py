"""The report's plots, drawn with matplotlib (headless: the Agg backend) into PNG files.

Each function draws one figure from ReportData and returns the file it wrote, or None where there is nothing to
draw (a folder with no campaign records has no err/bound distribution); the report says so instead.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from convfuzz.fuzz.campaign.statistics import LOWEST_DECADE, RATIO_ZERO
from convfuzz.fuzz.report.data import ReportData


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=96, bbox_inches="tight")
    _pyplot().close(figure)
    return path


def plot_ratio_distribution(data: ReportData, path: Path) -> Path | None:
    """How close correct answers come to their bound: one panel per dtype, a line per oracle over the decades of
    err/bound (exact answers at the left)."""
    histogram = data.ratio_histogram()
    if not histogram:
        return None
    plt = _pyplot()
    dtypes = sorted({dtype for _, dtype in histogram})
    columns = min(3, len(dtypes))
    rows = math.ceil(len(dtypes) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.4 * rows), squeeze=False)
    decades = list(range(LOWEST_DECADE, 1))
    labels = ["exact", *[f"1e{d}" for d in decades]]
    for panel, dtype in zip(axes.flat, dtypes, strict=False):
        for (oracle, kind), counts in sorted(histogram.items()):
            if kind != dtype:
                continue
            total = sum(counts.values())
            shares = [counts.get(RATIO_ZERO, 0) / total, *[counts.get(d, 0) / total for d in decades]]
            panel.plot(range(len(labels)), shares, marker="o", markersize=3, label=f"{oracle} ({total})")
        panel.set_title(dtype)
        panel.set_xticks(range(0, len(labels), 2), labels[::2], rotation=45, fontsize=7)
        panel.set_ylabel("share of passing checks")
        panel.set_xlabel("err/bound, by decade (1e-1: from 0.1 up to 1)", fontsize=7)
        panel.legend(fontsize=7)
    for panel in list(axes.flat)[len(dtypes):]:
        panel.set_visible(False)
    figure.suptitle("err / bound of passing checks, per oracle and dtype (1 = at the bound)")
    figure.tight_layout()
    return _save(figure, path)


def plot_findings_over_time(data: ReportData, path: Path) -> Path | None:
    """Findings recorded so far, by the date each was found, stacked by kind."""
    if not data.findings:
        return None
    plt = _pyplot()
    dated = sorted((datetime.fromisoformat(f.created), f.kind) for f in data.findings)
    kinds = sorted({kind for _, kind in dated})
    figure, axis = plt.subplots(figsize=(8, 3.6))
    for kind in kinds:
        times = [when for when, k in dated if k == kind]
        axis.step(times, range(1, len(times) + 1), where="post", label=f"{kind} ({len(times)})")
    axis.set_ylabel("findings so far")
    axis.set_title("findings over time, by kind")
    axis.legend(fontsize=8)
    figure.autofmt_xdate()
    return _save(figure, path)


def plot_coverage(data: ReportData, path: Path) -> Path | None:
    """How often each feature was exercised (checks that had it), the rarest at the top."""
    features: Counter[str] = data.summed("features")
    if not features:
        return None
    plt = _pyplot()
    shown = sorted(features.items(), key=lambda item: item[1])[:40]
    figure, axis = plt.subplots(figsize=(8, 0.22 * len(shown) + 1.2))
    axis.barh([name for name, _ in shown], [n for _, n in shown], color="#4c72b0")
    axis.set_xscale("log")
    axis.set_xlabel("checks (log scale)")
    axis.tick_params(axis="y", labelsize=7)
    axis.set_title("coverage: checks per exercised feature (the 40 rarest)")
    return _save(figure, path)


def plot_checks_by_op_dtype(data: ReportData, path: Path) -> Path | None:
    """Checks per op and dtype as a heat map, the count in each cell."""
    counts = data.summed("by_op_dtype")
    if not counts:
        return None
    plt = _pyplot()
    ops = sorted({key.split(" ")[0] for key in counts})
    dtypes = sorted({key.split(" ")[1] for key in counts})
    grid = [[counts.get(f"{op} {dtype}", 0) for dtype in dtypes] for op in ops]
    figure, axis = plt.subplots(figsize=(1.3 * len(dtypes) + 3, 0.4 * len(ops) + 1.5))
    axis.imshow(grid, cmap="Blues", aspect="auto")
    axis.set_xticks(range(len(dtypes)), dtypes, rotation=30)
    axis.set_yticks(range(len(ops)), ops, fontsize=8)
    for i, row in enumerate(grid):
        for j, n in enumerate(row):
            axis.text(j, i, str(n), ha="center", va="center", fontsize=7)
    axis.set_title("checks per op and dtype")
    return _save(figure, path)


PLOTS = {
    "ratio_distribution": plot_ratio_distribution,
    "findings_over_time": plot_findings_over_time,
    "coverage": plot_coverage,
    "checks_by_op_dtype": plot_checks_by_op_dtype,
}
