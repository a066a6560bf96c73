"""ONNX Runtime as convfuzz knows it (oracles.framework): a case as a one-node ONNX model (Conv or ConvTranspose,
built with the onnx helper API, the weight and bias as initializers as exporters write them), run by the CPU
execution provider.

Variants: 'onnxruntime' with every graph optimisation on (ORT_ENABLE_ALL: constant folding, fusions, and the NCHWc
layout transformer that rewrites a Conv with constant weights to MLAS's blocked kernels) and the session's default
threads; 'onnxruntime-noopt' with none (ORT_DISABLE_ALL: the plain Conv kernel); 'onnxruntime-1thread' with every
optimisation and one intra-op thread (another partition of the work). Padding is said as a user exporting it would:
auto_pad VALID, SAME_UPPER or SAME_LOWER where the case's pads are exactly what that rule gives (undilated: ONNX
Runtime refuses SAME with a dilation, a known limitation), explicit pads otherwise; reflect, replicate and circular
padding as a Pad node (reflect, edge, wrap) before the Conv.

The CPU provider has Conv and ConvTranspose kernels for float32 and float16 only: other dtypes, gradients, negative
(cropping) pads, an output_padding not below the stride (torch allows it up to the dilation; ONNX Runtime refuses
it) and batch_group_count are cases it sits out, never findings.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from convfuzz.oracles.base import FloatArray, OracleUnavailable
from convfuzz.oracles.call_text import UserCall, what_is_called, wrapped
from convfuzz.oracles.framework import Framework, Variant
from convfuzz.strategies.case import TRANSPOSED_OPS, ConvCase, ConvConfig, split_op_name

if TYPE_CHECKING:
    from convfuzz.oracles.base import Oracle

# The opset the models declare: one every ONNX Runtime since 1.18 runs (Pad's 'wrap' mode needs 19).
OPSET = 21
ORT_DTYPES = ("float32", "float16")
# onnx.TensorProto's element type per dtype, by name.
ELEMENT_TYPES = {"float32": "FLOAT", "float16": "FLOAT16", "float64": "DOUBLE", "bfloat16": "BFLOAT16"}
# torch's padding modes as ONNX Pad's modes.
PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@dataclass(frozen=True)
class OrtVariant:
    """How one ONNX Runtime variant runs its sessions."""

    optimized: bool = True  # ORT_ENABLE_ALL, else ORT_DISABLE_ALL
    threads: int = 0  # intra-op threads; 0: the session's default (one per core)
    # transposed ops only: ConvTranspose given its output_shape instead of pads (ONNX Runtime works the pads out)
    output_shape: bool = False

    def computes(self, op: str) -> bool:
        """Every forward and transposed op (the output_shape variant: transposed ones); no gradients (an inference
        runtime)."""
        base, gradient = split_op_name(op)
        return not gradient and (base in TRANSPOSED_OPS or not self.output_shape)


ORT_VARIANTS: dict[str, OrtVariant] = {
    "onnxruntime": OrtVariant(),
    "onnxruntime-noopt": OrtVariant(optimized=False),
    "onnxruntime-1thread": OrtVariant(threads=1),
    "onnxruntime-outshape": OrtVariant(output_shape=True),
}


def auto_pad_pairs(rule: str, cfg: ConvConfig) -> tuple[tuple[int, int], ...]:
    """The pads ONNX's auto_pad `rule` (SAME_UPPER, SAME_LOWER) gives a forward conv of `cfg`: an output of
    ceil(input / stride) per dim, the padding it needs split evenly, the odd one at the end (UPPER) or the start."""
    pairs = []
    for n, k, s, d in zip(cfg.spatial, cfg.kernel, cfg.stride, cfg.dilation, strict=True):
        total = max(0, (math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n)
        small, large = total // 2, total - total // 2
        pairs.append((small, large) if rule == "SAME_UPPER" else (large, small))
    return tuple(pairs)


@dataclass(frozen=True)
class OnnxConv:
    """The one-node model of a case: the node, its attributes in the order written, the Pad before it (mode and
    ONNX pads) for a padding mode other than zeros, and the tensors' element types. The oracle builds it, and a
    finding's script spells out the same."""

    op_type: str  # 'Conv' or 'ConvTranspose'
    attributes: tuple[tuple[str, Any], ...]
    pre_pad: tuple[str, tuple[int, ...]] | None
    input_type: str  # onnx.TensorProto's name: 'FLOAT'
    weight_type: str

    def keywords(self) -> str:
        """The attributes as helper.make_node's keyword arguments."""
        return ", ".join(f"{name}={value!r}" for name, value in self.attributes)


