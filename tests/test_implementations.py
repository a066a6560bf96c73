"""Implementations reached: a campaign's paths counted per backend and oneDNN implementation, in the summary and the
report, with torch's CPU backends it never reached."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from convfuzz.fuzz.campaign.implementations import backends, primitives, reached, summary_lines
from convfuzz.fuzz.report.data import ReportData
from convfuzz.fuzz.report.html import implementations_table
from convfuzz.oracles.torch_framework import TORCH_CPU_BACKENDS, torch_backends_never_reached

FEATURES = {
    "path torch:Mkldnn/brg_conv_fwd:avx2": 3,
    "path torch:Mkldnn/jit_dw:avx512_core": 1,
    "path torch:MkldnnTranspose/brg_deconv:avx2+brg_conv_fwd:avx2": 2,
    "path torch:Slow2d": 4,
    "path torch-nomkldnn:SlowTranspose2d": 5,
    "path jax:XLA:cpu/convolution f32 grouped+dot f32": 2,
    "path jax:XLA:cpu/convolution-base-dilated f64": 1,
    "op:conv2d": 15,
    "groups>1": 2,
}


def test_paths_are_counted_per_backend_and_implementation() -> None:
    paths = reached(FEATURES)
    assert set(paths) == {"torch", "torch-nomkldnn", "jax"}
    assert backends(paths["torch"]) == Counter({"Mkldnn": 4, "MkldnnTranspose": 2, "Slow2d": 4})
    expected = Counter({"brg_conv_fwd:avx2": 5, "brg_deconv:avx2": 2, "jit_dw:avx512_core": 1})
    assert primitives(paths["torch"]) == expected
    missing = torch_backends_never_reached(paths["torch"])
    assert "Mkldnn" not in missing and "MkldnnTranspose" not in missing and "Slow3d" in missing
    assert len(missing) == len(TORCH_CPU_BACKENDS) - 3


def test_the_summary_lists_what_each_oracle_reached_and_never_reached() -> None:
    lines = summary_lines(FEATURES)
    torch_line = next(line for line in lines if line.startswith("implementations reached by torch:"))
    assert "3 backends (Mkldnn 4, Slow2d 4, MkldnnTranspose 2)" in torch_line
    assert "3 oneDNN implementations (brg_conv_fwd:avx2 5" in torch_line
    never = next(line for line in lines if line.startswith("  never reached by torch "))
    assert "Slow3d" in never and "Mkldnn," not in never
    jax_line = next(line for line in lines if line.startswith("implementations reached by jax:"))
    assert "1 backends (XLA:cpu 3); 3 XLA lowerings (convolution f32 grouped 2, dot f32 2," in jax_line
    assert not any(line.startswith("  never reached by jax") for line in lines)
    assert summary_lines({"op:conv2d": 3}) == []


def test_the_report_has_a_row_per_implementation(tmp_path: Path) -> None:
    campaigns = [{"counts": {"features": FEATURES}}, {"counts": {"features": {"path torch:Slow2d": 1}}}]
    table = implementations_table(ReportData(tmp_path, [], [], campaigns, "test"))
    rows = {(oracle, level, name): int(n) for oracle, level, name, n in table.rows}
    assert rows[("torch", "backend", "Slow2d")] == 5  # summed over the two campaigns
    assert rows[("torch", "oneDNN implementations", "brg_deconv:avx2")] == 2
    assert rows[("jax", "XLA lowerings", "convolution f32 grouped")] == 2
    assert rows[("torch", "backend never reached", "Slow3d")] == 0
    assert ("torch-nomkldnn", "backend", "SlowTranspose2d") in rows
