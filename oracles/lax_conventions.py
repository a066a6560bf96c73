"""torch's convolution in lax's terms, shared by the JAX oracle and JAX's other entry points: the dimension numbers
of torch's layouts, the padding that makes a transposed conv from an lhs-dilated one, and torch's transposed weight
as the forward kernel of that conv (and that as a script writes it)."""

from __future__ import annotations

from typing import Any

from convfuzz.strategies.case import ConvConfig


def transposed_padding(config: ConvConfig) -> tuple[tuple[int, int], ...]:
    """lax.conv_general_dilated's padding that makes a transposed conv of `config` from its input dilated by the
    stride (lhs_dilation) and the flipped kernel: the dilated kernel's reach minus torch's pad on each side, plus
    output_padding at the high end. Negative where torch's pad exceeds the reach (XLA then crops)."""
    return tuple(
        (d * (k - 1) - lo, d * (k - 1) - hi + extra)
        for k, d, (lo, hi), extra in zip(
            config.kernel, config.dilation, config.pad_pairs(), config.output_padding, strict=True
        )
    )


def jax_dimension_numbers(rank: int, channels_last: bool = False) -> tuple[str, str, str]:
    """Channels-first layouts as torch uses them, ('NCHW', 'OIHW', 'NCHW') for rank 2; or with `channels_last`
    the layouts JAX models (Flax) use, ('NHWC', 'HWIO', 'NHWC')."""
    spatial = "DHW"[-rank:]
    if channels_last:
        return (f"N{spatial}C", f"{spatial}IO", f"N{spatial}C")
    return (f"NC{spatial}", f"OI{spatial}", f"NC{spatial}")


def forward_kernel(w: Any, groups: int) -> Any:
    """torch's transposed weight (C_in, C_out/groups, *kernel) as the forward kernel (C_out, C_in/groups, *kernel)
    of the equivalent lhs-dilated convolution: in and out swapped within each group, every spatial dim flipped."""
    from jax import numpy as jnp

    c_in, per_group_out, *kernel = w.shape
    grouped = w.reshape(groups, c_in // groups, per_group_out, *kernel)
    swapped = jnp.swapaxes(grouped, 1, 2).reshape(groups * per_group_out, c_in // groups, *kernel)
    return jnp.flip(swapped, axis=tuple(range(2, swapped.ndim)))


def forward_kernel_lines(rank: int, groups: int) -> list[str]:
    """forward_kernel as a script writes it inside conv() (indented two levels): `kernel` from `w`."""
    spatial = tuple(range(2, rank + 2))
    if groups == 1:
        return ["        # torch's (C_in, C_out, *kernel) weight as the forward kernel: in and out swapped, flipped.",
                f"        kernel = jnp.flip(jnp.swapaxes(w, 0, 1), axis={spatial!r})"]
    return [
        "        # torch's (C_in, C_out/groups, *kernel) weight as the forward kernel: in/out swapped per group,",
        "        # flipped.",
        f"        grouped = w.reshape({groups}, w.shape[0] // {groups}, *w.shape[1:])",
        f"        kernel = jnp.swapaxes(grouped, 1, 2).reshape(-1, w.shape[0] // {groups}, *w.shape[2:])",
        f"        kernel = jnp.flip(kernel, axis={spatial!r})",
    ]
