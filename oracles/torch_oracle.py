"""PyTorch adapter: torch.nn.functional.convNd and conv_transposeNd, called the way users call them, in variants.

A variant is the same call under other backend settings (oneDNN off, cuDNN off, TF32 allowed) or through
torch.compile. Each is its own oracle, so a bug in one backend path is outvoted by the others.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from convfuzz.oracles.base import FloatArray, OracleUnavailable
from convfuzz.oracles.onednn_log import onednn_implementations
from convfuzz.oracles.torch_variants import TORCH_VARIANTS, arrange, backend_settings, to_host
from convfuzz.strategies.case import GRADIENTS, ConvCase, ConvConfig


def torch_padding_plan(config: ConvConfig) -> tuple[list[int] | None, str | int | tuple[int, ...]]:
    """How torch is called for `config`: (F.pad list or None, the padding= argument).

    torch has no asymmetric or negative padding and accepts 'same' only with stride 1, so those are padded
    explicitly with F.pad first (a negative F.pad amount crops, as XLA's negative padding does); everything else
    uses torch's own padding argument, as users write it. Transposed ops always use their own argument.
    """
    kind = config.padding.kind
    if config.defect in ("negative_padding", "same_with_stride"):
        # Invalid-stream cases torch must refuse: handed to torch exactly as written, never padded for it.
        return None, kind if kind == "same" else tuple(lo for lo, _ in config.pad_pairs())
    if kind == "valid":
        return None, "valid"
    if kind == "same" and all(s == 1 for s in config.stride):
        return None, "same"
    pairs = config.pad_pairs()
    if all(lo == hi and lo >= 0 for lo, hi in pairs):
        return None, tuple(lo for lo, _ in pairs)
    # F.pad lists (low, high) pairs from the last dim backwards.
    return [v for lo, hi in reversed(pairs) for v in (lo, hi)], 0


# Values of ATen's ConvBackend that torch 2.13's Python enum leaves unnamed, by ATen's names.
UNNAMED_CONV_BACKENDS = {9: "MkldnnTranspose"}


@dataclass(frozen=True)
class TorchCall:
    """How torch.nn.functional is called for a case: the one description of the call. The oracle calls it, and a
    finding's script and `convfuzz explain` spell out the same arguments (oracles.user_calls)."""

    function: str  # in torch.nn.functional: 'conv2d', 'conv_transpose2d'
    pre_pad: tuple[int, ...] | None  # F.pad amounts applied first (torch has no negative or asymmetric padding=)
    stride: tuple[int, ...]
    padding: str | int | tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    output_padding: tuple[int, ...] | None = None  # transposed ops only

    def keywords(self) -> dict[str, object]:
        """The keyword arguments of the call, in torch's order."""
        shape = {"stride": self.stride, "padding": self.padding}
        if self.output_padding is not None:
            shape["output_padding"] = self.output_padding
        return {**shape, "dilation": self.dilation, "groups": self.groups}

    def arguments(self) -> str:
        """The keyword arguments as source: 'stride=(1, 2), padding=(0, 1), dilation=(1, 1), groups=2'."""
        return ", ".join(f"{name}={value!r}" for name, value in self.keywords().items())


def torch_call(cfg: ConvConfig, adjoint: bool = False) -> TorchCall:
    """The call that computes `cfg`: its own F.convNd / F.conv_transposeNd, or (`adjoint`, for a transposed op) the
    forward F.convNd whose vector-Jacobian product torch-vjp takes."""
    if adjoint:
        padding: str | int | tuple[int, ...] = tuple(lo for lo, _ in cfg.pad_pairs())
        return TorchCall(f"conv{cfg.rank}d", None, cfg.stride, padding, cfg.dilation, cfg.groups)
    pre_pad, padding = torch_padding_plan(cfg)
    output_padding = cfg.output_padding if cfg.transposed else None
    return TorchCall(cfg.op, None if pre_pad is None else tuple(pre_pad), cfg.stride, padding, cfg.dilation,
                     cfg.groups, output_padding)


# torch.compile keeps every compiled graph for the life of the process, and what it compiled before can change
# what it compiles next (automatic dynamic shapes and their saved profile). A finding must reproduce in a fresh
# process, so torch-compile resets dynamo whenever a case starts a new shape class: every class compiles as it
# would first thing in a new process, and the compile cache never holds more than one class.


def conv_function(cfg: ConvConfig, functional: Any) -> Callable[[Any, Any, Any], Any]:
    """conv(x, w, b) for `cfg`: F.pad (when torch needs it) then F.convNd, the parameters captured by the closure.

    Under torch.compile(dynamic=True) the captured ints (padding amounts, strides) are traced as symbols, like the
    tensor sizes: the convolution is compiled for a whole shape class, as a model compiled with dynamic shapes
    is. A finding's script builds its compiled call the same way (oracles.user_calls), so it compiles the same graph.
    """
    described = torch_call(cfg)
    conv = getattr(functional, described.function)
    # Plain values, each its own captured variable (not the description object): dynamo traces captured ints.
    stride, padding, dilation, groups = described.stride, described.padding, described.dilation, described.groups
    pre_pad = None if described.pre_pad is None else list(described.pre_pad)
    if cfg.transposed:
        output_padding = described.output_padding

        def call_transposed(x: Any, w: Any, b: Any) -> Any:
            return conv(x, w, b, stride=stride, padding=padding, output_padding=output_padding, groups=groups,
                        dilation=dilation)

        return call_transposed

    def call(x: Any, w: Any, b: Any) -> Any:
        if pre_pad is not None:
            x = functional.pad(x, pre_pad)
        return conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)

    return call


