"""JAX's calls as a user writes them (oracles.user_calls): lax.conv_general_dilated with every argument spelled out,
jitted or eager as the variant runs it, the transposed port with its kernel rearranged, jax.vjp for gradients."""

from __future__ import annotations

from convfuzz.oracles.call_text import UserCall, what_is_called, wrapped
from convfuzz.oracles.jax_entry_points import entry_call, entry_lines
from convfuzz.oracles.jax_oracle import JAX_VARIANTS, LaxCall, lax_call
from convfuzz.oracles.lax_conventions import forward_kernel_lines
from convfuzz.strategies.case import COMPLEX_DTYPES, GRADIENTS, ConvConfig


def _jax_transposed_lines(cfg: ConvConfig, call: LaxCall, adjoint: bool, operands: str) -> str:
    """The conv body of a JAX runner for a transposed op: an lhs-dilated conv with the kernel rearranged (as people
    port conv_transposeNd), or (adjoint) jax.vjp of the forward conv as convfuzz's jax-vjp does."""
    bias_term = f" + b.reshape((1, -1) + (1,) * {cfg.rank})" if cfg.bias else ""
    if adjoint:
        return (
            f"    def conv({operands}):\n"
            "        # conv_transpose as jax.vjp of the forward conv at an input z of the transposed output's size.\n"
            f"        z = jnp.zeros((x.shape[0], {cfg.out_channels}, *{cfg.output_spatial()!r}), dtype=x.dtype)\n\n"
            "        def forward(inputs):\n"
            f"{wrapped(f'            out = lax.conv_general_dilated(inputs, w, {call.arguments()})')}\n"
            f"            return out[(..., *(slice(0, n) for n in {cfg.spatial!r}))]\n\n"
            "        _, pullback = jax.vjp(forward, z)\n"
            f"        return pullback(x)[0]{bias_term}\n\n"
        )
    kernel = "".join(line + "\n" for line in forward_kernel_lines(cfg.rank, cfg.groups))
    return (
        f"    def conv({operands}):\n"
        f"{kernel}"
        f"{wrapped(f'        return lax.conv_general_dilated(x, kernel, {call.arguments()})')}{bias_term}\n\n"
    )


def jax_user_call(oracle: str, variant: str, device: str, cfg: ConvConfig) -> UserCall:
    """The call of a JAX variant, the result widened inline."""
    how = JAX_VARIANTS[variant]
    platform = "gpu" if device == "cuda" else "cpu"
    call = lax_call(cfg, how)
    operands = "x, w, b" if cfg.bias else "x, w"
    bias_shape = tuple(-1 if dim == "C" else 1 for dim in call.dimension_numbers[2])
    bias_term = f" + b.reshape({bias_shape!r})" if cfg.bias else ""
    pad_line = ""
    if call.pre_pad is not None:
        # XLA pads with zeros only: the padding mode is applied with jnp.pad first, as convfuzz's oracle does.
        widths, mode = call.pre_pad
        pad_line = f"        x = jnp.pad(x, {widths!r}, mode={mode!r})\n"
    together = ": the conv and the bias add compile together" if cfg.bias else ""
    jit_lines = (
        f"    # Jitted as convfuzz runs it (and as models run it){together}.\n"
        "    @jax.jit\n"
        if how.jitted else "    # Eager, op by op (not jitted), as convfuzz's jax-eager runs it.\n"
    )
    entry = entry_call(cfg, how.entry) if how.entry else None
    conv_lines = (
        entry_lines(cfg, entry, operands) if entry is not None else
        _jax_transposed_lines(cfg, call, how.adjoint, operands) if cfg.transposed else
        f"    def conv({operands}):\n"
        f"{pad_line}"
        f"{wrapped(f'        return lax.conv_general_dilated(x, w, {call.arguments()})')}{bias_term}\n\n"
    )
    x_values, w_values, output = "X", "W", f"conv({operands})"
    if cfg.gradient:
        # jax.vjp of the conv at cotangent g, as a training step gets it; jitted (or not) the same way.
        conv_lines += (
            f"{jit_lines}"
            f"    def gradient({operands}, g):\n"
            f"        _, pullback = jax.vjp(conv, {operands})\n"
            f"        return pullback(g)[{GRADIENTS.index(cfg.gradient)}]  # d/d{cfg.gradient}\n\n"
        )
        jit_lines = ""
        output = f"gradient({operands}, g)"
    result = output
    cotangent = "G"
    if how.channels_last:
        # The layouts JAX models use: N<spatial>C input, <spatial>IO weight; the result is moved back to NC<spatial>.
        x_values, w_values = "np.moveaxis(X, 1, -1)", f"np.transpose(W, {(*range(2, cfg.rank + 2), 1, 0)!r})"
        cotangent = "np.moveaxis(G, 1, -1)"
        if cfg.gradient == "weight":
            result = f"np.transpose({result}, {(cfg.rank + 1, cfg.rank, *range(cfg.rank))!r})"
        elif cfg.gradient != "bias":
            result = f"np.moveaxis({result}, -1, 1)"
    b_line = f"    b = jax.device_put(np.asarray(B, dtype=jnp.{cfg.dtype}), device)\n" if cfg.bias else ""
    g_line = (
        f"    g = jax.device_put(np.asarray({cotangent}, dtype=jnp.{cfg.dtype}), device)\n" if cfg.gradient else ""
    )
    wide = "np.complex128" if cfg.dtype in COMPLEX_DTYPES else "np.float64"
    # 64-bit types exist in JAX only with x64 on; a float32 or half case runs as a user's default JAX runs it.
    x64 = "\n    jax.config.update('jax_enable_x64', True)\n" if cfg.dtype in ("float64", "complex128") else ""
    scipy = "    import jax.scipy.signal\n" if entry is not None and entry.entry.startswith("scipy_") else ""
    body = (
        "    import jax\n"
        f"{scipy}"
        f"{x64}"
        "    import jax.numpy as jnp\n"
        "    from jax import lax\n\n"
        f"{jit_lines}"
        f"{conv_lines}"
        f"    device = jax.devices({platform!r})[0]\n"
        f"    x = jax.device_put(np.asarray({x_values}, dtype=jnp.{cfg.dtype}), device)\n"
        f"    w = jax.device_put(np.asarray({w_values}, dtype=jnp.{cfg.weight_dtype()}), device)\n"
        f"{b_line}"
        f"{g_line}"
    )
    widened = f"np.asarray({result}).astype({wide})"
    what = "lax.conv_general_dilated" if entry is None else entry.function()
    return UserCall(oracle, cfg, what_is_called(cfg, what), body, widened, widened)

