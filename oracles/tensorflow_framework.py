"""TensorFlow as convfuzz knows it (oracles.framework): its convolutions on the CPU as a user porting a torch model
writes them.

Variants: 'tensorflow' (tf.nn.convolution / tf.nn.conv_transpose, eager, on TensorFlow's own channels-last tensors:
NWC, NHWC, NDHWC input, spatial-in-out filters; on x86 TensorFlow sends convolutions to oneDNN by default),
'tensorflow-noonednn' (TF_ENABLE_ONEDNN_OPTS=0, set in the worker before TensorFlow is imported: its Eigen kernels),
'tensorflow-xla' (the same function under tf.function(jit_compile=True)) and 'tensorflow-nchw' (the entry point of
the case's rank - tf.nn.conv1d, conv2d, conv3d, depthwise_conv2d for a depthwise 2-D conv, conv1d/2d/3d_transpose -
on channels-first tensors, which oneDNN computes on the CPU). Padding: 'VALID' or 'SAME' where the case says so;
conv2d and depthwise_conv2d take explicit pads; other pads (and torch's reflect mode, TensorFlow's REFLECT) go
through tf.pad first, then 'VALID'. A transposed conv is the 'VALID' transposed call to its full extent
(output_padding included), cropped by the case's pads, as people port conv_transposeNd. An empty output where the
window does not fit is TensorFlow's way of refusing (the oracle raises, as the other frameworks do).

What TensorFlow's CPU kernels lack is sat out, never a finding: gradients, complex dtypes, batch_group_count,
cropping pads (the invalid stream's padding of -1 too: tf.pad forbids negative pads), an output_padding not below
the stride, replicate and circular padding (tf.pad has no such mode), a stride and a dilation above 1 together
(tf.nn.convolution refuses them), grouped conv3d (no CPU kernel), grouped transposed convs (conv_transpose has no
groups), a dilated transposed conv where only the Eigen kernels run (float64, or oneDNN off), and float64 on
channels-first tensors (Eigen's kernels take channels-last ones only; oneDNN has no float64).
"""
from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from convfuzz.oracles.base import FloatArray, OracleUnavailable
from convfuzz.oracles.call_text import UserCall, what_is_called, wrapped
from convfuzz.oracles.framework import Framework, Variant
from convfuzz.strategies.case import ConvCase, ConvConfig, split_op_name

if TYPE_CHECKING:
    from convfuzz.oracles.base import Oracle

TF_DTYPES = ("float32", "float64", "float16", "bfloat16")
ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"
# torch's padding modes tf.pad has: reflect (REFLECT excludes the edge, as torch's does).
PAD_MODES = {"zeros": "CONSTANT", "reflect": "REFLECT"}
GROUP_DEFECTS = ("groups_not_dividing", "wrong_weight_in_channels", "hostile_groups")


@dataclass(frozen=True)
class TfVariant:
    """How one TensorFlow variant runs the call."""

    onednn: bool = True  # oneDNN kernels (TensorFlow's default on x86), else Eigen's
    xla: bool = False  # under tf.function(jit_compile=True)
    # The entry points named by rank (tf.nn.conv2d, depthwise_conv2d, conv3d_transpose, ...) on channels-first
    # tensors (NCW / NCHW / NCDHW, which TensorFlow's oneDNN kernels take on the CPU), with conv2d's explicit
    # paddings; else tf.nn.convolution / conv_transpose on TensorFlow's own channels-last tensors.
    named: bool = False

    def computes(self, op: str) -> bool:
        """Every forward and transposed op; no gradients (not yet written for TensorFlow)."""
        return not split_op_name(op)[1]


TF_VARIANTS: dict[str, TfVariant] = {
    "tensorflow": TfVariant(),
    "tensorflow-noonednn": TfVariant(onednn=False),
    "tensorflow-xla": TfVariant(xla=True),
    "tensorflow-nchw": TfVariant(named=True),
}
Keywords = tuple[tuple[str, Any], ...]  # a call's keyword arguments, in the order a script writes them
CHANNELS_LAST = {1: "NWC", 2: "NHWC", 3: "NDHWC"}
CHANNELS_FIRST = {1: "NCW", 2: "NCHW", 3: "NCDHW"}


