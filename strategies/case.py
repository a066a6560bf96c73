"""The convolution case: plain data shared by strategies, oracles, judge and findings.

Nothing here imports Hypothesis or a framework, so oracles and the findings store can use it freely.
Tensor values are kept as float64 NumPy arrays (complex128 for a complex dtype) exactly representable in the case's
dtype:
every oracle casts them to its own dtype without rounding, and the reference sees the very same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from convfuzz.strategies.dtypes import COMPLEX_COMPONENTS

FloatArray = npt.NDArray[np.float64]

FORWARD_OPS: tuple[str, ...] = ("conv1d", "conv2d", "conv3d")
# torch.nn.functional.conv_transposeNd: the adjoint of the forward conv (weight (C_in, C_out/groups, *kernel)).
TRANSPOSED_OPS: tuple[str, ...] = ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
OPS: tuple[str, ...] = FORWARD_OPS + TRANSPOSED_OPS
# The campaign's stream of invalid configurations (strategies.invalid), scheduled like an op.
INVALID_STREAM = "invalid"
# Backward passes: the gradient of an op's output (against a drawn cotangent) with respect to one of its inputs.
# A gradient case is named OP.grad_input, OP.grad_weight or OP.grad_bias ('conv2d.grad_weight').
GRADIENTS: tuple[str, ...] = ("input", "weight", "bias")
GRADIENT_SEPARATOR = ".grad_"
DTYPES: tuple[str, ...] = ("float32", "float64", "float16", "bfloat16")
# Opt-in (--dtypes): values are complex128 arrays whose real and imaginary parts are exact in the component dtype.
# Forward ops only: torch and JAX define complex gradients by different conventions (conjugate or not).
COMPLEX_DTYPES: tuple[str, ...] = tuple(COMPLEX_COMPONENTS)
ALL_DTYPES: tuple[str, ...] = DTYPES + COMPLEX_DTYPES

PaddingKind = Literal["valid", "same", "symmetric", "explicit"]

# torch's nn.ConvNd padding_mode values: what the padded border holds. Non-zero modes come with symmetric
# padding only (nn.ConvNd has no asymmetric form); reflect needs each pad below the dim's size, circular at most it.
PADDING_MODES: tuple[str, ...] = ("zeros", "reflect", "replicate", "circular")

# How torch receives the tensors (the values never change): contiguous; channels_last / channels_last_3d memory
# format for input and weight (rank 2 and 3 only); the input as a stride-2 view of a wider buffer whose gaps hold
# NaN (a kernel that reads it densely cannot go unnoticed); the weight as a transposed view of its (I, O, ...)
# transpose; the weight as a slice of a kernel one element longer in the last dim. Other frameworks ignore it.
LAYOUTS: tuple[str, ...] = ("contiguous", "channels_last", "strided_input", "transposed_weight", "sliced_weight")


@dataclass(frozen=True)
class Defect:
    """One way to make a forward conv invalid, and who must refuse it: 'all' (torch, JAX and our reference),
    'frameworks' (torch and JAX; the reference sees float64 values only), 'torch' (torch's own rules; JAX
    defines these cases, e.g. negative padding crops) or 'torch and reference' (a hostile parameter JAX has no
    counterpart of).

    A hostile parameter (`must_refuse` False) is an extreme integer in one parameter: each oracle must refuse the
    case where the reference does (it is invalid, or its output is beyond any machine) and compute the
    reference's numbers where it computes (a stride of 2^63-1 over a few elements is one output element)."""

    scope: str
    description: str
    must_refuse: bool = True


# Every tensor dim of a hostile-parameter case is at most this: its extreme value must not make a big tensor.
HOSTILE_MAX_SIZE = 8
# The extreme values a hostile parameter takes: zero, negative, and the edges of 32-bit and 64-bit integers.
HOSTILE_VALUES: tuple[int, ...] = (0, -1, 2**31 - 1, 2**31, 2**32, 2**63 - 1)