@dataclass(frozen=True)
class ModuleCall:
    """How an nn module computes a case: the one description of it, which the oracle builds and calls and a finding's
    script spells out. `module` is the class in torch.nn ('Conv2d', 'LazyConvTranspose1d'); a lazy module is made
    without in_channels and infers them (and creates its parameters) on a first call; a transposed module is called
    with output_size=, from which it works out its output_padding itself."""

    module: str
    positional: tuple[Any, ...]  # (in_channels, out_channels, kernel_size), a lazy module's without in_channels
    keywords: tuple[tuple[str, Any], ...]
    pre_pad: tuple[int, ...] | None = None  # F.pad amounts first (asymmetric, cropping or 'same' with a stride)
    output_size: tuple[int, ...] | None = None  # transposed: the output's spatial size, passed to forward()

    @property
    def lazy(self) -> bool:
        """Whether the module infers in_channels on its first call."""
        return self.module.startswith("Lazy")

    def arguments(self) -> str:
        """The constructor's arguments as source."""
        keywords = (f"{name}={value!r}" for name, value in self.keywords)
        return ", ".join([*(repr(value) for value in self.positional), *keywords])


def module_call(cfg: ConvConfig, lazy: bool = False) -> ModuleCall:
    """nn.ConvNd / nn.ConvTransposeNd (or their Lazy forms) for `cfg`: torch's padding argument as F takes it
    ('same', 'valid', one int per dim) after F.pad where torch needs it, the padding mode, output_size= for a
    transposed module."""
    pre_pad, padding = torch_padding_plan(cfg)
    kind = "ConvTranspose" if cfg.transposed else "Conv"
    channels = (cfg.out_channels,) if lazy else (cfg.in_channels, cfg.out_channels)
    name = f"{'Lazy' if lazy else ''}{kind}{cfg.rank}d"
    if cfg.transposed:
        keywords: tuple[tuple[str, Any], ...] = (
            ("stride", cfg.stride), ("padding", padding), ("groups", cfg.groups), ("bias", cfg.bias),
            ("dilation", cfg.dilation),
        )
        return ModuleCall(name, (*channels, cfg.kernel), keywords, output_size=cfg.output_spatial())
    keywords = (("stride", cfg.stride), ("padding", padding), ("dilation", cfg.dilation), ("groups", cfg.groups),
                ("bias", cfg.bias), ("padding_mode", cfg.padding_mode))
    return ModuleCall(name, (*channels, cfg.kernel), keywords, None if pre_pad is None else tuple(pre_pad))


def module_function(cfg: ConvConfig, torch: Any, lazy: bool = False) -> Callable[[Any, Any, Any], Any]:
    """conv(x, w, b) through the module of module_call - the way users get reflect, replicate or circular padding,
    and torch-module's and torch-lazy's whole call. torch.func.functional_call puts w and b in place of the
    module's own parameters (a lazy module's are created by a first call on the same input, as a user's dry run
    creates them)."""
    described = module_call(cfg, lazy)
    factory = getattr(torch.nn, described.module)
    options = {"device": cfg.device, "dtype": getattr(torch, cfg.dtype)}
    keywords = dict(described.keywords)
    # skip_init: no random initialisation of parameters replaced anyway (a lazy module has none to skip yet).
    module = (factory(*described.positional, **keywords, **options) if described.lazy else
              torch.nn.utils.skip_init(factory, *described.positional, **keywords, **options))
    pre_pad = None if described.pre_pad is None else list(described.pre_pad)
    forward_keywords = {} if described.output_size is None else {"output_size": list(described.output_size)}

    def call(x: Any, w: Any, b: Any) -> Any:
        if pre_pad is not None:
            x = torch.nn.functional.pad(x, pre_pad)
        if described.lazy and module.has_uninitialized_params():
            with torch.no_grad():
                module(x)
        parameters = {"weight": w} if b is None else {"weight": w, "bias": b}
        return torch.func.functional_call(module, parameters, (x,), forward_keywords)

    return call