@dataclass(frozen=True)
class TfCall:
    """The call that computes a case: tf.pad first where the padding needs it (its pads per dim of the data format,
    and mode), then tf.nn.<entry>(x, w, **keywords), and for a transposed conv a crop of its full output. The
    oracle makes it and a finding's script spells out the same."""

    entry: str  # 'convolution', 'conv2d', 'depthwise_conv2d', 'conv_transpose', 'conv3d_transpose', ...
    keywords: Keywords
    channels_first: bool
    pre_pad: tuple[list[list[int]], str] | None = None
    crop: list[tuple[int, int]] | None = None  # transposed: (low, high) removed per spatial dim

    @property
    def transposed(self) -> bool:
        """Whether the entry is a transposed conv (its output is cropped afterwards)."""
        return self.entry.endswith("transpose")

    def arguments(self) -> str:
        """The keywords as the script writes them: "strides=[1, 2], padding='VALID', ..."."""
        return ", ".join(f"{name}={value!r}" for name, value in self.keywords)

    def kept(self, spatial: Sequence[int]) -> tuple[slice, ...]:
        """The index of the cropped output (full spatial sizes `spatial`) in the call's data format."""
        assert self.crop is not None
        window = tuple(slice(lo, n - hi) for (lo, hi), n in zip(self.crop, spatial, strict=True))
        return (slice(None), slice(None), *window) if self.channels_first else (slice(None), *window, slice(None))


def _framed(values: Sequence[int], channels_first: bool) -> list[int]:
    """Per-spatial-dim values as the length-(rank+2) lists conv3d and depthwise_conv2d take: 1 for N and C."""
    return [1, 1, *values] if channels_first else [1, *values, 1]


def tf_call(cfg: ConvConfig, variant: TfVariant) -> TfCall:
    """How TensorFlow computes `cfg` in `variant`'s form (see the module docstring)."""
    first = variant.named
    layout = (CHANNELS_FIRST if first else CHANNELS_LAST)[cfg.rank]
    pairs = cfg.pad_pairs()
    strides, dilations = list(cfg.stride), list(cfg.dilation)
    if cfg.transposed:
        full = [(n - 1) * s + d * (k - 1) + 1 + extra for n, k, s, d, extra in
                zip(cfg.spatial, cfg.kernel, cfg.stride, cfg.dilation, cfg.output_padding, strict=True)]
        shape = [cfg.batch, cfg.out_channels, *full] if first else [cfg.batch, *full, cfg.out_channels]
        entry = f"conv{cfg.rank}d_transpose" if first else "conv_transpose"
        keywords: Keywords = (("output_shape", shape), ("strides", strides), ("padding", "VALID"),
                              ("data_format", layout), ("dilations", dilations))
        return TfCall(entry, keywords, first, crop=list(pairs))
    depthwise = first and cfg.rank == 2 and cfg.groups == cfg.in_channels > 1
    pre_pad = None
    padding: Any = cfg.padding.kind.upper()
    unpadded = all(pair == (0, 0) for pair in pairs)
    if unpadded and cfg.padding.kind != "same":
        padding = "VALID"  # zero pads in any mode need no tf.pad, as an exporter writes it
    elif cfg.padding_mode != "zeros" or cfg.padding.kind not in ("valid", "same"):
        explicit = [[lo, hi] for lo, hi in pairs]
        padding = [[0, 0], [0, 0], *explicit] if first else [[0, 0], *explicit, [0, 0]]
        # conv2d and depthwise_conv2d take explicit zero pads; everything else pads first and slides 'VALID'.
        if cfg.padding_mode != "zeros" or not (first and cfg.rank == 2):
            pre_pad, padding = (padding, PAD_MODES[cfg.padding_mode]), "VALID"
    if not first:
        entry = "convolution"
        keywords = (("strides", strides), ("padding", padding), ("data_format", layout), ("dilations", dilations))
    elif depthwise:
        entry = "depthwise_conv2d"
        keywords = (("strides", _framed(strides, first)), ("padding", padding), ("data_format", layout),
                    ("dilations", dilations))
    elif cfg.rank == 1:
        entry = "conv1d"
        keywords = (("stride", strides), ("padding", padding), ("data_format", layout), ("dilations", dilations))
    else:
        entry = f"conv{cfg.rank}d"
        keywords = (("strides", _framed(strides, first) if cfg.rank == 3 else strides), ("padding", padding),
                    ("data_format", layout), ("dilations", _framed(dilations, first) if cfg.rank == 3 else dilations))
    return TfCall(entry, keywords, first, pre_pad=pre_pad)


