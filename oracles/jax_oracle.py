"""JAX adapter: jax.lax.conv_general_dilated at HIGHEST precision, with float64 enabled; jitted or eager.

Transposed ops are ported the way people port conv_transposeNd: an lhs-dilated conv with the kernel rearranged.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from convfuzz.oracles.base import FloatArray, OracleUnavailable
from convfuzz.oracles.jax_entry_points import entry_call, entry_function
from convfuzz.oracles.lax_conventions import forward_kernel, jax_dimension_numbers, transposed_padding
from convfuzz.oracles.reference import NUMPY_PAD_MODES, widened
from convfuzz.oracles.xla_lowering import lowered_path
from convfuzz.strategies.case import GRADIENTS, TRANSPOSED_OPS, ConvCase, ConvConfig, split_op_name


def jax_padding(config: ConvConfig) -> str | list[tuple[int, int]]:
    """The padding= argument of lax.conv_general_dilated: 'VALID', 'SAME' or (low, high) pairs."""
    if config.padding.kind in ("valid", "same"):
        return config.padding.kind.upper()
    return [(lo, hi) for lo, hi in config.padding.pairs]


def to_channels_last(x: FloatArray, w: FloatArray) -> tuple[FloatArray, FloatArray]:
    """NC<spatial> input and OI<spatial> weight rearranged as N<spatial>C and <spatial>IO (values unchanged)."""
    return np.moveaxis(x, 1, -1), np.transpose(w, (*range(2, w.ndim), 1, 0))


def spatial_pad_widths(spec: str, pads: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    """jnp.pad widths for an array laid out as `spec` ('NCHW', 'NHWC', ...): the spatial pairs (given in D, H, W
    order, as every spec here lists them) on the spatial dims, none on N and C."""
    spatial = iter(pads)
    return tuple((0, 0) if dim in "NC" else next(spatial) for dim in spec)


# XLA keeps every compiled executable (about 1.5 MB each on CPU) for the life of the process; a campaign sees
# a new shape almost every example, so resident memory grew by gigabytes within minutes. Dropping JAX's caches
# after this many distinct call signatures bounds it (the freed memory is reused for the next compilations).
MAX_CACHED_SIGNATURES = 256

@dataclass(frozen=True)
class JaxVariant:
    """How one JAX variant calls the convolution."""

    jitted: bool = True
    # transposed ops only: computed as jax.vjp of the forward conv (the identity conv_transpose = VJP of conv)
    adjoint: bool = False
    # forward ops only: NHWC input and HWIO weight through dimension_numbers (the layouts JAX models use)
    channels_last: bool = False
    # forward ops only: float16/bfloat16 with preferred_element_type=float32 (the output stays float32)
    wide_output: bool = False
    # another entry point than lax.conv_general_dilated (a key of oracles.jax_entry_points.ENTRY_CALLS), or ""
    entry: str = ""

    def computes(self, op: str) -> bool:
        """Whether this variant computes `op` ('conv2d', or a gradient 'conv2d.grad_weight'): the adjoint
        transposed ops only, the layout and wide-output variants (written for forward convs) forward ops only;
        gradients (jax.vjp) every variant but the adjoint, the wide-output and the entry-point ones (lax.conv_transpose
        only transposed ops; which cases the others take: oracles.jax_entry_points.entry_call)."""
        base, gradient = split_op_name(op)
        if gradient and (self.adjoint or self.wide_output or self.entry):
            return False
        if self.entry:  # which cases map onto the entry point: oracles.jax_entry_points.entry_call
            return not (self.entry == "conv_transpose" and base not in TRANSPOSED_OPS)
        if base in TRANSPOSED_OPS:
            return self.adjoint or not (self.channels_last or self.wide_output)
        return not self.adjoint


JAX_VARIANTS: dict[str, JaxVariant] = {
    "jax": JaxVariant(),
    "jax-eager": JaxVariant(jitted=False),
    "jax-vjp": JaxVariant(adjoint=True),
    "jax-nhwc": JaxVariant(channels_last=True),
    "jax-f32out": JaxVariant(wide_output=True),
    "jax-conv-transpose": JaxVariant(entry="conv_transpose"),
    "jax-general-padding": JaxVariant(entry="conv_with_general_padding"),
    "jax-scipy": JaxVariant(entry="scipy_correlate"),
    "jax-scipy-convolve": JaxVariant(entry="scipy_convolve"),
}
HALF_TYPES = ("float16", "bfloat16")


def _add_bias(out: Any, b: Any, channel_axis: int = 1) -> Any:
    """out plus the bias (when there is one) broadcast over every dim but the channel axis."""
    if b is None:
        return out
    shape = [1] * out.ndim
    shape[channel_axis] = -1
    return out + b.reshape(shape)


@dataclass(frozen=True)
class LaxCall:
    """lax.conv_general_dilated's arguments for one case: the one description of the call. The oracle passes them
    (a static argument of the jitted function), and a finding's script and `convfuzz explain` spell out the same
    ones (oracles.user_calls). Precision is always HIGHEST."""

    window_strides: tuple[int, ...]
    padding: str | tuple[tuple[int, int], ...]
    rhs_dilation: tuple[int, ...]
    dimension_numbers: tuple[str, str, str]
    feature_group_count: int
    lhs_dilation: tuple[int, ...] | None = None  # the transposed port dilates its input by the stride
    batch_group_count: int = 1
    preferred_element_type: str | None = None  # a jnp dtype name: the output type (None: the input's)
    # A torch padding mode other than zeros, applied with jnp.pad first (XLA pads with zeros only): widths and the
    # NumPy mode name; the call's own padding is then VALID.
    pre_pad: tuple[tuple[tuple[int, int], ...], str] | None = None

    def keywords(self) -> dict[str, Any]:
        """The keyword arguments that differ from lax's defaults, in lax's order (precision and the output type
        apart)."""
        found: dict[str, Any] = {"window_strides": self.window_strides, "padding": self.padding}
        if self.lhs_dilation is not None:
            found["lhs_dilation"] = self.lhs_dilation
        found |= {"rhs_dilation": self.rhs_dilation, "dimension_numbers": self.dimension_numbers,
                  "feature_group_count": self.feature_group_count}
        if self.batch_group_count > 1:
            found["batch_group_count"] = self.batch_group_count
        return found

    def arguments(self) -> str:
        """The keyword arguments as source, precision and output type included."""
        text = ", ".join(f"{name}={value!r}" for name, value in self.keywords().items())
        text += ", precision=lax.Precision.HIGHEST"
        return text + (f", preferred_element_type=jnp.{self.preferred_element_type}"
                       if self.preferred_element_type else "")


def lax_call(cfg: ConvConfig, variant: JaxVariant) -> LaxCall:
    """The call that computes `cfg` under `variant`: the forward conv (in the variant's layout, with its output
    type), the transposed op's lhs-dilated port (on the rearranged kernel, forward_kernel), or for the adjoint
    variant the forward conv whose VJP it takes."""
    numbers = jax_dimension_numbers(cfg.rank, variant.channels_last)
    if cfg.transposed and variant.adjoint:
        return LaxCall(cfg.stride, cfg.pad_pairs(), cfg.dilation, numbers, cfg.groups)
    if cfg.transposed:
        return LaxCall((1,) * cfg.rank, transposed_padding(cfg), cfg.dilation, numbers, cfg.groups,
                       lhs_dilation=cfg.stride)
    padding = jax_padding(cfg)
    pre_pad = None
    if cfg.padding_mode != "zeros":  # non-zero modes come with explicit pads
        pre_pad = (spatial_pad_widths(numbers[0], cfg.pad_pairs()), NUMPY_PAD_MODES[cfg.padding_mode])
        padding = "VALID"
    preferred = "float32" if variant.wide_output and cfg.dtype in HALF_TYPES else None
    return LaxCall(cfg.stride, padding if isinstance(padding, str) else tuple(padding), cfg.dilation, numbers,
                   cfg.groups, batch_group_count=cfg.batch_groups, preferred_element_type=preferred, pre_pad=pre_pad)


def _lax(x: Any, w: Any, call: LaxCall) -> Any:
    """lax.conv_general_dilated of x and w as `call` describes it (its pre-padding first)."""
    from jax import lax
    from jax import numpy as jnp

    if call.pre_pad is not None:
        widths, mode = call.pre_pad
        x = jnp.pad(x, widths, mode=mode)
    preferred = None if call.preferred_element_type is None else getattr(jnp, call.preferred_element_type)
    return lax.conv_general_dilated(
        x, w, **call.keywords(), precision=lax.Precision.HIGHEST, preferred_element_type=preferred
    )


def _conv_plus_bias(x: Any, w: Any, b: Any, *, call: LaxCall) -> Any:
    """The traced function: the described conv, then the bias broadcast over space."""
    return _add_bias(_lax(x, w, call), b, call.dimension_numbers[2].index("C"))


def _conv_transpose_plus_bias(x: Any, w: Any, b: Any, *, call: LaxCall) -> Any:
    """The traced transposed conv, as people port conv_transposeNd to JAX: the lhs-dilated call on the kernel
    rearranged by forward_kernel."""
    return _add_bias(_lax(x, forward_kernel(w, call.feature_group_count), call), b)


def _conv_transpose_as_vjp(x: Any, w: Any, b: Any, *, call: LaxCall, output_spatial: tuple[int, ...]) -> Any:
    """The traced transposed conv as jax.vjp of the forward conv (`call`) at an input of the transposed output's
    size, with cotangent x (torch's transposed weight is the forward conv's OI weight as it is). The forward output
    is cut to x's size first: with output_padding >= stride it reaches one window further."""
    import jax
    from jax import numpy as jnp

    window = tuple(slice(0, n) for n in x.shape[2:])
    z = jnp.zeros((x.shape[0], w.shape[1] * call.feature_group_count, *output_spatial), dtype=x.dtype)

    def forward(inputs: Any) -> Any:
        return _lax(inputs, w, call)[(..., *window)]

    _, pullback = jax.vjp(forward, z)
    (out,) = pullback(x)
    return _add_bias(out, b)


