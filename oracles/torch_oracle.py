"""PyTorch adapter: torch.nn.functional.conv1d/2d/3d, called the way users call it, in several variants.

A variant is the same call under other backend settings (oneDNN off, cuDNN off, TF32 allowed) or through
torch.compile. Each is its own oracle, so a bug in one backend path is outvoted by the others.
"""

from __future__ import annotations

import contextlib
import importlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class TorchSettings:
    """Backend settings of one torch variant (see TORCH_VARIANTS)."""

    devices: tuple[str, ...] = ("cpu", "cuda")
    mkldnn: bool = True  # oneDNN (MKL-DNN) kernels on CPU
    cudnn: bool = True
    tf32: bool = False  # let cuDNN round float32 inputs to TF32 (torch's own default is to allow it)
    compiled: bool = False  # through torch.compile (inductor)


# The plain 'torch' oracle disallows TF32: torch allows it for cuDNN convolutions by default, and a float32
# result computed from 10-bit mantissas is not a float32 result. 'torch-tf32' is that default, judged with
# the TF32 contract of fuzz.bounds (the '-tf32' suffix selects it).
TORCH_VARIANTS: dict[str, TorchSettings] = {
    "torch": TorchSettings(),
    "torch-nomkldnn": TorchSettings(devices=("cpu",), mkldnn=False),
    "torch-nocudnn": TorchSettings(devices=("cuda",), cudnn=False),
    "torch-tf32": TorchSettings(devices=("cuda",), tf32=True),
    "torch-compile": TorchSettings(compiled=True),
}

# torch.compile keeps every compiled graph for the life of the process, and dynamo gives up compiling a function
# (silently falling back to eager, or raising under fullgraph) after `recompile_limit` recompilations. Resetting
# dynamo after this many shape classes bounds both the memory and the recompilations per function.
MAX_COMPILED_CLASSES = 32


@contextlib.contextmanager
def backend_settings(torch: Any, settings: TorchSettings) -> Iterator[None]:
    """Apply `settings` to torch's process-wide backend flags for one call, then restore them."""
    cudnn = torch.backends.cudnn
    # torch >= 2.9 has a per-operation precision switch; older releases only the allow_tf32 flag.
    precision_switch = getattr(getattr(cudnn, "conv", None), "fp32_precision", None)
    # Reading the legacy flag after the new switch was set is refused by newer torch: read only the one in use.
    saved = (torch.backends.mkldnn.enabled, cudnn.enabled, precision_switch)
    saved_tf32 = cudnn.allow_tf32 if precision_switch is None else None
    try:
        torch.backends.mkldnn.enabled = settings.mkldnn
        cudnn.enabled = settings.cudnn
        if precision_switch is not None:
            cudnn.conv.fp32_precision = "tf32" if settings.tf32 else "ieee"
        else:
            cudnn.allow_tf32 = settings.tf32
        yield
    finally:
        torch.backends.mkldnn.enabled, cudnn.enabled = saved[0], saved[1]
        if precision_switch is not None:
            cudnn.conv.fp32_precision = saved[2]
        else:
            cudnn.allow_tf32 = saved_tf32


def _conv_call(
    x: Any, w: Any, b: Any, pre_pad: list[int] | None, conv: Any, pad: Any, **kwargs: Any
) -> Any:
    """The traced function of torch-compile and the eager call of every other variant: F.pad (if any), then convNd."""
    from torch.nn import functional

    if pre_pad is not None:
        x = functional.pad(x, pre_pad)
    return conv(x, w, b, padding=pad, **kwargs)


class TorchOracle:
    """torch.nn.functional.convNd on the case's device, under one variant's backend settings."""

    def __init__(self, name: str = "torch") -> None:
        try:
            self._torch: Any = importlib.import_module("torch")
        except ImportError as exc:
            raise OracleUnavailable(f"torch is not installed ({exc})") from exc
        self.name = name
        if name not in TORCH_VARIANTS:
            raise KeyError(f"unknown torch variant {name!r}")
        self.settings = TORCH_VARIANTS[name]
        self._functional = self._torch.nn.functional
        self._compiled: Any = None
        self._classes: set[tuple[object, ...]] = set()
        self.compile_resets = 0
        if self.settings.compiled:
            self._prepare_compiler()

    def devices(self) -> tuple[str, ...]:
        """The variant's devices among cpu and (when torch sees a GPU) cuda."""
        seen = ("cpu", "cuda") if self._torch.cuda.is_available() else ("cpu",)
        return tuple(d for d in self.settings.devices if d in seen)

    def run(self, case: ConvCase) -> FloatArray:
        """Run torch's convNd on the case's device and dtype."""
        torch = self._torch
        cfg = case.config
        dtype = getattr(torch, cfg.dtype)

        def tensor(values: FloatArray) -> Any:
            return torch.from_numpy(values).to(device=cfg.device, dtype=dtype)

        pre_pad, padding = torch_padding_plan(cfg)
        bias = tensor(case.b) if case.b is not None else None
        call = self._compiled_call(case) if self.settings.compiled else _conv_call
        with warnings.catch_warnings(), backend_settings(torch, self.settings):
            # torch warns that 'same' with an even kernel may copy the input: a performance note, not an error.
            warnings.simplefilter("ignore", UserWarning)
            out = call(
                tensor(case.x), tensor(case.w), bias, pre_pad, getattr(self._functional, cfg.op), padding,
                stride=cfg.stride, dilation=cfg.dilation, groups=cfg.groups,
            )
        return np.asarray(out.detach().to(device="cpu", dtype=torch.float64).numpy())

    def _prepare_compiler(self) -> None:
        dynamo_config = self._torch._dynamo.config
        for limit in ("recompile_limit", "cache_size_limit"):  # the name changed in torch 2.6
            if hasattr(dynamo_config, limit):
                setattr(dynamo_config, limit, max(getattr(dynamo_config, limit), MAX_COMPILED_CLASSES + 8))
        # fullgraph: a graph break would run part of the call eagerly and test nothing of inductor; dynamic:
        # one compilation per shape class (sizes become symbols) keeps the compiler affordable.
        self._compiled = self._torch.compile(_conv_call, fullgraph=True, dynamic=True)

    def _compiled_call(self, case: ConvCase) -> Any:
        """The compiled function, after resetting dynamo when this call would start one class too many."""
        cfg = case.config
        shape_class = (
            cfg.op, cfg.dtype, cfg.device, cfg.bias, cfg.stride, cfg.dilation, cfg.groups, str(cfg.padding.kind),
            tuple(n == 1 for n in case.x.shape + case.w.shape),  # dynamo specialises sizes 0 and 1
        )
        if shape_class not in self._classes and len(self._classes) >= MAX_COMPILED_CLASSES:
            self._torch._dynamo.reset()
            self._classes.clear()
            self.compile_resets += 1
        self._classes.add(shape_class)
        return self._compiled