def adjoint_function(cfg: ConvConfig, torch: Any) -> Callable[[Any, Any, Any], Any]:
    """conv_transposeNd(x, w, b) of a transposed `cfg` computed as maintainers define it: the vector-Jacobian
    product of the forward convNd with the same weight, stride, padding, dilation and groups, taken at an input z
    of the transposed output's size with cotangent x. The forward conv of z may reach one window further (when
    output_padding >= stride); its output is cut to x's size first, which leaves the VJP's value as it is.

    Complex data: torch's autograd gives the conjugate transpose (A^H x, its convention for complex gradients),
    while conv_transposeNd is the plain transpose A^T x = conj(A^H conj(x)): both conjugations are applied."""
    described = torch_call(cfg, adjoint=True)
    conv = getattr(torch.nn.functional, described.function)
    stride, padding, dilation, groups = described.stride, described.padding, described.dilation, described.groups
    out_channels, out_spatial = cfg.out_channels, cfg.output_spatial()
    window = tuple(slice(0, n) for n in cfg.spatial)

    def call(x: Any, w: Any, b: Any) -> Any:
        z = torch.zeros((x.shape[0], out_channels, *out_spatial), dtype=x.dtype, device=x.device, requires_grad=True)
        y = conv(z, w, None, stride=stride, padding=padding, dilation=dilation, groups=groups)[(..., *window)]
        if x.is_complex():
            (grad,) = torch.autograd.grad(y, z, grad_outputs=x.conj())
            grad = grad.conj()
        else:
            (grad,) = torch.autograd.grad(y, z, grad_outputs=x)
        return grad if b is None else grad + b.reshape(1, -1, *([1] * len(window)))

    return call


def gradient_of(torch: Any, call: Callable[[Any, Any, Any], Any], inputs: tuple[Any, Any, Any], which: str,
                g: Any) -> Any:
    """The gradient of call(x, w, b) at cotangent g with respect to `which` input ('input', 'weight', 'bias')
    through autograd. Only that input requires grad, so torch's convolution backward computes that one alone."""
    target = inputs[GRADIENTS.index(which)]
    target.requires_grad_(True)
    out = call(*inputs)
    (grad,) = torch.autograd.grad(out, target, grad_outputs=g)
    return grad


