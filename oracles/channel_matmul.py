"""A 1x1 convolution is a channel matmul: torch.matmul / jnp.matmul as an oracle for cases whose kernel is 1x1.

The input is padded (or cropped) and subsampled by the stride on the host, which moves values without rounding;
then each group's (C_out/g, C_in/g) weight multiplies the input channels with the framework's matmul in the case's
dtype and device, and the bias is added by the framework. A GEMM is another kernel than the convolution's, so a
conv bug that only 1x1 cases meet (a 1x1 fast path) is caught by one framework alone.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from convfuzz.oracles.base import FloatArray, OracleUnavailable
from convfuzz.oracles.reference import pad_spatial, widened
from convfuzz.oracles.torch_variants import to_host
from convfuzz.strategies.case import FORWARD_OPS, ConvCase

MATMUL_FRAMEWORKS = ("torch", "jax")


def _channels_by_position(case: ConvCase) -> FloatArray:
    """The input as the 1x1 conv reads it: padded or cropped, every stride-th position, cut to the output size."""
    cfg = case.config
    padded = pad_spatial(case.x, cfg.pad_pairs(), cfg.padding_mode)
    keep = tuple(slice(0, n * s, s) for n, s in zip(cfg.output_spatial(), cfg.stride, strict=True))
    return padded[(slice(None), slice(None), *keep)]


def matmul_serves(case: ConvCase) -> bool:
    """A forward case whose kernel is 1 in every dim."""
    cfg = case.config
    plain = cfg.op in FORWARD_OPS and not cfg.gradient and not cfg.defect and cfg.batch_groups == 1
    return plain and all(k == 1 for k in cfg.kernel)


class ChannelMatmulOracle:
    """`framework`'s matmul computing 1x1 convolutions (see the module docstring)."""

    def __init__(self, framework: str) -> None:
        if framework not in MATMUL_FRAMEWORKS:
            raise KeyError(f"no matmul oracle for {framework!r}")
        try:
            self._module: Any = importlib.import_module(framework)
        except ImportError as exc:
            raise OracleUnavailable(f"{framework} is not installed ({exc})") from exc
        if framework == "jax":
            self._module.config.update("jax_enable_x64", True)
        self.framework = framework
        self.name = f"{framework}-matmul"

    def devices(self) -> tuple[str, ...]:
        """cpu, plus cuda when the framework sees a GPU."""
        if self.framework == "torch":
            return ("cpu", "cuda") if self._module.cuda.is_available() else ("cpu",)
        try:
            self._module.devices("gpu")
        except RuntimeError:
            return ("cpu",)
        return ("cpu", "cuda")

    def serves(self, case: ConvCase) -> bool:
        """See matmul_serves."""
        return matmul_serves(case)

    def run(self, case: ConvCase) -> FloatArray:
        """out[:, group g] = w_g @ x_g (+ b) per group, with the framework's matmul."""
        if not self.serves(case):
            raise ValueError(f"{self.name} computes forward cases with a 1x1 kernel only")
        cfg = case.config
        x = _channels_by_position(case)
        n, spatial = x.shape[0], x.shape[2:]
        groups, per_in, per_out = cfg.groups, cfg.in_channels // cfg.groups, cfg.out_channels // cfg.groups
        columns = x.reshape(n, groups, per_in, int(np.prod(spatial)))
        weights = case.w.reshape(groups, per_out, per_in)
        bias = None if case.b is None else case.b.reshape(groups, per_out, 1)
        parts = [
            self._matmul(weights[g], columns[:, g], None if bias is None else bias[g], case) for g in range(groups)
        ]
        return np.concatenate(parts, axis=1).reshape(n, cfg.out_channels, *spatial)

    def _matmul(self, w: FloatArray, x: FloatArray, b: FloatArray | None, case: ConvCase) -> FloatArray:
        cfg = case.config
        if self.framework == "torch":
            torch = self._module
            dtype = getattr(torch, cfg.dtype)

            def tensor(values: FloatArray) -> Any:
                return torch.from_numpy(np.ascontiguousarray(values)).to(device=cfg.device, dtype=dtype)

            out = torch.matmul(tensor(w), tensor(x))
            if b is not None:
                out = out + tensor(b)
            return np.asarray(to_host(torch, out))
        jax = self._module
        jnp = importlib.import_module("jax.numpy")
        device = jax.devices("gpu" if cfg.device == "cuda" else "cpu")[0]
        dtype = getattr(jnp, cfg.dtype)

        def array(values: FloatArray) -> Any:
            return jax.device_put(np.asarray(values, dtype=dtype), device)

        out = jnp.matmul(array(w), array(x), precision=jax.lax.Precision.HIGHEST)
        if b is not None:
            out = out + array(b)
        return widened(out)