DEFECTS: dict[str, Defect] = {
    "groups_not_dividing": Defect("all", "groups does not divide the input channels"),
    "wrong_weight_in_channels": Defect("all", "the weight has one input channel per group too many"),
    "kernel_exceeds_input": Defect("all", "the dilated kernel is larger than the padded input"),
    "mismatched_dtypes": Defect("frameworks", "input and weight have different dtypes"),
    # torch refuses an empty weight; JAX (and the reference) return an output with zero channels, no numbers.
    "zero_out_channels": Defect("all", "the weight has no output channels (C_out = 0)"),
    "negative_padding": Defect("torch", "a negative padding= value (torch has no cropping padding)"),
    "same_with_stride": Defect("torch", "padding='same' with a stride above 1"),
    # Hostile parameters: the first dim's (or the only) value is one of HOSTILE_VALUES.
    "hostile_stride": Defect("all", "an extreme stride", must_refuse=False),
    "hostile_dilation": Defect("all", "an extreme dilation", must_refuse=False),
    "hostile_padding": Defect("all", "an extreme padding", must_refuse=False),
    "hostile_groups": Defect("all", "an extreme groups value (the weight as for groups=1)", must_refuse=False),
    # JAX has no output_padding: the transposed port would compute what torch's rule forbids.
    "hostile_output_padding": Defect(
        "torch and reference", "an extreme output_padding of a transposed conv", must_refuse=False
    ),
}
# Each hostile defect's parameter (a per-dim tuple of the config, but groups).
HOSTILE_PARAMETERS: dict[str, str] = {
    "hostile_stride": "stride", "hostile_dilation": "dilation", "hostile_padding": "padding",
    "hostile_groups": "groups", "hostile_output_padding": "output_padding",
}


def split_op_name(name: str) -> tuple[str, str]:
    """'conv2d.grad_weight' -> ('conv2d', 'weight'); 'conv2d' -> ('conv2d', ''). Raises ValueError on anything
    that is not an op, or an op with one of GRADIENTS."""
    op, separator, gradient = name.partition(GRADIENT_SEPARATOR)
    if op not in OPS or (separator and gradient not in GRADIENTS):
        names = ", ".join(f"{OPS[0]}{GRADIENT_SEPARATOR}{g}" for g in GRADIENTS)
        raise ValueError(f"{name!r} is not an op ({', '.join(OPS)}) or an op's gradient ({names}, ...)")
    return op, gradient


def gradient_op_names(ops: Sequence[str] = OPS) -> tuple[str, ...]:
    """Every gradient name of `ops`: conv1d.grad_input, conv1d.grad_weight, ..."""
    return tuple(f"{op}{GRADIENT_SEPARATOR}{g}" for op in ops for g in GRADIENTS)


def rank_of(op: str) -> int:
    """Number of spatial dims of `op` ('conv2d' and 'conv_transpose2d': 2)."""
    if op not in OPS:
        raise ValueError(f"op {op!r} is not one of {OPS}")
    return int(op[-2])


def layouts_for(rank: int) -> tuple[str, ...]:
    """The layouts a convolution of `rank` spatial dims can have (channels_last needs 2 or 3)."""
    return tuple(layout for layout in LAYOUTS if layout != "channels_last" or rank in (2, 3))


def ops_with_layouts(ops: Sequence[str], layouts: Sequence[str]) -> tuple[str, ...]:
    """The `ops` (or ops' gradients) that can have at least one of `layouts` (conv1d has no channels_last)."""
    return tuple(op for op in ops if set(layouts) & set(layouts_for(rank_of(split_op_name(op)[0]))))