class TorchOracle:
    """torch.nn.functional.convNd (nn.ConvNd for non-zero padding modes) on the case's device, under one
    variant's backend settings."""

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
        self._shape_class: tuple[object, ...] | None = None
        self.compile_resets = 0
        self.last_path: str | None = None

    def devices(self) -> tuple[str, ...]:
        """The variant's devices among cpu and (when torch sees a GPU) cuda."""
        seen = ("cpu", "cuda") if self._torch.cuda.is_available() else ("cpu",)
        return tuple(d for d in self.settings.devices if d in seen)

    def run(self, case: ConvCase) -> FloatArray:
        """Run torch's convNd on the case's device and dtype."""
        torch = self._torch
        cfg = case.config
        dtype = getattr(torch, cfg.dtype)

        def tensor(values: FloatArray, dtype: Any = dtype) -> Any:
            return torch.from_numpy(values).to(device=cfg.device, dtype=dtype)

        pre_pad, padding = torch_padding_plan(cfg)
        bias = tensor(case.b) if case.b is not None else None
        x, w = arrange(torch, tensor(case.x), tensor(case.w, getattr(torch, cfg.weight_dtype())), cfg.layout)
        if not self.settings.computes(cfg.op_name):
            raise ValueError(f"{self.name} does not compute {cfg.op_name}")
        if self.settings.adjoint:
            call = adjoint_function(cfg, torch)
        elif cfg.padding_mode == "zeros" and not self.settings.module:
            call = conv_function(cfg, self._functional)
        else:
            call = module_function(cfg, torch, lazy=self.settings.module == "lazy")
        if self.settings.compiled:
            call = self._compiled(call, case)
        with warnings.catch_warnings(), backend_settings(torch, self.settings):
            # The adjoint variant runs a forward conv's backward, not the kernel torch would pick for this call.
            self.last_path = None if self.settings.adjoint else self._select_backend(x, w, bias, pre_pad, padding, cfg)
            # torch warns that 'same' with an even kernel may copy the input: a performance note, not an error.
            warnings.simplefilter("ignore", UserWarning)
            # On the CPU, which oneDNN implementation ran behind the backend: the path reads 'Mkldnn/jit:avx2'.
            with onednn_implementations(torch, enabled=cfg.device == "cpu") as implementations:
                if case.g is not None:
                    out = gradient_of(torch, call, (x, w, bias), cfg.gradient, tensor(case.g))
                else:
                    out = call(x, w, bias)
            if implementations:
                self.last_path = f"{self.last_path or 'unnamed'}/{'+'.join(implementations)}"
        return np.asarray(to_host(torch, out))

    def warm_up(self) -> None:
        """torch-compile: compile and run a tiny conv1d once, so that inductor's one-time start (its imports, the C++
        toolchain checks, the code caches: tens of seconds on a small machine) is not paid inside the first case's
        timeout. Dynamo is reset afterwards: the first real shape class compiles as in a fresh process."""
        if not self.settings.compiled:
            return
        torch = self._torch
        self._forget_across_compilations()
        tiny = torch.ones((1, 1, 4))
        compiled = torch.compile(self._functional.conv1d, fullgraph=True, dynamic=True)
        compiled(tiny, torch.ones((1, 1, 2)))
        torch._dynamo.reset()

    def _select_backend(
        self, x: Any, w: Any, bias: Any, pre_pad: list[int] | None, padding: Any, cfg: ConvConfig
    ) -> str | None:
        """The conv backend torch picks for this call (torch._C._select_conv_backend), when torch tells."""
        select = getattr(self._torch._C, "_select_conv_backend", None)
        if select is None:
            return None
        if pre_pad is not None:
            x = self._functional.pad(x, pre_pad)
        try:
            if isinstance(padding, str):  # the backend choice only needs the resolved numbers
                padding = [lo for lo, _ in cfg.pad_pairs()]
            output_padding = list(cfg.output_padding) if cfg.transposed else [0] * cfg.rank
            backend = select(x, w, bias, list(cfg.stride), list(padding), list(cfg.dilation), cfg.transposed,
                             output_padding, cfg.groups, None)
        except (RuntimeError, TypeError):  # a private function: its signature may change between releases
            return None
        name = str(backend).rsplit(".", maxsplit=1)[-1]
        # torch 2.13's Python enum leaves some values unnamed ('???'): named here as ATen's ConvBackend names them.
        return UNNAMED_CONV_BACKENDS.get(int(backend), f"enum{int(backend)}") if name == "???" else name

    def _forget_across_compilations(self) -> None:
        """Stop dynamo from carrying what it saw into later compilations (see the note on torch-compile above).

        Automatic dynamic turns constants that changed between compilations into symbols, and its profile
        ("local PGO") outlives dynamo.reset(), even on disk: a repro compiled in a fresh process would not see it.
        """
        config = self._torch._dynamo.config
        for flag in ("automatic_dynamic_shapes", "automatic_dynamic_local_pgo", "automatic_dynamic_remote_pgo"):
            if hasattr(config, flag):
                setattr(config, flag, False)

    def _compiled(self, call: Callable[[Any, Any, Any], Any], case: ConvCase) -> Callable[[Any, Any, Any], Any]:
        """torch.compile of `call`, after resetting dynamo when the case starts a new shape class.

        fullgraph: a graph break would run part of the call eagerly and test nothing of inductor; dynamic: the
        sizes are symbols, so a new size within a shape class needs no recompilation.
        """
        cfg = case.config
        # Every constant of the traced call (the padding as torch gets it too: 'same' with stride > 1 becomes an
        # F.pad whose amounts depend on the input size), plus which sizes are 1 (dynamo specialises 0 and 1).
        shape_class = (
            cfg.op, cfg.dtype, cfg.device, cfg.layout, cfg.padding_mode, cfg.bias, cfg.stride, cfg.dilation, cfg.groups,
            str(torch_padding_plan(cfg)), cfg.output_padding,
            tuple(n == 1 for n in case.x.shape + case.w.shape),
        )
        if shape_class != self._shape_class:
            if self._shape_class is None:
                self._forget_across_compilations()
            else:
                self._torch._dynamo.reset()
                self.compile_resets += 1
            self._shape_class = shape_class
        compiled: Callable[[Any, Any, Any], Any] = self._torch.compile(call, fullgraph=True, dynamic=True)
        return compiled