def _gradient_of(
    x: Any,
    w: Any,
    b: Any,
    g: Any,
    *,
    which: str,
    forward: Callable[..., Any],
    call: LaxCall,
) -> Any:
    """The traced gradient of forward(x, w, b, call=call) (the conv plus bias, or the ported transposed conv)
    with respect to `which` of x, w, b: jax.vjp at cotangent g, as a JAX training step gets it."""
    import jax

    def function(x_: Any, w_: Any, b_: Any) -> Any:
        return forward(x_, w_, b_, call=call)

    _, pullback = jax.vjp(function, x, w, b)
    return pullback(g)[GRADIENTS.index(which)]


class JaxOracle:
    """lax.conv_general_dilated plus the bias add, on the case's device (NC<spatial>/OI<spatial>).

    'jax' jits the pair. Why jit: XLA compiles every new shape (about 60 ms on a small CPU) and compile time
    dominates a campaign. Eagerly, the dtype conversion, the conv and the bias add each compile on their own;
    one jitted function compiles once per shape, and it is also how models run JAX in practice. 'jax-eager'
    calls the same function op by op, as a user at a prompt would: another compilation path of the same conv.
    """

    cache_clears = 0

    def __init__(self, name: str = "jax") -> None:
        if name not in JAX_VARIANTS:
            raise KeyError(f"unknown JAX variant {name!r}")
        # JAX takes 75% of a GPU's memory at start by default; several oracle workers share one GPU here.
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        try:
            self._jax: Any = importlib.import_module("jax")
            self._jnp: Any = importlib.import_module("jax.numpy")
        except ImportError as exc:
            raise OracleUnavailable(f"jax is not installed ({exc})") from exc
        self.name = name
        # float64 cases must stay float64; without x64 JAX silently computes them in float32.
        self._jax.config.update("jax_enable_x64", True)
        self._signatures: set[tuple[object, ...]] = set()
        self.variant = JAX_VARIANTS[name]
        # The jitted variants call executables they lowered and compiled themselves (one compilation per shape, as
        # jit's own cache does), because the executable's optimized HLO is what tells which lowering ran; jit's
        # dispatch cache is not shared with .lower(), so asking it afterwards would compile every shape twice.
        self._executables: dict[tuple[object, ...], tuple[Any, str]] = {}
        self.last_path: str | None = None
        transposed = _conv_transpose_as_vjp if self.variant.adjoint else _conv_transpose_plus_bias
        # An entry-point variant computes forward and transposed ops alike through entry_function.
        self._conv = self._caller(entry_function if self.variant.entry else _conv_plus_bias)
        self._conv_transpose = self._caller(transposed)
        self._gradient = self._caller(_gradient_of)

    def _caller(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """`function` as this variant calls it: as it is (eager), or through an executable compiled once per
        argument shapes and static keywords, whose lowering becomes `last_path`."""
        if not self.variant.jitted:
            return function
        parameters = inspect.signature(function).parameters.values()
        static_names = tuple(p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY)
        jitted = self._jax.jit(function, static_argnames=static_names)

        def call(*arrays: Any, **static: Any) -> Any:
            # devices(), not .device: JAX before 0.4.31 has only the former (the jax extra admits 0.4.30).
            leaves = [(a.shape, str(a.dtype), str(a.devices())) if a is not None else None for a in arrays]
            key = (function, tuple(leaves), tuple(sorted(static.items())))
            if key not in self._executables:
                executable = jitted.lower(*arrays, **static).compile()
                platform = next(iter(arrays[0].devices())).platform
                self._executables[key] = (executable, lowered_path(platform, executable.as_text()))
            executable, self.last_path = self._executables[key]
            return executable(*arrays)

        return call

    def devices(self) -> tuple[str, ...]:
        """cpu, plus cuda when JAX has a GPU backend."""
        try:
            self._jax.devices("gpu")
        except RuntimeError:
            return ("cpu",)
        return ("cpu", "cuda")

    def run(self, case: ConvCase) -> FloatArray:
        """Run the conv (plus bias), jitted or eager, on the case's device and dtype."""
        cfg = case.config
        self._bound_compile_cache(case)
        self.last_path = None
        device = self._jax.devices("gpu" if cfg.device == "cuda" else "cpu")[0]
        # Convert on the host (NumPy knows every fuzzed dtype through ml_dtypes): no conversion op to compile.
        host_dtype = getattr(self._jnp, cfg.dtype)

        def array(values: FloatArray, dtype: Any = host_dtype) -> Any:
            return self._jax.device_put(np.asarray(values, dtype=dtype), device)

        variant = self.variant
        if not variant.computes(cfg.op_name):
            raise ValueError(f"{self.name} does not compute {cfg.op_name}")
        x_values, w_values = to_channels_last(case.x, case.w) if variant.channels_last else (case.x, case.w)
        weight = array(w_values, getattr(self._jnp, cfg.weight_dtype()))
        if cfg.gradient:
            return self._case_gradient(case, array(x_values), weight, None if case.b is None else array(case.b), array)

        bias = None if case.b is None else array(case.b)
        if variant.entry:
            described = entry_call(cfg, variant.entry)
            if described is None:
                raise ValueError(f"{self.name} cannot write this case as {variant.entry}")
            return widened(self._conv(array(case.x), weight, bias, call=described))
        call = lax_call(cfg, variant)
        if cfg.transposed:
            extra = {"output_spatial": cfg.output_spatial()} if self.variant.adjoint else {}
            return widened(self._conv_transpose(array(case.x), weight, bias, call=call, **extra))
        out = self._conv(array(x_values), weight, bias, call=call)
        result = widened(out)
        return np.moveaxis(result, -1, 1) if variant.channels_last else result

    def _case_gradient(self, case: ConvCase, x: Any, w: Any, b: Any, array: Any) -> FloatArray:
        """The case's gradient through jax.vjp (jitted or not, in the variant's layout), as NC<spatial>/OI<spatial>."""
        cfg = case.config
        assert case.g is not None
        channels_last = self.variant.channels_last
        g = array(np.moveaxis(case.g, 1, -1) if channels_last else case.g)
        forward: Callable[..., Any] = _conv_transpose_plus_bias if cfg.transposed else _conv_plus_bias
        out = self._gradient(x, w, b, g, which=cfg.gradient, forward=forward, call=lax_call(cfg, self.variant))
        result = widened(out)
        if channels_last and cfg.gradient == "input":
            return np.moveaxis(result, -1, 1)
        if channels_last and cfg.gradient == "weight":  # <spatial>IO back to OI<spatial>
            return np.transpose(result, (result.ndim - 1, result.ndim - 2, *range(result.ndim - 2)))
        return result

    def _bound_compile_cache(self, case: ConvCase) -> None:
        cfg = case.config
        signature = (
            cfg.dtype, cfg.device, case.x.shape, case.w.shape, cfg.bias, cfg.stride, cfg.dilation, cfg.groups,
            str(jax_padding(cfg)), cfg.padding_mode, cfg.op_name, cfg.output_padding, cfg.batch_groups,
        )
        if signature not in self._signatures and len(self._signatures) >= MAX_CACHED_SIGNATURES:
            self._jax.clear_caches()
            self._executables.clear()
            self._signatures.clear()
            self.cache_clears += 1
        self._signatures.add(signature)