@dataclass(frozen=True)
class Padding:
    """How the spatial dims are padded.

    kind 'valid' and 'same' are passed to frameworks as strings; 'symmetric' carries one int per dim
    (torch's native form); 'explicit' carries a (low, high) pair per dim (XLA's native form).
    """

    kind: PaddingKind
    pairs: tuple[tuple[int, int], ...] = ()

    def to_json(self) -> Any:
        """The JSON form: a string for 'valid'/'same', else {'kind': ..., 'pairs': [[lo, hi], ...]}."""
        if self.kind in ("valid", "same"):
            return self.kind
        return {"kind": self.kind, "pairs": [list(p) for p in self.pairs]}

    @classmethod
    def from_json(cls, data: Any) -> Padding:
        """Inverse of to_json; raises ValueError on anything else."""
        if data in ("valid", "same"):
            return cls(data)
        if not isinstance(data, dict) or data.get("kind") not in ("symmetric", "explicit"):
            raise ValueError(f"padding must be 'valid', 'same' or a kind/pairs object, got {data!r}")
        pairs = tuple((int(lo), int(hi)) for lo, hi in data["pairs"])
        return cls(data["kind"], pairs)


def output_size(size: int, kernel: int, stride: int, dilation: int, low: int, high: int) -> int:
    """Output length of one spatial dim of a convolution (0 or less means no output)."""
    effective = dilation * (kernel - 1) + 1
    return (size + low + high - effective) // stride + 1


def transposed_output_size(
    size: int, kernel: int, stride: int, dilation: int, low: int, high: int, output_padding: int
) -> int:
    """Output length of one spatial dim of a transposed convolution: every input element spreads over a dilated
    kernel placed `stride` apart, `output_padding` extends the high end, and the pads are cut off again."""
    return (size - 1) * stride + dilation * (kernel - 1) + 1 + output_padding - low - high


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """XLA's 'SAME' rule: output ceil(size/stride), total pad split with the odd extra on the high side."""
    effective = dilation * (kernel - 1) + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def padded_copies(size: int, pads: tuple[int, int], mode: str) -> int:
    """How many times one input element can appear in a dim of `size` padded by `pads` in torch padding `mode`:
    once with zeros; reflect, replicate and circular copy border elements into the pad."""
    if mode == "zeros":
        return 1
    modes: dict[str, Literal["reflect", "edge", "wrap"]] = {
        "reflect": "reflect", "replicate": "edge", "circular": "wrap"
    }
    numpy_mode = modes[mode]
    padded = np.pad(np.arange(size), (max(pads[0], 0), max(pads[1], 0)), mode=numpy_mode)
    return int(np.bincount(padded).max())


