"""PyTorch as convfuzz knows it (oracles.framework): its variants (oracles.torch_variants) computed by
oracles.torch_oracle, what selects its kernels, its calls as a user writes them (oracles.torch_calls), its tracker.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from convfuzz.oracles.framework import Framework, Variant, probe
from convfuzz.oracles.kernel_facts import gpu_driver
from convfuzz.oracles.torch_variants import TORCH_VARIANTS

if TYPE_CHECKING:
    from convfuzz.oracles.base import Oracle
    from convfuzz.oracles.call_text import UserCall
    from convfuzz.strategies.case import ConvConfig

# ATen's CPU conv backends (ConvBackend). Some need a build or CPU a given machine lacks (NNPACK, XNNPACK's mobile
# path, the ARM Winograd depthwise kernel), so a campaign there never reaches them whatever it draws.
TORCH_CPU_BACKENDS: tuple[str, ...] = (
    "Empty", "Mkldnn", "MkldnnEmpty", "MkldnnTranspose", "NnpackSpatial", "Slow2d", "Slow3d", "SlowDilated2d",
    "SlowDilated3d", "SlowTranspose2d", "SlowTranspose3d", "Winograd3x3Depthwise", "Xnnpack2d",
)


def torch_backends_never_reached(paths: Mapping[str, int]) -> list[str]:
    """torch's CPU conv backends none of `paths` (a torch oracle's: 'BACKEND' or 'BACKEND/oneDNN implementations')
    went through."""
    seen = {path.partition("/")[0] for path in paths}
    return [backend for backend in TORCH_CPU_BACKENDS if backend not in seen]


def _onednn_version(config: str) -> str | None:
    """oneDNN's version in torch's build configuration text ('MKL-DNN v3.12.0'), or None."""
    found = re.search(r"(?:MKL-DNN|oneDNN) v([\d.]+)", config)
    return found.group(1) if found else None


class TorchFramework(Framework):
    """torch.nn.functional's convolutions under each variant's backend settings."""

    name = "torch"
    title = "PyTorch"
    module = "torch"
    packages = ("torch",)
    tracker = "https://github.com/pytorch/pytorch/issues/new"
    path_detail = "oneDNN implementations"
    # torch's own rules: no negative padding=, no 'same' with a stride; and output_padding, which JAX lacks.
    defect_scopes = ("torch",)
    cpu_probes: ClassVar[Mapping[str, str]] = {
        "cpu_capability": "str(torch.backends.cpu.get_cpu_capability())",
        "mkldnn": "bool(torch.backends.mkldnn.is_available())",
        "mkldnn_bf16": "bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())",
        "mkldnn_fp16": "bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())",
        "mkl": "bool(torch.backends.mkl.is_available())",
    }
    gpu_probes: ClassVar[Mapping[str, str]] = {
        "name": "str(torch.cuda.get_device_name(0))",
        "capability": "'%d.%d' % torch.cuda.get_device_capability(0)",
    }
    fact_words: ClassVar[Mapping[str, str]] = {
        "cpu_capability": "torch's CPU capability",
        "mkldnn": "torch's oneDNN (mkldnn) kernels",
        "mkldnn_bf16": "oneDNN bfloat16 support in torch",
        "mkldnn_fp16": "oneDNN float16 support in torch",
        "mkl": "torch's MKL",
    }

    @property
    def variants(self) -> Mapping[str, Variant]:
        """TORCH_VARIANTS."""
        return TORCH_VARIANTS

    def build(self, variant: str) -> Oracle:
        """A TorchOracle of the variant."""
        from convfuzz.oracles.torch_oracle import TorchOracle

        return TorchOracle(variant)

    def facts(self) -> dict[str, Any]:
        """Its CPU dispatch level, oneDNN and MKL, oneDNN's bfloat16/float16 support on this CPU, oneDNN's version,
        and the GPU torch sees (name, compute capability, driver, CUDA runtime, cuDNN)."""
        torch: Any = importlib.import_module("torch")  # Any: several of these probes are untyped in torch's stubs
        found = super().facts()
        config = probe("str(torch.__config__.show())", "torch", torch)  # the build configuration text, or None
        found["mkldnn_version"] = None if config is None else _onednn_version(config)
        with contextlib.suppress(Exception):
            if torch.cuda.is_available():
                found["cuda"] = {
                    **{name: probe(text, "torch", torch) for name, text in self.gpu_probes.items()},
                    "driver": gpu_driver(),
                    "runtime": torch.version.cuda,
                    "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
                }
        return found

    def gpu_facts(self, section: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The 'cuda' part of torch's facts."""
        gpu = section.get("cuda")
        return gpu if isinstance(gpu, Mapping) else None

    def user_call(self, oracle: str, variant: str, device: str, cfg: ConvConfig) -> UserCall | None:
        """F.convNd or F.conv_transposeNd as oracles.torch_calls writes it."""
        from convfuzz.oracles.torch_calls import torch_user_call

        return torch_user_call(oracle, variant, device, cfg)

    def call_name(self, cfg: ConvConfig) -> str:
        """'F.conv2d'."""
        return f"F.{cfg.op}"

    def variant_phrase(self, variant: str) -> str:
        """' under torch.compile', ' (its VJP)', ' through its nn module'."""
        return {"torch-compile": " under torch.compile", "torch-vjp": " (its VJP)",
                "torch-module": " through its nn module", "torch-lazy": " through its Lazy nn module"}.get(variant, "")

    def takes(self, variant: str, config: ConvConfig) -> bool:
        """The framework's rule; the module variants leave out a transposed case whose output_padding is not below
        its stride (torch allows it below the dilation too, but output_size= can only say the stride's range)."""
        if TORCH_VARIANTS[variant].module and config.output_padding_reaches_stride():
            return False
        return super().takes(variant, config)

    def device_check(self, device: str) -> str:
        """torch.cuda.is_available() for a CUDA finding."""
        if device != "cuda":
            return ""
        return "    import torch\n\n    if not torch.cuda.is_available():\n        return 'torch sees no GPU here'\n"

    def paths_never_reached(self, paths: Mapping[str, int]) -> list[str]:
        """ATen's CPU conv backends that no check reached."""
        return torch_backends_never_reached(paths)


TORCH = TorchFramework()
