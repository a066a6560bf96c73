"""JAX's other entry points to a convolution, each its own oracle, so that a finding names the one that is wrong.

- 'jax-conv-transpose': jax.lax.conv_transpose(transpose_kernel=True) for the transposed ops. Its conventions are
  its own: torch's (C_in, C_out, *kernel) weight goes in as the forward conv's OI kernel (transpose_kernel swaps and
  flips it), and its padding is applied to the stride-dilated input (the kernel's dilated reach minus torch's pad,
  plus output_padding at the high end). No groups.
- 'jax-general-padding': lax.conv_with_general_padding (NC<spatial>/OI<spatial> only, explicit (low, high) pads, no
  groups): a forward conv as it is, a transposed one as the lhs-dilated conv of the swapped, flipped kernel.
- 'jax-scipy': jax.scipy.signal.correlate(method='direct') of the one input channel with the one kernel, where a
  case is that (batch 1, one channel in and out, stride and dilation 1, zero pads that are its 'valid', 'full' or
  odd-kernel 'same'), the bias added after: torch's conv does not flip the kernel. 'jax-scipy-convolve': the same
  cases through jax.scipy.signal.convolve of the flipped kernel. The FFT method is left out: its rounding is not
  the direct sum's, which the judge's bound describes.

Each computes forward and transposed ops (no gradients, no invalid cases): what a case cannot be written as is sat
out (entry_call returns None).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from convfuzz.oracles.call_text import wrapped
from convfuzz.oracles.lax_conventions import (
    forward_kernel,
    forward_kernel_lines,
    jax_dimension_numbers,
    transposed_padding,
)
from convfuzz.oracles.reference import NUMPY_PAD_MODES
from convfuzz.strategies.case import COMPLEX_DTYPES, ConvConfig

Pairs = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class EntryCall:
    """One entry point's call of a case (a static argument of the jitted function; the script writes the same):
    `keywords` after the two operands, a jnp.pad of the input first (torch's non-zero padding modes), and whether
    the kernel is rearranged into the forward kernel of the transposed conv first (swapped, flipped)."""

    entry: str
    keywords: tuple[tuple[str, Any], ...]
    pre_pad: tuple[Pairs, str] | None = None
    forward_kernel: bool = False
    flipped: bool = False  # the kernel's spatial dims reversed first (convolve flips it back)

    def function(self) -> str:
        """The function as a script names it: 'lax.conv_transpose', 'jax.scipy.signal.correlate'."""
        if self.entry.startswith("scipy_"):
            return f"jax.scipy.signal.{self.entry.removeprefix('scipy_')}"
        return f"lax.{self.entry}"

    def arguments(self) -> str:
        """The keyword arguments as source, precision included."""
        return ", ".join([*(f"{name}={value!r}" for name, value in self.keywords), "precision=lax.Precision.HIGHEST"])


def _scipy_mode(cfg: ConvConfig) -> str | None:
    """The correlate mode whose padding is the case's: 'valid', 'full' or 'same' (odd kernels: scipy centres an even
    kernel one place off torch's 'same'); None where none is."""
    pairs = cfg.pad_pairs()
    if all(pair == (0, 0) for pair in pairs):
        return "valid"
    if all(pair == (k - 1, k - 1) for pair, k in zip(pairs, cfg.kernel, strict=True)):
        return "full"
    if all(k % 2 == 1 and pair == (k // 2, k // 2) for pair, k in zip(pairs, cfg.kernel, strict=True)):
        return "same"
    return None


def _conv_transpose_call(cfg: ConvConfig) -> EntryCall | None:
    """lax.conv_transpose of a transposed op: the weight as the forward conv's OI kernel, transpose_kernel=True."""
    if not cfg.transposed:
        return None
    return EntryCall("conv_transpose", (("strides", cfg.stride), ("padding", transposed_padding(cfg)),
                                        ("rhs_dilation", cfg.dilation),
                                        ("dimension_numbers", jax_dimension_numbers(cfg.rank)),
                                        ("transpose_kernel", True)))


def _general_padding_call(cfg: ConvConfig) -> EntryCall | None:
    """lax.conv_with_general_padding: explicit pads (after a jnp.pad for a non-zero mode); a transposed op as the
    lhs-dilated conv of the forward kernel."""
    entry = "conv_with_general_padding"
    if cfg.transposed:
        return EntryCall(entry, (("window_strides", (1,) * cfg.rank), ("padding", transposed_padding(cfg)),
                                 ("lhs_dilation", cfg.stride), ("rhs_dilation", cfg.dilation)), forward_kernel=True)
    pairs, pre_pad = cfg.pad_pairs(), None
    if cfg.padding_mode != "zeros":
        pre_pad = (((0, 0), (0, 0), *pairs), NUMPY_PAD_MODES[cfg.padding_mode])
        pairs = ((0, 0),) * cfg.rank
    return EntryCall(entry, (("window_strides", cfg.stride), ("padding", pairs), ("lhs_dilation", None),
                             ("rhs_dilation", cfg.dilation)), pre_pad=pre_pad)


def _scipy_call(cfg: ConvConfig, entry: str) -> EntryCall | None:
    """jax.scipy.signal.correlate (or convolve, of the kernel flipped first, as a user porting torch's conv writes
    it) of a one-channel, unit-stride, undilated forward case whose pads are a mode's. Not complex: correlate
    conjugates its second operand, torch's conv does not."""
    one_channel = cfg.batch == 1 and cfg.in_channels == cfg.out_channels == 1
    unit = all(s == 1 for s in cfg.stride) and all(d == 1 for d in cfg.dilation)
    mode = _scipy_mode(cfg)
    if cfg.transposed or not (one_channel and unit) or cfg.padding_mode != "zeros" or cfg.dtype in COMPLEX_DTYPES:
        return None
    flipped = entry == "scipy_convolve"
    return None if mode is None else EntryCall(entry, (("mode", mode), ("method", "direct")), flipped=flipped)


ENTRY_CALLS: dict[str, Callable[[ConvConfig], EntryCall | None]] = {
    "conv_transpose": _conv_transpose_call,
    "conv_with_general_padding": _general_padding_call,
    "scipy_correlate": partial(_scipy_call, entry="scipy_correlate"),
    "scipy_convolve": partial(_scipy_call, entry="scipy_convolve"),
}


def entry_call(cfg: ConvConfig, entry: str) -> EntryCall | None:
    """How `entry` computes `cfg`, or None where the case cannot be written as that call (a gradient, an invalid
    case, batch_group_count and groups are never: none of the three has them all)."""
    if cfg.gradient or cfg.defect or cfg.batch_groups > 1 or cfg.groups > 1:
        return None
    return ENTRY_CALLS[entry](cfg)


def entry_function(x: Any, w: Any, b: Any, *, call: EntryCall) -> Any:
    """The traced call of `call` on x and w (NC<spatial>, torch's weight), the bias added after."""
    import jax.scipy.signal
    from jax import lax
    from jax import numpy as jnp

    keywords = dict(call.keywords)
    if call.pre_pad is not None:
        widths, mode = call.pre_pad
        x = jnp.pad(x, widths, mode=mode)
    kernel = forward_kernel(w, 1) if call.forward_kernel else w
    if call.flipped:
        kernel = jnp.flip(kernel, axis=tuple(range(2, kernel.ndim)))
    if call.entry.startswith("scipy_"):
        function = getattr(jax.scipy.signal, call.entry.removeprefix("scipy_"))
        out = function(x[0, 0], kernel[0, 0], **keywords, precision=lax.Precision.HIGHEST)[None, None]
    else:
        out = getattr(lax, call.entry)(x, kernel, **keywords, precision=lax.Precision.HIGHEST)
    return out if b is None else out + b.reshape((1, -1) + (1,) * (out.ndim - 2))


def entry_lines(cfg: ConvConfig, call: EntryCall, operands: str) -> str:
    """The script's `def conv(...)` for an entry point (indented one level, a blank line after)."""
    lines = [f"    def conv({operands}):"]
    if call.pre_pad is not None:
        widths, mode = call.pre_pad
        lines.append(f"        x = jnp.pad(x, {widths!r}, mode={mode!r})")
    kernel = "w"
    if call.forward_kernel:
        lines += forward_kernel_lines(cfg.rank, 1)
        kernel = "kernel"
    if call.flipped:
        spatial = tuple(range(2, cfg.rank + 2))
        lines.append(f"        kernel = jnp.flip(w, axis={spatial!r})  # convolve flips it back")
        kernel = "kernel"
    if call.entry.startswith("scipy_"):
        lines.append(wrapped(f"        out = {call.function()}(x[0, 0], {kernel}[0, 0], {call.arguments()})"))
        lines.append("        out = out[None, None]  # back to (N, C, *spatial)")
    else:
        lines.append(wrapped(f"        out = {call.function()}(x, {kernel}, {call.arguments()})"))
    bias = f" + b.reshape((1, -1) + (1,) * {cfg.rank})" if cfg.bias else ""
    lines.append(f"        return out{bias}")
    return "\n".join(lines) + "\n\n"

