"""The torch variants' backend settings, applying them around one call, and the tensor layouts of a case."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TorchSettings:
    """Backend settings of one torch variant (see TORCH_VARIANTS)."""

    devices: tuple[str, ...] = ("cpu", "cuda")
    mkldnn: bool = True  # oneDNN (MKL-DNN) kernels on CPU
    cudnn: bool = True
    tf32: bool = False  # let cuDNN round float32 inputs to TF32 (torch's own default is to allow it)
    # let cuBLAS reduce half-type GEMMs in reduced precision (torch's default; the non-cuDNN CUDA conv is a GEMM)
    reduced_reduction: bool = False
    compiled: bool = False  # through torch.compile (inductor)
    # conv_transposeNd computed as the vector-Jacobian product of convNd (autograd), the identity between them
    adjoint: bool = False
    # through the nn module (nn.Conv2d, nn.ConvTranspose2d with output_size=) or its Lazy form, not F: 'module',
    # 'lazy' or ''
    module: str = ""

    def computes(self, op: str) -> bool:
        """Whether this variant computes `op` ('conv2d', or a gradient 'conv2d.grad_weight'): the adjoint variant
        computes transposed convolutions only (not their gradients), every other variant everything."""
        if self.adjoint:
            return op.startswith("conv_transpose") and ".grad_" not in op
        return True


# Every variant is strict unless its name says otherwise. torch allows TF32 for cuDNN convolutions by default,
# and a float32 result computed from 10-bit mantissas is not a float32 result: 'torch-tf32' is that default,
# judged with the TF32 contract of fuzz.judge.bounds (the '-tf32' suffix selects it). Likewise torch lets cuBLAS
# accumulate float16/bfloat16 GEMMs in reduced precision by default; strict variants turn that off.
TORCH_VARIANTS: dict[str, TorchSettings] = {
    "torch": TorchSettings(),
    "torch-nomkldnn": TorchSettings(devices=("cpu",), mkldnn=False),
    "torch-nocudnn": TorchSettings(devices=("cuda",), cudnn=False),
    "torch-tf32": TorchSettings(devices=("cuda",), tf32=True),
    "torch-compile": TorchSettings(compiled=True),
    "torch-vjp": TorchSettings(adjoint=True),
    "torch-module": TorchSettings(module="module"),
    "torch-lazy": TorchSettings(module="lazy"),
}


@contextlib.contextmanager
def backend_settings(torch: Any, settings: TorchSettings) -> Iterator[None]:
    """Apply `settings` to torch's process-wide backend flags for one call, then restore them."""
    cudnn = torch.backends.cudnn
    # torch >= 2.9 has a per-operation precision switch; older releases only the allow_tf32 flag.
    precision_switch = getattr(getattr(cudnn, "conv", None), "fp32_precision", None)
    # Reading the legacy flag after the new switch was set is refused by newer torch: read only the one in use.
    saved = (torch.backends.mkldnn.enabled, cudnn.enabled, precision_switch)
    saved_tf32 = cudnn.allow_tf32 if precision_switch is None else None
    matmul = torch.backends.cuda.matmul
    reductions = [f"allow_{half}_reduced_precision_reduction" for half in ("fp16", "bf16")]
    saved_reductions = [getattr(matmul, flag) for flag in reductions]
    try:
        torch.backends.mkldnn.enabled = settings.mkldnn
        cudnn.enabled = settings.cudnn
        for flag in reductions:
            setattr(matmul, flag, settings.reduced_reduction)
        if precision_switch is not None:
            cudnn.conv.fp32_precision = "tf32" if settings.tf32 else "ieee"
        else:
            cudnn.allow_tf32 = settings.tf32
        yield
    finally:
        torch.backends.mkldnn.enabled, cudnn.enabled = saved[0], saved[1]
        for flag, value in zip(reductions, saved_reductions, strict=True):
            setattr(matmul, flag, value)
        if precision_switch is not None:
            cudnn.conv.fp32_precision = saved[2]
        else:
            cudnn.allow_tf32 = saved_tf32


def arrange(torch: Any, x: Any, w: Any, layout: str) -> tuple[Any, Any]:
    """x and w with the memory layout a case names (strategies.case.LAYOUTS); their values never change."""
    if layout == "channels_last":
        memory_format = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
        return x.contiguous(memory_format=memory_format), w.contiguous(memory_format=memory_format)
    if layout == "strided_input":
        # Every other element of a buffer twice as wide; the gaps hold NaN, so a dense read shows.
        wide = torch.full((*x.shape[:-1], 2 * x.shape[-1]), float("nan"), dtype=x.dtype, device=x.device)
        wide[..., ::2] = x
        return wide[..., ::2], w
    if layout == "transposed_weight":
        return x, w.transpose(0, 1).contiguous().transpose(0, 1)
    if layout == "sliced_weight":
        longer = torch.full((*w.shape[:-1], w.shape[-1] + 1), float("nan"), dtype=w.dtype, device=w.device)
        longer[..., : w.shape[-1]] = w
        return x, longer[..., : w.shape[-1]]
    return x, w


def to_host(torch: Any, out: Any) -> Any:
    """A torch result as a NumPy array on the host, widened exactly: float64, or complex128 for a complex result."""
    wide = torch.complex128 if out.is_complex() else torch.float64
    return out.detach().to(device="cpu", dtype=wide).resolve_conj().numpy()  # conj() is lazy in torch
