"""PyTorch adapter: torch.nn.functional.conv1d/2d/3d, called the way users call it."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import numpy as np

from oracles.base import FloatArray, OracleUnavailable
from strategies.case import ConvCase, ConvConfig


def torch_padding_plan(config: ConvConfig) -> tuple[list[int] | None, str | int | tuple[int, ...]]:
    """How torch is called for `config`: (F.pad list or None, the padding= argument).

    torch has no asymmetric padding and accepts 'same' only with stride 1, so those are padded explicitly
    with F.pad first; everything else uses torch's own padding argument, as users write it.
    """
    kind = config.padding.kind
    if kind == "valid":
        return None, "valid"
    if kind == "same" and all(s == 1 for s in config.stride):
        return None, "same"
    pairs = config.pad_pairs()
    if all(lo == hi for lo, hi in pairs):
        return None, tuple(lo for lo, _ in pairs)
    # F.pad lists (low, high) pairs from the last dim backwards.
    return [v for lo, hi in reversed(pairs) for v in (lo, hi)], 0


class TorchOracle:
    """torch.nn.functional.convNd on the case's device."""

    name = "torch"

    def __init__(self) -> None:
        try:
            self._torch: Any = importlib.import_module("torch")
        except ImportError as exc:
            raise OracleUnavailable(f"torch is not installed ({exc})") from exc
        self._functional = self._torch.nn.functional

    def devices(self) -> tuple[str, ...]:
        """cpu, plus cuda when torch sees a GPU."""
        return ("cpu", "cuda") if self._torch.cuda.is_available() else ("cpu",)

    def run(self, case: ConvCase) -> FloatArray:
        """Run torch's convNd on the case's device and dtype."""
        torch = self._torch
        cfg = case.config
        dtype = getattr(torch, cfg.dtype)

        def tensor(values: FloatArray) -> Any:
            return torch.from_numpy(values).to(device=cfg.device, dtype=dtype)

        pre_pad, padding = torch_padding_plan(cfg)
        x = tensor(case.x)
        if pre_pad is not None:
            x = self._functional.pad(x, pre_pad)
        bias = tensor(case.b) if case.b is not None else None
        conv = getattr(self._functional, cfg.op)
        with warnings.catch_warnings():
            # torch warns that 'same' with an even kernel may copy the input: a performance note, not an error.
            warnings.simplefilter("ignore", UserWarning)
            out = conv(
                x, tensor(case.w), bias, stride=cfg.stride, padding=padding, dilation=cfg.dilation, groups=cfg.groups
            )
        return np.asarray(out.detach().to(device="cpu", dtype=torch.float64).numpy())