def tf_filter(w: FloatArray, call: TfCall, groups: int) -> FloatArray:
    """torch's weight as the entry takes it: <spatial>IO (forward, from OI<spatial>), <spatial>OI (transposed, from
    torch's IO<spatial>: conv_transpose's filters are [..., out, in]), or depthwise <spatial>, in, multiplier."""
    spatial = tuple(range(2, w.ndim))
    if call.entry == "depthwise_conv2d":
        multiplier = w.shape[0] // groups
        return np.transpose(w.reshape(groups, multiplier, *w.shape[2:]), (*spatial, 0, 1))
    return np.transpose(w, (*spatial, 1, 0))


def tf_input(x: FloatArray, call: TfCall) -> FloatArray:
    """The NC<spatial> input in the call's data format."""
    return x if call.channels_first else np.moveaxis(x, 1, -1)


def tf_compute(tf: Any, call: TfCall, x: Any, w: Any, b: Any) -> Any:
    """The call on TensorFlow tensors in its data format, the bias added last."""
    if call.pre_pad is not None:
        pads, mode = call.pre_pad
        x = tf.pad(x, pads, mode=mode)
    y = getattr(tf.nn, call.entry)(x, w, **dict(call.keywords))
    if call.transposed:
        y = y[call.kept(y.shape[2:] if call.channels_first else y.shape[1:-1])]
    if b is None:
        return y
    return tf.nn.bias_add(y, b, data_format="NCHW" if call.channels_first else None)


class TfOracle:
    """The case through TensorFlow in the variant's form, on the CPU."""

    def __init__(self, name: str) -> None:
        variant = TF_VARIANTS[name]
        wanted = "1" if variant.onednn else "0"
        if "tensorflow" in sys.modules and os.environ.get(ONEDNN_ENV, "1") != wanted:
            raise OracleUnavailable(f"{name} needs a process of its own ({ONEDNN_ENV}={wanted} is read when "
                                    "TensorFlow is imported): run it isolated, not with --no-isolation")
        os.environ[ONEDNN_ENV] = wanted
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up notices are not findings
        try:
            self._tf: Any = importlib.import_module("tensorflow")
        except ImportError as exc:
            raise OracleUnavailable(f"tensorflow is not installed ({exc}); pip install 'convfuzz[tensorflow]'"
                                    ) from exc
        self.name = name
        self.variant = variant

    def devices(self) -> tuple[str, ...]:
        """TensorFlow's CPU (tensorflow-cpu has no other)."""
        return ("cpu",)

    def run(self, case: ConvCase) -> FloatArray:
        """Run the call on the CPU in the case's dtype."""
        tf, cfg = self._tf, case.config
        dtype = getattr(tf, cfg.dtype)
        call = tf_call(cfg, self.variant)
        with tf.device("/CPU:0"):
            inputs = (tf.constant(tf_input(case.x, call), dtype=dtype),
                      tf.constant(tf_filter(case.w, call, cfg.groups), dtype=getattr(tf, cfg.weight_dtype())),
                      None if case.b is None else tf.constant(case.b, dtype=dtype))
            if self.variant.xla:  # one function per case, as a model compiles its conv for its own shapes

                def conv(x: Any, w: Any, b: Any) -> Any:
                    return tf_compute(tf, call, x, w, b)

                out = tf.function(conv, jit_compile=True)(*inputs)
            else:
                out = tf_compute(tf, call, *inputs)
        values = np.asarray(tf.cast(out, tf.float64).numpy())
        result = values if call.channels_first else np.moveaxis(values, -1, 1)
        if 0 in result.shape[2:] and 0 not in case.x.shape[2:]:
            # TensorFlow's answer to a window that does not fit the padded input is an empty output where the
            # other frameworks and the reference refuse the call; it is said here as the refusal it stands for.
            raise ValueError(f"{self.name} returned an empty output {result.shape}: the window does not fit")
        return result