def onnx_conv(cfg: ConvConfig, variant: OrtVariant = ORT_VARIANTS["onnxruntime"]) -> OnnxConv:
    """The ONNX node that computes `cfg`, padding said as an exporter would (see the module docstring); for the
    output_shape variant a ConvTranspose given its output's spatial shape instead of pads. ONNX then splits the
    padding the shape implies with the larger half first (auto_pad NOTSET), which is torch's: its transposed pads are
    symmetric."""
    pairs = cfg.pad_pairs()
    attributes: list[tuple[str, Any]] = [("kernel_shape", list(cfg.kernel)), ("strides", list(cfg.stride)),
                                         ("dilations", list(cfg.dilation)), ("group", cfg.groups)]
    pre_pad = None
    # ONNX Runtime's Conv refuses auto_pad SAME_* with a dilation above 1 (microsoft/onnxruntime#20582, a known
    # limitation the ONNX spec does not have): those pads are written out, as torch's exporter always writes them.
    undilated = all(d == 1 for d in cfg.dilation)
    if cfg.transposed and variant.output_shape:
        attributes.append(("output_shape", list(cfg.output_spatial())))
        if any(cfg.output_padding):
            attributes.append(("output_padding", list(cfg.output_padding)))
    elif cfg.transposed:
        attributes.append(("pads", [lo for lo, _ in pairs] + [hi for _, hi in pairs]))
        if any(cfg.output_padding):
            attributes.append(("output_padding", list(cfg.output_padding)))
    elif cfg.padding_mode != "zeros" and any(p != (0, 0) for p in pairs):
        onnx_pads = (0, 0, *(lo for lo, _ in pairs), 0, 0, *(hi for _, hi in pairs))
        pre_pad = (PAD_MODES[cfg.padding_mode], onnx_pads)
    elif cfg.padding.kind == "valid" or (all(p == (0, 0) for p in pairs) and cfg.padding.kind != "explicit"):
        attributes.append(("auto_pad", "VALID"))
    elif undilated and pairs == auto_pad_pairs("SAME_UPPER", cfg) and cfg.padding.kind == "same":
        attributes.append(("auto_pad", "SAME_UPPER"))
    elif undilated and pairs == auto_pad_pairs("SAME_LOWER", cfg) and pairs != auto_pad_pairs("SAME_UPPER", cfg):
        attributes.append(("auto_pad", "SAME_LOWER"))
    else:
        attributes.append(("pads", [lo for lo, _ in pairs] + [hi for _, hi in pairs]))
    return OnnxConv("ConvTranspose" if cfg.transposed else "Conv", tuple(attributes), pre_pad,
                    ELEMENT_TYPES.get(cfg.dtype, cfg.dtype), ELEMENT_TYPES.get(cfg.weight_dtype(), cfg.weight_dtype()))


