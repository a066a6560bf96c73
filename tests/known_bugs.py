"""Real discrepancies of the installed frameworks that campaigns in tests may run into, each a committed finding
(see README "Findings"). Tests that assert "no false alarm on correct frameworks" accept exactly these and nothing
else: a finding these predicates do not explain fails the test.
"""

from __future__ import annotations

from fuzz.records import FindingRecord
from oracles.jax_oracle import transposed_padding
from oracles.pinned import split_pin


def _base(suspect: str) -> str:
    return split_pin(suspect)[0]


def xla_negative_low_padding(finding: FindingRecord) -> bool:
    """openxla/xla#48713 (open): XLA:CPU reads outside the input of a convolution whose padding is negative at the
    low end and positive at the high end (garbage or neighbouring values where zeros belong). JAX oracles only;
    the transposed port and the VJP pass such pads to XLA when torch's pad exceeds the kernel's reach."""
    cfg = finding.case.config
    pads = transposed_padding(cfg) if cfg.transposed else cfg.pad_pairs()
    jax_only = all(_base(s).startswith("jax") for s in finding.suspects)
    return jax_only and any(lo < 0 < hi for lo, hi in pads)


def torch_transposed_half_accumulation(finding: FindingRecord) -> bool:
    """torch's CPU transposed kernel (SlowTranspose, also behind conv backward) sums the kernel taps of float16
    and bfloat16 in their own precision: `precision` findings of torch oracles on transposed half cases."""
    cfg = finding.case.config
    torch_only = all(_base(s).startswith("torch") for s in finding.suspects)
    return torch_only and finding.kind == "precision" and cfg.dtype in ("float16", "bfloat16") and cfg.transposed


def nan_leaks_across_groups_or_positions(finding: FindingRecord) -> bool:
    """--nonfinite only: XLA:CPU's float64 grouped convolution spreads a NaN of one group's input into the other
    groups' outputs (finding 7), and torch's oneDNN bfloat16 convolutions spread it to other output positions:
    transposed ones (finding 8) and 1x1 ones, where a stride skips the NaN or the input is channels_last
    (finding 14; also through the metamorphic oracles, whose derived calls meet it)."""
    cfg = finding.case.config
    if finding.kind != "nonfinite":
        return False
    frameworks = {_base(s).split("-")[0] for s in finding.suspects}
    jax_leak = frameworks == {"jax"} and cfg.dtype == "float64" and cfg.groups > 1
    torch_leak = frameworks == {"torch"} and cfg.dtype == "bfloat16"
    return jax_leak or torch_leak


def torch_bf16_channels_last_conv_backward_crash(finding: FindingRecord) -> bool:
    """torch's oneDNN input gradient of a bfloat16 conv2d with a channels_last weight segfaults for some strided,
    dilated shapes (seen through torch-vjp, which computes conv_transpose as that gradient)."""
    cfg = finding.case.config
    return finding.kind == "crash" and set(finding.suspects) <= {"torch-vjp"} and cfg.dtype == "bfloat16" and (
        cfg.layout == "channels_last"
    )


def half_precision_gradient_accumulation(finding: FindingRecord) -> bool:
    """Findings 10 and 11: torch's native CPU backward kernels and JAX's bias-cotangent reduction accumulate float16
    and bfloat16 gradients in their own precision: `precision` findings of gradient cases in half types."""
    cfg = finding.case.config
    frameworks = {_base(s).split("-")[0] for s in finding.suspects}
    return (finding.kind == "precision" and bool(cfg.gradient) and cfg.dtype in ("float16", "bfloat16")
            and frameworks <= {"torch", "jax"})


def torch_bf16_channels_last_3d_one_by_one_crash(finding: FindingRecord) -> bool:
    """Finding 15: torch's oneDNN bfloat16 conv3d with channels_last_3d tensors segfaults on a strided, padded
    kernel of 1x1x1 (finding 4 is the float16 form on another CPU)."""
    cfg = finding.case.config
    torch_only = all(_base(s).startswith("torch") for s in finding.suspects)
    return finding.kind == "crash" and torch_only and cfg.op == "conv3d" and cfg.layout == "channels_last"


def xla_conv_simplifier_abort(finding: FindingRecord) -> bool:
    """Finding 16: XLA:CPU's algebraic simplifier rewrites some lhs-dilated convolutions whose output is one
    element wide in a dim into an invalid convolution and aborts ("Window dimensions do not match RHS shape"),
    any dtype; JAX oracles only (the transposed port and the VJP are lhs-dilated convolutions)."""
    jax_only = all(_base(s).startswith("jax") for s in finding.suspects)
    return finding.kind == "crash" and jax_only and "Window dimensions do not match RHS shape" in finding.message


def unexplained(findings: list[FindingRecord]) -> list[str]:
    """The messages of the findings no known real bug explains."""
    known = (xla_negative_low_padding, torch_transposed_half_accumulation, nan_leaks_across_groups_or_positions,
             torch_bf16_channels_last_conv_backward_crash, half_precision_gradient_accumulation,
             torch_bf16_channels_last_3d_one_by_one_crash, xla_conv_simplifier_abort)
    return [f"{f.id}: {f.message}" for f in findings if not any(explains(f) for explains in known)]