def tf_user_call(oracle: str, variant: str, cfg: ConvConfig) -> UserCall:
    """The call as a user writes it: tensors in the call's data format, tf.pad where needed, the conv, the bias."""
    how = TF_VARIANTS[variant]
    call = tf_call(cfg, how)
    spatial = tuple(range(2, cfg.rank + 2))
    lines = []
    if not how.onednn:
        lines += ["    import os", "",
                  f"    os.environ[{ONEDNN_ENV!r}] = '0'  # before TensorFlow is imported: no oneDNN"]
    lines += ["    import tensorflow as tf", ""]
    if call.channels_first:
        lines.append(f"    x = tf.constant(X, dtype=tf.{cfg.dtype})  # {CHANNELS_FIRST[cfg.rank]}")
    else:
        lines += ["    # TensorFlow's layouts: channels last, the filter's spatial dims first.",
                  f"    x = tf.constant(np.moveaxis(X, 1, -1), dtype=tf.{cfg.dtype})"]
    if call.entry == "depthwise_conv2d":  # kh, kw, in, multiplier
        multiplier = cfg.out_channels // cfg.groups
        filters = f"np.transpose(W.reshape({cfg.groups}, {multiplier}, *W.shape[2:]), {(*spatial, 0, 1)!r})"
    else:
        filters = f"np.transpose(W, {(*spatial, 1, 0)!r})"
    lines.append(f"    w = tf.constant({filters}, dtype=tf.{cfg.weight_dtype()})")
    if cfg.bias:
        lines.append(f"    b = tf.constant(B, dtype=tf.{cfg.dtype})")
    body = []
    if call.pre_pad is not None:
        pads, mode = call.pre_pad
        body.append(f"        x = tf.pad(x, {pads!r}, mode={mode!r})")
    body.append(wrapped(f"        y = tf.nn.{call.entry}(x, w, {call.arguments()})"))
    if call.transposed:
        assert call.crop is not None
        window = ", ".join(f"{lo}:{-hi if hi else ''}" for lo, hi in call.crop)
        index = f":, :, {window}" if call.channels_first else f":, {window}, :"
        body.append(f"        y = y[{index}]  # torch's padding crops the full output")
    if cfg.bias:
        layout = ", data_format='NCHW'" if call.channels_first else ""
        body.append(f"        return tf.nn.bias_add(y, b{layout})")
    else:
        body.append("        return y")
    decorator = ["    @tf.function(jit_compile=True)  # XLA"] if how.xla else []
    operands = "x, w, b" if cfg.bias else "x, w"
    result = f"tf.cast(conv({operands}), tf.float64).numpy()"
    lines += ["", *decorator, f"    def conv({operands}):", *body, "",
              f"    out = {result}" if call.channels_first else f"    out = np.moveaxis({result}, -1, 1)"]
    return UserCall(oracle, cfg, what_is_called(cfg, f"tf.nn.{call.entry}"), "\n".join(lines) + "\n", "out", "out")


