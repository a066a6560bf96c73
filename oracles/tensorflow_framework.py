"""TensorFlow as convfuzz knows it (oracles.framework): tf.nn.convolution and tf.nn.conv_transpose on the CPU, in
TensorFlow's own layout (channels last: NWC, NHWC, NDHWC input; spatial-in-out filters), as a user porting a torch
model writes them.

Variants: 'tensorflow' (eager; on x86 TensorFlow sends convolutions to oneDNN by default), 'tensorflow-noonednn'
(TF_ENABLE_ONEDNN_OPTS=0, set in the worker before TensorFlow is imported: its Eigen kernels) and 'tensorflow-xla'
(the same function under tf.function(jit_compile=True)). Padding: 'VALID' or 'SAME' where the case says so; other
pads (and torch's reflect mode, TensorFlow's REFLECT) through tf.pad first, then 'VALID', since tf.nn.convolution
takes no explicit pads. A transposed conv is the 'VALID' conv_transpose to its full extent (output_padding
included), cropped by the case's pads, as people port conv_transposeNd.

What TensorFlow's CPU kernels lack is sat out, never a finding: gradients, complex dtypes, batch_group_count,
cropping pads, replicate and circular padding (tf.pad has no such mode), a stride and a dilation above 1 together
(tf.nn.convolution refuses them), grouped conv3d (no CPU kernel), grouped transposed convs (conv_transpose has no
groups), and a dilated transposed conv where only the Eigen kernels run (float64, or oneDNN off).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
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

    def computes(self, op: str) -> bool:
        """Every forward and transposed op; no gradients (not yet written for TensorFlow)."""
        return not split_op_name(op)[1]


TF_VARIANTS: dict[str, TfVariant] = {
    "tensorflow": TfVariant(),
    "tensorflow-noonednn": TfVariant(onednn=False),
    "tensorflow-xla": TfVariant(xla=True),
}


@dataclass(frozen=True)
class TfCall:
    """The call that computes a case: tf.pad first (its pads, per NWC/NHWC/NDHWC dim, and mode), then
    tf.nn.convolution or, transposed, tf.nn.conv_transpose to the full output and a crop. The oracle makes it and
    a finding's script spells out the same."""

    transposed: bool
    strides: list[int]
    dilations: list[int]
    padding: str  # 'VALID' or 'SAME'
    pre_pad: tuple[list[list[int]], str] | None = None
    full_shape: list[int] | None = None  # transposed: the output_shape of the uncropped conv_transpose
    crop: list[tuple[int, int]] | None = None  # transposed: (low, high) removed per spatial dim


def tf_call(cfg: ConvConfig) -> TfCall:
    """How TensorFlow computes `cfg` (see the module docstring)."""
    pairs = cfg.pad_pairs()
    if cfg.transposed:
        full = [(n - 1) * s + d * (k - 1) + 1 + extra for n, k, s, d, extra in
                zip(cfg.spatial, cfg.kernel, cfg.stride, cfg.dilation, cfg.output_padding, strict=True)]
        return TfCall(True, list(cfg.stride), list(cfg.dilation), "VALID",
                      full_shape=[cfg.batch, *full, cfg.out_channels], crop=list(pairs))
    if cfg.padding_mode == "zeros" and cfg.padding.kind in ("valid", "same"):
        return TfCall(False, list(cfg.stride), list(cfg.dilation), cfg.padding.kind.upper())
    pads = [[0, 0], *([lo, hi] for lo, hi in pairs), [0, 0]]
    return TfCall(False, list(cfg.stride), list(cfg.dilation), "VALID", pre_pad=(pads, PAD_MODES[cfg.padding_mode]))


def channels_last(x: FloatArray, w: FloatArray) -> tuple[FloatArray, FloatArray]:
    """NC<spatial> input and torch's weight as TensorFlow takes them: N<spatial>C, and <spatial>IO (forward,
    from OI<spatial>) or <spatial>OI (transposed, from torch's IO<spatial>: conv_transpose's filters are
    [..., out, in])."""
    spatial = tuple(range(2, w.ndim))
    return np.moveaxis(x, 1, -1), np.transpose(w, (*spatial, 1, 0))


def tf_compute(tf: Any, call: TfCall, x: Any, w: Any, b: Any) -> Any:
    """The call on TensorFlow tensors (channels last), the bias added last."""
    if call.pre_pad is not None:
        pads, mode = call.pre_pad
        x = tf.pad(x, pads, mode=mode)
    if call.transposed:
        assert call.full_shape is not None and call.crop is not None
        y = tf.nn.conv_transpose(x, w, output_shape=call.full_shape, strides=call.strides, padding="VALID",
                                 dilations=call.dilations)
        kept = (slice(lo, n - hi) for (lo, hi), n in zip(call.crop, call.full_shape[1:-1], strict=True))
        y = y[(slice(None), *kept, slice(None))]
    else:
        y = tf.nn.convolution(x, w, strides=call.strides, padding=call.padding, dilations=call.dilations)
    return y if b is None else tf.nn.bias_add(y, b)


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
        x, w = channels_last(case.x, case.w)
        call = tf_call(cfg)
        with tf.device("/CPU:0"):
            inputs = (tf.constant(x, dtype=dtype), tf.constant(w, dtype=getattr(tf, cfg.weight_dtype())),
                      None if case.b is None else tf.constant(case.b, dtype=dtype))
            if self.variant.xla:  # one function per case, as a model compiles its conv for its own shapes

                def conv(x: Any, w: Any, b: Any) -> Any:
                    return tf_compute(tf, call, x, w, b)

                out = tf.function(conv, jit_compile=True)(*inputs)
            else:
                out = tf_compute(tf, call, *inputs)
        result = np.moveaxis(np.asarray(tf.cast(out, tf.float64).numpy()), -1, 1)
        if 0 in result.shape[2:] and 0 not in case.x.shape[2:]:
            # TensorFlow's answer to a window that does not fit the padded input is an empty output where the
            # other frameworks and the reference refuse the call; it is said here as the refusal it stands for.
            raise ValueError(f"{self.name} returned an empty output {result.shape}: the window does not fit")
        return result