def build_model(onnx: Any, conv: OnnxConv, x_shape: tuple[int, ...], w: FloatArray, b: FloatArray | None,
                w_dtype: Any, b_dtype: Any) -> Any:
    """The ONNX model of `conv` for an input of `x_shape`: the weight and bias as initializers."""
    helper, numpy_helper, types = onnx.helper, onnx.numpy_helper, onnx.TensorProto
    initializers = [numpy_helper.from_array(np.asarray(w, dtype=w_dtype), "w")]
    inputs = ["x", "w"]
    if b is not None:
        initializers.append(numpy_helper.from_array(np.asarray(b, dtype=b_dtype), "b"))
        inputs.append("b")
    nodes = []
    if conv.pre_pad is not None:
        mode, pads = conv.pre_pad
        initializers.append(numpy_helper.from_array(np.asarray(pads, dtype=np.int64), "pads"))
        nodes.append(helper.make_node("Pad", ["x", "pads"], ["padded"], mode=mode))
        inputs[0] = "padded"
    nodes.append(helper.make_node(conv.op_type, inputs, ["y"], **dict(conv.attributes)))
    graph = helper.make_graph(
        nodes, "conv", [helper.make_tensor_value_info("x", getattr(types, conv.input_type), list(x_shape))],
        [helper.make_tensor_value_info("y", getattr(types, conv.input_type), None)], initializer=initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


class OrtOracle:
    """A case's one-node model in an ONNX Runtime session of the variant's options (a session per case: the
    weights are initializers, as the layout transformer needs them)."""

    def __init__(self, name: str) -> None:
        try:
            self._ort: Any = importlib.import_module("onnxruntime")
            self._onnx: Any = importlib.import_module("onnx")
        except ImportError as exc:
            raise OracleUnavailable(f"onnxruntime and onnx are not installed ({exc}); pip install 'convfuzz[onnx]'"
                                    ) from exc
        self.name = name
        self.variant = ORT_VARIANTS[name]

    def devices(self) -> tuple[str, ...]:
        """The CPU execution provider's."""
        return ("cpu",)

    def run(self, case: ConvCase) -> FloatArray:
        """Build the case's model, open a session, run it once."""
        cfg = case.config
        dtype = np.dtype(cfg.dtype)
        model = build_model(self._onnx, onnx_conv(cfg, self.variant), case.x.shape, case.w, case.b,
                            np.dtype(cfg.weight_dtype()), dtype)
        options = self._ort.SessionOptions()
        level = "ORT_ENABLE_ALL" if self.variant.optimized else "ORT_DISABLE_ALL"
        options.graph_optimization_level = getattr(self._ort.GraphOptimizationLevel, level)
        # A parallel campaign's workers run every framework single-threaded (fuzz.campaign.parallel); so does this.
        single = os.environ.get("OMP_NUM_THREADS") == "1"
        options.intra_op_num_threads = self.variant.threads or (1 if single else 0)
        options.log_severity_level = 4  # fatal only: a refusal is raised as an exception, and need not be logged too
        session = self._ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        (out,) = session.run(None, {"x": np.asarray(case.x, dtype=dtype)})
        return np.asarray(out, dtype=np.float64)


def ort_user_call(oracle: str, variant: str, cfg: ConvConfig) -> UserCall:
    """The case's model built with the onnx helper API and run as the variant runs it, every attribute a literal."""
    how = ORT_VARIANTS[variant]
    conv = onnx_conv(cfg, how)
    inputs = ["x", "w", *(["b"] if cfg.bias else [])]
    initializers = ["w", *(["b"] if cfg.bias else [])]
    lines = [
        "    import onnxruntime as ort",
        "    from onnx import TensorProto, helper, numpy_helper",
        "",
        f"    w = numpy_helper.from_array(np.asarray(W, dtype=np.{cfg.weight_dtype()}), 'w')",
    ]
    if cfg.bias:
        lines.append(f"    b = numpy_helper.from_array(np.asarray(B, dtype=np.{cfg.dtype}), 'b')")
    nodes = []
    if conv.pre_pad is not None:
        mode, pads = conv.pre_pad
        lines.append(f"    pads = numpy_helper.from_array(np.array({list(pads)!r}, dtype=np.int64), 'pads')")
        lines.append(f"    pad = helper.make_node('Pad', ['x', 'pads'], ['padded'], mode={mode!r})")
        initializers.append("pads")
        nodes.append("pad")
        inputs[0] = "padded"
    lines.append(wrapped(f"    conv = helper.make_node({conv.op_type!r}, {inputs!r}, ['y'], {conv.keywords()})"))
    nodes.append("conv")
    lines += [
        wrapped(f"    graph = helper.make_graph([{', '.join(nodes)}], 'conv', [helper.make_tensor_value_info('x', "
                f"TensorProto.{conv.input_type}, {list(cfg.input_shape())!r})], "
                f"[helper.make_tensor_value_info('y', TensorProto.{conv.input_type}, None)], "
                f"initializer=[{', '.join(initializers)}])"),
        f"    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', {OPSET})])",
        "    options = ort.SessionOptions()",
        "    options.graph_optimization_level = ort.GraphOptimizationLevel."
        + ("ORT_ENABLE_ALL" if how.optimized else "ORT_DISABLE_ALL"),
    ]
    if how.threads:
        lines.append(f"    options.intra_op_num_threads = {how.threads}")
    lines += [
        "    session = ort.InferenceSession(model.SerializeToString(), options, providers=['CPUExecutionProvider'])",
        f"    (out,) = session.run(None, {{'x': np.asarray(X, dtype=np.{cfg.dtype})}})",
    ]
    what = f"{conv.op_type} in ONNX Runtime"
    return UserCall(oracle, cfg, what_is_called(cfg, what), "\n".join(lines) + "\n", "out.astype(np.float64)", "out")


class OnnxRuntimeFramework(Framework):
    """ONNX Runtime's CPU execution provider."""

    name = "onnxruntime"
    title = "ONNX Runtime"
    module = "onnxruntime"
    script_modules = ("onnxruntime", "onnx")
    packages = ("onnxruntime", "onnx")
    extra = "onnx"
    negative_pads = False  # ONNX pads are never negative
    tracker = "https://github.com/microsoft/onnxruntime/issues/new"

    @property
    def variants(self) -> Mapping[str, Variant]:
        """ORT_VARIANTS."""
        return ORT_VARIANTS

    def build(self, variant: str) -> Oracle:
        """An OrtOracle of the variant."""
        return OrtOracle(variant)

    def takes(self, variant: str, config: ConvConfig) -> bool:
        """float32 and float16 cases without cropping pads (ONNX pads are never negative): what the CPU provider's
        kernels compute; invalid-stream cases of those dtypes as every framework takes them."""
        # A weight of another dtype (the invalid stream's mismatched dtypes) in one NumPy has without ml_dtypes.
        dtypes = config.dtype in ORT_DTYPES and config.weight_dtype() in (*ORT_DTYPES, "float64")
        # ONNX Runtime's ConvTranspose keeps output_padding below the stride (torch allows it up to the dilation).
        beyond_stride = not config.defect and config.output_padding_reaches_stride()
        return dtypes and not beyond_stride and super().takes(variant, config)

    def facts(self) -> dict[str, Any]:
        """ONNX Runtime's version, its execution providers and the device it was built for."""
        ort: Any = importlib.import_module("onnxruntime")
        return {"version": str(ort.__version__), "providers": list(ort.get_available_providers()),
                "device": str(ort.get_device())}

    def user_call(self, oracle: str, variant: str, device: str, cfg: ConvConfig) -> UserCall | None:
        """The model written with the onnx helper API, run as the variant runs it."""
        return ort_user_call(oracle, variant, cfg)

    def call_name(self, cfg: ConvConfig) -> str:
        """'ConvTranspose' or 'Conv' (in ONNX Runtime's CPU provider)."""
        return f"ONNX {'ConvTranspose' if cfg.transposed else 'Conv'} ({cfg.op})"

    def variant_phrase(self, variant: str) -> str:
        """' with graph optimisations off', ' on one thread'."""
        return {"onnxruntime-noopt": " with graph optimizations off",
                "onnxruntime-1thread": " on one intra-op thread"}.get(variant, "")


ONNXRUNTIME = OnnxRuntimeFramework()