class TensorFlowFramework(Framework):
    """tensorflow-cpu."""

    name = "tensorflow"
    title = "TensorFlow"
    module = "tensorflow"
    packages = ("tensorflow", "tensorflow-cpu")
    extra = "tensorflow"
    negative_pads = False  # tf.pad forbids negative pads
    tracker = "https://github.com/tensorflow/tensorflow/issues/new"

    @property
    def variants(self) -> Mapping[str, Variant]:
        """TF_VARIANTS."""
        return TF_VARIANTS

    def build(self, variant: str) -> Oracle:
        """A TfOracle of the variant."""
        return TfOracle(variant)

    def takes(self, variant: str, config: ConvConfig) -> bool:
        """What TensorFlow's CPU kernels compute (see the module docstring); invalid-stream cases of its dtypes."""
        if config.dtype not in TF_DTYPES or config.weight_dtype() not in TF_DTYPES:
            return False
        if config.dtype == "float64" and TF_VARIANTS[variant].named:
            return False  # oneDNN has no float64 kernels, and TensorFlow's own take channels-last tensors only
        if config.padding_mode == "reflect" and config.batch == 0:
            return False  # MirrorPad wants each pad below its dim's size: the empty batch's [0, 0] is refused
        if config.defect:
            # TensorFlow has no groups argument (it reads the group count off the filter's shape): the invalid
            # stream's group defects describe no TensorFlow call.
            lacking = config.defect in GROUP_DEFECTS or self._past_its_attributes(variant, config)
        else:
            lacking = self._lacks(variant, config)
        return not lacking and super().takes(variant, config)

    @staticmethod
    def _lacks(variant: str, config: ConvConfig) -> bool:
        """Whether TensorFlow's CPU kernels lack what a valid case needs (see the module docstring)."""
        strided_and_dilated = any(s > 1 for s in config.stride) and any(d > 1 for d in config.dilation)
        if strided_and_dilated or config.padding_mode not in PAD_MODES:
            return True
        if config.transposed:
            eigen_only = config.dtype == "float64" or not TF_VARIANTS[variant].onednn
            # The 'VALID' transposed call's output is at most a stride beyond its minimum.
            beyond_stride = config.output_padding_reaches_stride()
            return config.groups > 1 or beyond_stride or (eigen_only and any(d > 1 for d in config.dilation))
        return config.groups > 1 and config.rank == 3

    @staticmethod
    def _past_its_attributes(variant: str, config: ConvConfig) -> bool:
        """A hostile value TensorFlow refuses by design, since its conv attributes are 32-bit: a dilation of 2^31 or
        more (Python's conversion refuses it before any kernel; 2^31-1 too, below), and such a stride where no
        oneDNN graph pass runs (the Eigen and XLA variants, and float64 which oneDNN lacks, refuse it as out of
        range). With oneDNN the stride is kept: its layout pass aborts the process on it instead of refusing."""
        past = 2**31
        # 2^31-1 too: tf.nn.convolution makes a dilation a SpaceToBatchND whose batch grows with it - 8.6 GB for a
        # one-element float32 output, then "Input batch too large" - and under a worker's memory budget TensorFlow's
        # allocator retries for up to a minute before refusing: a memory blow-up met on every such draw.
        if any(d >= past - 1 for d in config.dilation):
            return True
        how = TF_VARIANTS[variant]
        eigen_or_xla = not how.onednn or how.xla or config.dtype == "float64"  # oneDNN has no float64 kernels
        return eigen_or_xla and any(s >= past for s in config.stride)

    def loading_lines(self, variant: str = "") -> str:
        """TensorFlow imported (after its oneDNN switch, where the variant turns it off) and started."""
        how = TF_VARIANTS.get(variant.partition("@")[0], TF_VARIANTS["tensorflow"])
        switch = "" if how.onednn else f"import os\nos.environ[{ONEDNN_ENV!r}] = '0'  # before the import: no oneDNN\n"
        return f"{switch}import tensorflow as tf\ntf.zeros(1)  # started, as the worker has it\n"

    def facts(self) -> dict[str, Any]:
        """TensorFlow's version, and whether its oneDNN kernels are on in this process."""
        tf: Any = importlib.import_module("tensorflow")
        found: dict[str, Any] = {"version": str(tf.__version__), "onednn": os.environ.get(ONEDNN_ENV, "1") != "0"}
        return found

    def user_call(self, oracle: str, variant: str, device: str, cfg: ConvConfig) -> UserCall | None:
        """The call as the variant's TfCall describes it."""
        return tf_user_call(oracle, variant, cfg)

    def call_name(self, cfg: ConvConfig) -> str:
        """'tf.nn.convolution' or 'tf.nn.conv_transpose'."""
        return f"tf.nn.{'conv_transpose' if cfg.transposed else 'convolution'}"

    def variant_phrase(self, variant: str) -> str:
        """' with oneDNN off', ' under XLA', ' by rank on channels-first tensors'."""
        return {"tensorflow-noonednn": " with oneDNN off", "tensorflow-xla": " under XLA (jit_compile)",
                "tensorflow-nchw": " (the entry point of its rank, channels-first tensors)"}.get(variant, "")

    def transposed_phrase(self, cfg: ConvConfig) -> str:
        """' (as conv_transpose2d)'."""
        return f" (as {cfg.op})" if cfg.transposed else ""


TENSORFLOW = TensorFlowFramework()