def tf_user_call(oracle: str, variant: str, cfg: ConvConfig) -> UserCall:
    """The call as a user writes it: channels-last tensors, tf.pad where needed, the conv, the bias."""
    call = tf_call(cfg)
    how = TF_VARIANTS[variant]
    rank = cfg.rank
    spatial = tuple(range(2, rank + 2))
    lines = []
    if not how.onednn:
        lines += ["    import os", "",
                  f"    os.environ[{ONEDNN_ENV!r}] = '0'  # before TensorFlow is imported: no oneDNN"]
    lines += [
        "    import tensorflow as tf",
        "",
        "    # TensorFlow's layouts: channels last, the filter's spatial dims first.",
        f"    x = tf.constant(np.moveaxis(X, 1, -1), dtype=tf.{cfg.dtype})",
        f"    w = tf.constant(np.transpose(W, {(*spatial, 1, 0)!r}), dtype=tf.{cfg.weight_dtype()})",
    ]
    if cfg.bias:
        lines.append(f"    b = tf.constant(B, dtype=tf.{cfg.dtype})")
    body = []
    if call.pre_pad is not None:
        pads, mode = call.pre_pad
        body.append(f"        x = tf.pad(x, {pads!r}, mode={mode!r})")
    if call.transposed:
        assert call.full_shape is not None and call.crop is not None
        body.append(wrapped(f"        y = tf.nn.conv_transpose(x, w, output_shape={call.full_shape!r}, "
                            f"strides={call.strides!r}, padding='VALID', dilations={call.dilations!r})"))
        window = ", ".join(f"{lo}:{n - hi}" for (lo, hi), n in zip(call.crop, call.full_shape[1:-1], strict=True))
        body.append(f"        y = y[:, {window}, :]  # torch's padding crops the full output")
    else:
        body.append(wrapped(f"        y = tf.nn.convolution(x, w, strides={call.strides!r}, padding={call.padding!r}, "
                            f"dilations={call.dilations!r})"))
    body.append("        return tf.nn.bias_add(y, b)" if cfg.bias else "        return y")
    decorator = ["    @tf.function(jit_compile=True)  # XLA"] if how.xla else []
    operands = "x, w, b" if cfg.bias else "x, w"
    lines += ["", *decorator, f"    def conv({operands}):", *body, "",
              f"    out = np.moveaxis(tf.cast(conv({operands}), tf.float64).numpy(), -1, 1)"]
    what = f"tf.nn.{'conv_transpose' if cfg.transposed else 'convolution'}"
    return UserCall(oracle, cfg, what_is_called(cfg, what), "\n".join(lines) + "\n", "out", "out")


class TensorFlowFramework(Framework):
    """tensorflow-cpu."""

    name = "tensorflow"
    title = "TensorFlow"
    module = "tensorflow"
    packages = ("tensorflow", "tensorflow-cpu")
    extra = "tensorflow"
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
        if config.defect:
            # TensorFlow has no groups argument (it reads the group count off the filter's shape): the invalid
            # stream's group defects describe no TensorFlow call.
            return config.defect not in GROUP_DEFECTS and super().takes(variant, config)
        strided_and_dilated = any(s > 1 for s in config.stride) and any(d > 1 for d in config.dilation)
        cropping = any(lo < 0 or hi < 0 for lo, hi in config.pad_pairs())
        if strided_and_dilated or cropping or config.padding_mode not in PAD_MODES:
            return False
        if config.transposed:
            eigen_only = config.dtype == "float64" or not TF_VARIANTS[variant].onednn
            if config.groups > 1 or (eigen_only and any(d > 1 for d in config.dilation)):
                return False
        elif config.groups > 1 and config.rank == 3:
            return False
        return super().takes(variant, config)

    def facts(self) -> dict[str, Any]:
        """TensorFlow's version, and whether its oneDNN kernels are on in this process."""
        tf: Any = importlib.import_module("tensorflow")
        found: dict[str, Any] = {"version": str(tf.__version__), "onednn": os.environ.get(ONEDNN_ENV, "1") != "0"}
        return found

    def user_call(self, oracle: str, variant: str, device: str, cfg: ConvConfig) -> UserCall | None:
        """The channels-last call as oracles' TfCall describes it."""
        return tf_user_call(oracle, variant, cfg)

    def call_name(self, cfg: ConvConfig) -> str:
        """'tf.nn.convolution' or 'tf.nn.conv_transpose'."""
        return f"tf.nn.{'conv_transpose' if cfg.transposed else 'convolution'}"

    def variant_phrase(self, variant: str) -> str:
        """' with oneDNN off', ' under XLA'."""
        return {"tensorflow-noonednn": " with oneDNN off", "tensorflow-xla": " under XLA (jit_compile)"}.get(
            variant, "")

    def transposed_phrase(self, cfg: ConvConfig) -> str:
        """' (as conv_transpose2d)'."""
        return f" (as {cfg.op})" if cfg.transposed else ""


TENSORFLOW = TensorFlowFramework()