@dataclass(frozen=True)
class ConvConfig:
    """Every parameter of one forward convolution, without the tensor values."""

    op: str
    batch: int
    in_channels: int
    out_channels: int
    groups: int
    spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: Padding
    bias: bool
    dtype: str
    device: str = "cpu"
    layout: str = "contiguous"
    padding_mode: str = "zeros"
    # Transposed ops only: extra output elements at the high end of each dim (torch's output_padding).
    output_padding: tuple[int, ...] = ()
    # The invalid-configuration stream: the DEFECTS entry that makes this case one every framework must refuse.
    defect: str = ""
    # XLA's batch_group_count (lax-only): the batch is split into this many contiguous chunks, chunk g feeding output
    # channel group g; the output batch is batch / batch_groups. Forward ops with groups = 1 only.
    batch_groups: int = 1
    # A backward case: the gradient of the op's output, against the case's cotangent g, with respect to this input
    # ('input', 'weight' or 'bias'); '' for the op itself.
    gradient: str = ""

    @property
    def rank(self) -> int:
        """Number of spatial dims."""
        return len(self.spatial)

    @property
    def op_name(self) -> str:
        """What the case computes, as findings name it: 'conv2d', or 'conv2d.grad_weight' for a gradient."""
        return f"{self.op}{GRADIENT_SEPARATOR}{self.gradient}" if self.gradient else self.op

    @property
    def transposed(self) -> bool:
        """True for conv_transposeNd."""
        return self.op in TRANSPOSED_OPS

    def pad_pairs(self) -> tuple[tuple[int, int], ...]:
        """The padding resolved to one (low, high) pair per spatial dim."""
        if self.padding.kind == "valid":
            return tuple((0, 0) for _ in self.spatial)
        if self.padding.kind == "same":
            return tuple(
                same_padding(n, k, s, d)
                for n, k, s, d in zip(self.spatial, self.kernel, self.stride, self.dilation, strict=True)
            )
        return self.padding.pairs

    def output_padding_reaches_stride(self) -> bool:
        """Whether a transposed conv's output_padding reaches its stride in some dim: torch allows it up to the
        dilation, but an output size (nn.ConvTransposeNd's output_size=, ONNX's ConvTranspose, TensorFlow's
        'VALID' transposed call) can only say the stride's range."""
        return self.transposed and any(p >= s for p, s in zip(self.output_padding, self.stride, strict=True))

    def output_spatial(self) -> tuple[int, ...]:
        """Spatial output shape."""
        if self.transposed:
            return tuple(
                transposed_output_size(n, k, s, d, lo, hi, extra)
                for n, k, s, d, (lo, hi), extra in zip(
                    self.spatial, self.kernel, self.stride, self.dilation, self.pad_pairs(), self.output_padding,
                    strict=True,
                )
            )
        return tuple(
            output_size(n, k, s, d, lo, hi)
            for n, k, s, d, (lo, hi) in zip(
                self.spatial, self.kernel, self.stride, self.dilation, self.pad_pairs(), strict=True
            )
        )

    def input_shape(self) -> tuple[int, ...]:
        """Shape of the input tensor, channels first."""
        return (self.batch, self.in_channels, *self.spatial)

    def weight_shape(self) -> tuple[int, ...]:
        """Shape of the weight tensor as torch takes it: (C_out, C_in/groups, *kernel) for a forward conv,
        (C_in, C_out/groups, *kernel) for a transposed one."""
        # A hostile groups value says nothing about the tensors: they are those of groups=1.
        groups = 1 if self.defect == "hostile_groups" else self.groups
        if self.transposed:
            return (self.in_channels, self.out_channels // groups, *self.kernel)
        extra = 1 if self.defect == "wrong_weight_in_channels" else 0
        return (self.out_channels, self.in_channels // groups + extra, *self.kernel)

    def weight_dtype(self) -> str:
        """The weight's dtype: the case's dtype, except in a mismatched_dtypes case (float64, or float32 for a
        float64 case; the other complex dtype for a complex case)."""
        if self.defect != "mismatched_dtypes":
            return self.dtype
        other = {"float64": "float32", "complex64": "complex128", "complex128": "complex64"}
        return other.get(self.dtype, "float64")

    def output_shape(self) -> tuple[int, ...]:
        """Shape of the output tensor, channels first."""
        return (self.batch // self.batch_groups, self.out_channels, *self.output_spatial())

    def result_shape(self) -> tuple[int, ...]:
        """Shape of what the case computes: the output, or the gradient's input (x, w or b)."""
        return {
            "": self.output_shape(), "input": self.input_shape(), "weight": self.weight_shape(),
            "bias": (self.out_channels,),
        }[self.gradient]

    def folds(self) -> int:
        """How many copies of one input element the padded input can hold: the partial gradients an input
        gradient adds up through reflect, replicate or circular padding (1 otherwise)."""
        if self.gradient != "input" or self.transposed:
            return 1
        return math.prod(
            padded_copies(n, pair, self.padding_mode) for n, pair in zip(self.spatial, self.pad_pairs(), strict=True)
        )

    def terms_per_output(self) -> int:
        """K: products summed into each element of the result (bias not counted); an upper bound where elements
        differ (a transposed conv's output element receives at most one product per input channel of its group
        and kernel tap). Gradients: an input element gets one product per output channel of its group, kernel
        tap and copy of it in the padded input (reflect/replicate/circular repeat border elements); a weight or
        bias element one per output element of its channel in the batch."""
        if self.gradient == "bias" or (self.gradient == "weight" and not self.transposed):
            return self.batch * math.prod(self.output_spatial())
        if self.gradient == "weight":  # transposed: a weight tap meets each input element at most once
            return self.batch * math.prod(self.spatial)
        if self.gradient == "input":
            return (self.out_channels // self.groups) * math.prod(self.kernel) * self.folds()
        return (self.in_channels // self.groups) * math.prod(self.kernel)

    def multiply_adds(self) -> int:
        """Multiply-adds of the whole case."""
        if self.transposed:
            return math.prod(self.input_shape()) * (self.out_channels // self.groups) * math.prod(self.kernel)
        return math.prod(self.output_shape()) * self.terms_per_output()

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict of every parameter (output_padding only for transposed ops)."""
        data: dict[str, Any] = {
            "op": self.op,
            "batch": self.batch,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "groups": self.groups,
            "spatial": list(self.spatial),
            "kernel": list(self.kernel),
            "stride": list(self.stride),
            "dilation": list(self.dilation),
            "padding": self.padding.to_json(),
            "bias": self.bias,
            "dtype": self.dtype,
            "device": self.device,
            "layout": self.layout,
            "padding_mode": self.padding_mode,
        }
        if self.transposed:
            data["output_padding"] = list(self.output_padding)
        if self.defect:
            data["defect"] = self.defect
        if self.batch_groups != 1:
            data["batch_groups"] = self.batch_groups
        if self.gradient:
            data["gradient"] = self.gradient
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConvConfig:
        """Inverse of to_json; raises KeyError/ValueError/TypeError on malformed data."""
        config = cls(
            op=str(data["op"]),
            batch=int(data["batch"]),
            in_channels=int(data["in_channels"]),
            out_channels=int(data["out_channels"]),
            groups=int(data["groups"]),
            spatial=tuple(int(v) for v in data["spatial"]),
            kernel=tuple(int(v) for v in data["kernel"]),
            stride=tuple(int(v) for v in data["stride"]),
            dilation=tuple(int(v) for v in data["dilation"]),
            padding=Padding.from_json(data["padding"]),
            bias=bool(data["bias"]),
            dtype=str(data["dtype"]),
            device=str(data.get("device", "cpu")),
            layout=str(data.get("layout", "contiguous")),
            padding_mode=str(data.get("padding_mode", "zeros")),
            output_padding=tuple(int(v) for v in data.get("output_padding", ())),
            defect=str(data.get("defect", "")),
            batch_groups=int(data.get("batch_groups", 1)),
            gradient=str(data.get("gradient", "")),
        )
        config.validate()
        return config

    def validate(self) -> None:
        """Raise ValueError naming the first parameter that makes this an invalid forward case."""
        if self.op not in OPS:
            raise ValueError(f"op {self.op!r} is not one of {OPS}")
        if self.dtype not in ALL_DTYPES:
            raise ValueError(f"dtype {self.dtype!r} is not one of {ALL_DTYPES}")
        rank = rank_of(self.op)
        if self.layout not in layouts_for(rank):
            raise ValueError(f"layout {self.layout!r} is not one of {layouts_for(rank)} for {self.op}")
        for name in ("spatial", "kernel", "stride", "dilation"):
            if len(getattr(self, name)) != rank:
                raise ValueError(f"{name} needs {rank} entries for {self.op}, got {getattr(self, name)}")
        if self.padding.kind in ("symmetric", "explicit") and len(self.padding.pairs) != rank:
            raise ValueError(f"padding needs {rank} pairs for {self.op}, got {self.padding.pairs}")
        if self.defect in HOSTILE_PARAMETERS:
            self._validate_hostile()
            return
        smallest_out = 0 if self.defect == "zero_out_channels" else 1
        if self.batch < 0 or min(self.in_channels, self.groups) < 1 or self.out_channels < smallest_out:
            raise ValueError("batch must be at least 0 (an empty batch is valid), channels and groups at least 1")
        if self.defect:
            self._validate_defect()
            return
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"groups={self.groups} must divide channels {self.in_channels}/{self.out_channels}")
        if min(*self.kernel, *self.stride, *self.dilation, *self.spatial) < 1:
            raise ValueError("kernel, stride, dilation and spatial sizes must be at least 1")
        self._validate_padding_mode()
        self._validate_batch_groups()
        self._validate_gradient()
        if self.transposed:
            self._validate_transposed()
        else:
            self._validate_forward_padding()
        if min(self.output_spatial()) < 1:
            raise ValueError(f"no output: padded input is smaller than the dilated kernel ({self})")

    def _validate_batch_groups(self) -> None:
        bg = self.batch_groups
        if bg == 1:
            return
        if bg < 1 or self.transposed or self.groups != 1 or self.batch % bg or self.out_channels % bg:
            raise ValueError(
                f"batch_groups={bg} needs a forward op with groups 1 whose batch {self.batch} and output channels "
                f"{self.out_channels} it divides"
            )
        if self.layout != "contiguous" or self.padding_mode != "zeros":
            raise ValueError("batch_groups cases are lax-only: contiguous layout and zeros padding mode")

    def _validate_gradient(self) -> None:
        if self.gradient and self.gradient not in GRADIENTS:
            raise ValueError(f"gradient {self.gradient!r} is not one of {GRADIENTS}")
        if self.gradient == "bias" and not self.bias:
            raise ValueError("a bias gradient needs a case with bias")
        if self.gradient and self.batch_groups != 1:
            raise ValueError("gradients are drawn for batch_groups 1 only")
        if self.gradient and self.dtype in COMPLEX_DTYPES:
            raise ValueError(f"gradients are real-valued only, not {self.dtype} (complex conventions differ)")

    def _validate_defect(self) -> None:
        """An invalid-stream case: plain in every other respect, and invalid exactly the way its defect says."""
        if self.defect not in DEFECTS:
            raise ValueError(f"defect {self.defect!r} is not one of {tuple(DEFECTS)}")
        plain = not (self.transposed or self.output_padding or self.gradient)
        if not plain or self.layout != "contiguous" or self.padding_mode != "zeros":
            raise ValueError("an invalid-stream case is a plain forward conv (contiguous, zeros padding)")
        if min(*self.kernel, *self.stride, *self.dilation, *self.spatial) < 1 or self.batch < 1:
            raise ValueError("kernel, stride, dilation, spatial sizes and batch must be at least 1")
        pads = [lo for lo, _ in self.padding.pairs]
        holds = {
            "groups_not_dividing": self.in_channels % self.groups != 0 and self.out_channels % self.groups == 0,
            "kernel_exceeds_input": self.padding.kind != "same" and min(self.output_spatial()) < 1,
            "negative_padding": self.padding.kind == "symmetric" and min(pads, default=0) < 0,
            "same_with_stride": self.padding.kind == "same" and max(self.stride) > 1,
            "zero_out_channels": self.out_channels == 0 and self.in_channels % self.groups == 0,
        }.get(self.defect, self.in_channels % self.groups == 0 and self.out_channels % self.groups == 0)
        if not holds:
            raise ValueError(f"the case is not invalid the way defect {self.defect!r} says ({self})")

    def _validate_hostile(self) -> None:
        """A hostile-parameter case: small, plain, and with a value of HOSTILE_VALUES in its parameter."""
        parameter = HOSTILE_PARAMETERS[self.defect]
        if (parameter == "output_padding") != self.transposed or self.gradient or self.batch_groups != 1:
            raise ValueError(f"{self.defect} is a case of {'a transposed' if self.transposed else 'a forward'} op")
        if self.layout != "contiguous" or self.padding_mode != "zeros" or self.padding.kind != "symmetric":
            raise ValueError("a hostile-parameter case is contiguous, with symmetric zero padding")
        if min(self.batch, self.in_channels, self.out_channels, *self.kernel, *self.spatial) < 1:
            raise ValueError("a hostile-parameter case has at least one element in every tensor dim")
        if max(self.batch, self.in_channels, self.out_channels, *self.kernel, *self.spatial) > HOSTILE_MAX_SIZE:
            raise ValueError(f"a hostile-parameter case's tensors stay small (every dim at most {HOSTILE_MAX_SIZE})")
        values = {
            "groups": (self.groups,), "padding": tuple(lo for lo, _ in self.padding.pairs),
        }.get(parameter) or tuple(getattr(self, parameter))
        if values[0] not in HOSTILE_VALUES:
            raise ValueError(f"{self.defect}: {parameter} {values[0]} is not one of {HOSTILE_VALUES}")

    def _validate_forward_padding(self) -> None:
        if self.output_padding:
            raise ValueError(f"output_padding {self.output_padding} is only for transposed ops, not {self.op}")
        if self.padding.kind == "symmetric" and min(lo for lo, _ in self.padding.pairs) < 0:
            raise ValueError(f"symmetric padding {self.padding.pairs} must not be negative (torch's form)")
        for size, (lo, hi) in zip(self.spatial, self.pad_pairs(), strict=True):
            # Negative (cropping) pads are XLA's; they may not crop a dim away entirely.
            if size - max(-lo, 0) - max(-hi, 0) < 1:
                raise ValueError(f"padding ({lo}, {hi}) crops away every element of a dim of size {size}")

    def _validate_transposed(self) -> None:
        # torch's conv_transposeNd takes one non-negative pad per dim and output_padding below stride or dilation.
        if self.padding.kind != "symmetric" or min(lo for lo, _ in self.padding.pairs) < 0:
            raise ValueError(f"{self.op} needs symmetric non-negative padding, got {self.padding.to_json()}")
        if len(self.output_padding) != self.rank:
            raise ValueError(f"output_padding needs {self.rank} entries for {self.op}, got {self.output_padding}")
        for extra, stride, dilation in zip(self.output_padding, self.stride, self.dilation, strict=True):
            if not 0 <= extra < max(stride, dilation):
                raise ValueError(
                    f"output_padding {extra} must be at least 0 and below stride {stride} or dilation {dilation}"
                )
        if self.padding_mode != "zeros":
            raise ValueError(f"{self.op} pads with zeros only, not {self.padding_mode!r}")


    def _validate_padding_mode(self) -> None:
        mode = self.padding_mode
        if mode not in PADDING_MODES:
            raise ValueError(f"padding_mode {mode!r} is not one of {PADDING_MODES}")
        if mode == "zeros":
            return
        if self.padding.kind != "symmetric":
            raise ValueError(f"padding_mode {mode!r} needs symmetric padding, not {self.padding.kind!r}")
        for size, (pad, _) in zip(self.spatial, self.padding.pairs, strict=True):
            if (mode == "reflect" and pad >= size) or (mode == "circular" and pad > size):
                raise ValueError(f"padding_mode {mode!r} cannot pad {pad} around a dim of size {size}")


@dataclass(frozen=True)
class ConvCase:
    """A configuration plus its tensor values (float64, exactly representable in config.dtype)."""

    config: ConvConfig
    x: FloatArray
    w: FloatArray
    b: FloatArray | None
    families: dict[str, str] = field(default_factory=dict)
    # A gradient case's output cotangent (the shape of the op's output); None for the op itself.
    g: FloatArray | None = None

    def tensors(self) -> dict[str, FloatArray]:
        """The named input tensors: x, w, (when present) b and (a gradient case) the cotangent g."""
        named = {"x": self.x, "w": self.w}
        if self.b is not None:
            named["b"] = self.b
        if self.g is not None:
            named["g"] = self.g
        return named

    def result_tensors(self) -> dict[str, FloatArray]:
        """The tensors the case's result is a sum of products of: x, w and b for the op itself; w and g for the
        input gradient, x and g for the weight gradient, g for the bias gradient."""
        tensors = self.tensors()
        used = {"": ("x", "w", "b"), "input": ("w", "g"), "weight": ("x", "g"), "bias": ("g",)}
        return {name: tensors[name] for name in used[self.config.gradient] if name in tensors}

    def element_count(self) -> int:
        """Total number of input tensor elements: the size of a repro."""
        return sum(int(t.size) for t in self.tensors().values())
