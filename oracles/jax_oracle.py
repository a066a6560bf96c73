"""JAX adapter: jax.lax.conv_general_dilated at HIGHEST precision, with float64 enabled; jitted or eager."""

from __future__ import annotations

import importlib
import os
from typing import Any

import numpy as np

from oracles.base import FloatArray, OracleUnavailable
from oracles.reference import NUMPY_PAD_MODES
from strategies.case import ConvCase, ConvConfig


def jax_padding(config: ConvConfig) -> str | list[tuple[int, int]]:
    """The padding= argument of lax.conv_general_dilated: 'VALID', 'SAME' or (low, high) pairs."""
    if config.padding.kind in ("valid", "same"):
        return config.padding.kind.upper()
    return [(lo, hi) for lo, hi in config.padding.pairs]


def jax_dimension_numbers(rank: int) -> tuple[str, str, str]:
    """Channels-first layouts as torch uses them: ('NCHW', 'OIHW', 'NCHW') for rank 2."""
    spatial = "DHW"[-rank:]
    return (f"NC{spatial}", f"OI{spatial}", f"NC{spatial}")


# XLA keeps every compiled executable (about 1.5 MB each on CPU) for the life of the process; a campaign sees
# a new shape almost every example, so resident memory grew by gigabytes within minutes. Dropping JAX's caches
# after this many distinct call signatures bounds it (the freed memory is reused for the next compilations).
MAX_CACHED_SIGNATURES = 256

# Variant name -> whether it is jitted.
JAX_VARIANTS: dict[str, bool] = {"jax": True, "jax-eager": False}


def _conv_plus_bias(
    x: Any,
    w: Any,
    b: Any,
    *,
    strides: tuple[int, ...],
    padding: str | tuple[tuple[int, int], ...],
    dilation: tuple[int, ...],
    dimension_numbers: tuple[str, str, str],
    groups: int,
    padding_mode: str = "zeros",
) -> Any:
    """The traced function: lax.conv_general_dilated at HIGHEST precision, then the bias broadcast over space.

    A torch padding_mode other than zeros is applied with jnp.pad first (XLA's convolution pads with zeros only).
    """
    from jax import lax
    from jax import numpy as jnp

    if padding_mode != "zeros":
        if isinstance(padding, str):
            raise ValueError(f"padding_mode {padding_mode!r} needs explicit pads, got {padding!r}")
        x = jnp.pad(x, ((0, 0), (0, 0), *padding), mode=NUMPY_PAD_MODES[padding_mode])
        padding = "VALID"

    out = lax.conv_general_dilated(
        x,
        w,
        window_strides=strides,
        padding=padding,
        rhs_dilation=dilation,
        dimension_numbers=dimension_numbers,
        feature_group_count=groups,
        precision=lax.Precision.HIGHEST,
    )
    if b is not None:
        out = out + b.reshape((1, -1) + (1,) * (out.ndim - 2))
    return out


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
        static = ("strides", "padding", "dilation", "dimension_numbers", "groups", "padding_mode")
        self._conv = self._jax.jit(_conv_plus_bias, static_argnames=static) if JAX_VARIANTS[name] else _conv_plus_bias

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
        device = self._jax.devices("gpu" if cfg.device == "cuda" else "cpu")[0]
        # Convert on the host (NumPy knows every fuzzed dtype through ml_dtypes): no conversion op to compile.
        host_dtype = getattr(self._jnp, cfg.dtype)

        def array(values: FloatArray) -> Any:
            return self._jax.device_put(np.asarray(values, dtype=host_dtype), device)

        padding = jax_padding(cfg)
        out = self._conv(
            array(case.x),
            array(case.w),
            None if case.b is None else array(case.b),
            strides=cfg.stride,
            padding=padding if isinstance(padding, str) else tuple(padding),
            dilation=cfg.dilation,
            dimension_numbers=jax_dimension_numbers(cfg.rank),
            groups=cfg.groups,
            padding_mode=cfg.padding_mode,
        )
        return np.asarray(out).astype(np.float64)

    def _bound_compile_cache(self, case: ConvCase) -> None:
        cfg = case.config
        signature = (
            cfg.dtype, cfg.device, case.x.shape, case.w.shape, cfg.bias, cfg.stride, cfg.dilation, cfg.groups,
            str(jax_padding(cfg)), cfg.padding_mode,
        )
        if signature not in self._signatures and len(self._signatures) >= MAX_CACHED_SIGNATURES:
            self._jax.clear_caches()
            self._signatures.clear()
            self.cache_clears += 1
        self._signatures.add(signature)
