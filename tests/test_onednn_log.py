"""Which oneDNN implementation ran behind torch's Mkldnn backend: read from oneDNN's verbose log around the call."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from convfuzz.oracles.onednn_log import convolution_implementations, onednn_implementations
from convfuzz.oracles.torch_oracle import TorchOracle
from convfuzz.strategies.case import ConvCase, ConvConfig, Padding
from convfuzz.strategies.values import ValueFamily

# Lines in the shapes oneDNN 3.x and 2.x write (shortened after the implementation), with the reorders and
# information lines around them that are not convolutions.
LOG = """\
onednn_verbose,v1,info,oneDNN v3.12.0 (commit 80afa71049cd69a3df32adcccb623b12cd7baa22)
onednn_verbose,v1,primitive,info,template:operation,engine,primitive,implementation,prop_kind,memory_descriptors
onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src:bf16::blocked:abcd::f0,,1x16x32x32,6.5
onednn_verbose,v1,primitive,exec,cpu,convolution,jit_dw:avx512_core_bf16,forward_training,src:bf16,,g16mb1,6.9
onednn_verbose,v1,primitive,exec,cpu,convolution,brgconv_bwd_d:avx512_core_amx,backward_data,src:bf16,,mb1,1.0
onednn_verbose,v1,primitive,exec,cpu,convolution,jit_dw:avx512_core_bf16,forward_training,src:bf16,,g16mb1,6.1
dnnl_verbose,exec,cpu,deconvolution,jit_deconvolution:any,forward_training,src_f32::blocked:abc:f0,,mb1,0.2
printed by something else, convolution,not-a-kernel
"""


def test_the_log_gives_each_convolution_implementation_once_in_order() -> None:
    assert convolution_implementations(LOG) == [
        "jit_dw:avx512_core_bf16", "brgconv_bwd_d:avx512_core_amx", "jit_deconvolution:any",
    ]
    assert convolution_implementations("") == []


def depthwise_case(dtype: str) -> ConvCase:
    """A depthwise 7x7 conv2d over 16 channels of 32x32 (ConvNeXt's block in small): torch's CPU backend for it is
    oneDNN's on x86 builds with oneDNN."""
    cfg = ConvConfig(
        op="conv2d", batch=1, in_channels=16, out_channels=16, groups=16, spatial=(32, 32), kernel=(7, 7),
        stride=(1, 1), dilation=(1, 1), padding=Padding("symmetric", ((3, 3), (3, 3))), bias=False, dtype=dtype,
    )
    values = ValueFamily("normal", seed=1, scale=1.0)
    return ConvCase(cfg, values.make(cfg.input_shape(), dtype), values.make(cfg.weight_shape(), dtype), None)


def test_a_torch_call_served_by_onednn_names_the_implementation_and_writes_nothing_to_stdout(
    capfd: pytest.CaptureFixture[str],
) -> None:
    torch = pytest.importorskip("torch")
    oracle = TorchOracle()
    case = depthwise_case("float32")
    oracle.run(case)
    path = oracle.last_path or ""
    if not path.startswith("Mkldnn"):
        pytest.skip(f"torch serves this conv with {path or 'an unnamed backend'} here, not oneDNN")
    backend, _, implementations = path.partition("/")
    assert backend == "Mkldnn" and implementations, path
    assert all(":" in name for name in implementations.split("+")), path  # 'family:isa', as oneDNN names them
    # The log went to a file, not to the process's output, and the verbose mode is off again afterwards.
    assert "onednn_verbose" not in capfd.readouterr().out
    torch.nn.functional.conv2d(torch.ones(1, 16, 8, 8), torch.ones(16, 1, 3, 3), groups=16)
    assert "onednn_verbose" not in capfd.readouterr().out
    # A gradient case logs its backward primitives too.
    oracle.run(replace(case, config=replace(case.config, gradient="input"), g=oracle.run(case)))
    assert (oracle.last_path or "").count("/") == 1


def test_the_descriptor_is_restored_when_the_call_raises() -> None:
    torch = pytest.importorskip("torch")
    before = os.fstat(1)
    with pytest.raises(RuntimeError), onednn_implementations(torch):
        torch.nn.functional.conv2d(torch.ones(1, 2, 4, 4), torch.ones(3, 5, 1, 1))  # 2 channels against 5
    after = os.fstat(1)
    assert (before.st_dev, before.st_ino) == (after.st_dev, after.st_ino)
