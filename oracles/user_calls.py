"""Each torch and JAX oracle's call as a user writes it: the source of a function `run_<oracle>()` that computes a
case with numpy and that one framework, every argument spelled out.

A finding's script (fuzz.store.script), its upstream issue and `convfuzz explain` all show this one text. It spells
out the oracles' own description of their call (oracles.torch_oracle.TorchCall, oracles.jax_oracle.LaxCall), so
the call a user reads is the call the oracle made.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from convfuzz.oracles.jax_oracle import JAX_VARIANTS, LaxCall, lax_call
from convfuzz.oracles.pinned import PIN_SEPARATOR, split_pin
from convfuzz.oracles.registry import is_known
from convfuzz.oracles.torch_oracle import TorchCall, torch_call
from convfuzz.oracles.torch_variants import TORCH_VARIANTS, TorchSettings
from convfuzz.strategies.case import COMPLEX_DTYPES, GRADIENTS, ConvConfig


def runner_tensors(cfg: ConvConfig) -> tuple[str, ...]:
    """The tensors a runner of `cfg` takes, in order: X and W, B where the case has a bias, G (the output
    cotangent) for a gradient case."""
    return ("X", "W", *(("B",) if cfg.bias else ()), *(("G",) if cfg.gradient else ()))


def _runner_parameters(cfg: ConvConfig) -> str:
    """Each runner computes the case's globals unless given other tensors of the same shapes (the earlier calls a
    stale-buffer finding needs)."""
    return ", ".join(f"{name}: np.ndarray = {name}" for name in runner_tensors(cfg))


def _wrapped(line: str) -> str:
    """A source line that ends with a call, broken at spaces inside its parentheses to stay readable (about 110
    characters a line, continuation lines indented one level deeper). Nothing may follow the call's closing
    parenthesis: a break there would end the statement."""
    indent = line[: len(line) - len(line.lstrip())]
    return textwrap.fill(line.strip(), width=110, initial_indent=indent, subsequent_indent=indent + "    ",
                         break_long_words=False, break_on_hyphens=False)


def _what(cfg: ConvConfig, call: str) -> str:
    """'F.conv2d', or 'the weight gradient of F.conv2d' for a gradient case."""
    return f"the {cfg.gradient} gradient of {call}" if cfg.gradient else call


def _torch_result_lines(cfg: ConvConfig, before: str, call: str) -> tuple[str, str]:
    """The last lines of a torch runner's body: the lines `before` and the expression `call`, as `out`, or its
    gradient through autograd at cotangent G as `grad` (the input it is taken for is marked first); and that
    name."""
    if not cfg.gradient:
        return before + _wrapped(f"    out = {call}") + "\n", "out"
    target = {"input": "x", "weight": "w", "bias": "b"}[cfg.gradient]
    return (
        f"    # The gradient with respect to {target} alone at output cotangent g, through autograd.\n"
        f"    {target}.requires_grad_(True)\n"
        f"{before}"
        f"{_wrapped(f'    (grad,) = torch.autograd.grad({call}, {target}, grad_outputs=g)')}\n"
    ), "grad"


def _explicit_settings_lines(settings: TorchSettings, device: str) -> str:
    """A torch variant's backend settings as the plain assignments a user writes in a fresh process: only the
    flags that differ from torch's defaults and matter on `device`."""
    lines = []
    if device == "cpu" and not settings.mkldnn:
        lines.append("torch.backends.mkldnn.enabled = False  # no oneDNN kernels")
    if device == "cuda":
        if not settings.cudnn:
            lines.append("torch.backends.cudnn.enabled = False")
        if not settings.tf32:
            lines.append("torch.backends.cudnn.allow_tf32 = False  # float32 convolutions in float32, not TF32")
        if not settings.reduced_reduction:
            lines += [
                f"torch.backends.cuda.matmul.allow_{half}_reduced_precision_reduction = False"
                for half in ("fp16", "bf16")
            ]
    return "".join(f"    {line}\n" for line in lines)


# The memory layouts of strategies.case.LAYOUTS as a user writes them (torch_variants.arrange does the same).
_EXPLICIT_LAYOUTS = {
    # {format} is torch.channels_last for a 2-D conv, torch.channels_last_3d for a 3-D one.
    "channels_last": (
        "    x = x.contiguous(memory_format={format})\n"
        "    w = w.contiguous(memory_format={format})\n"
    ),
    "strided_input": (
        "    # x as every other element of a buffer twice as wide (the gaps hold NaN)\n"
        "    wide = torch.full((*x.shape[:-1], 2 * x.shape[-1]), float('nan'), dtype=x.dtype, device=x.device)\n"
        "    wide[..., ::2] = x\n"
        "    x = wide[..., ::2]\n"
    ),
    "transposed_weight": (
        "    w = w.transpose(0, 1).contiguous().transpose(0, 1)  # same values, dims 0 and 1 swapped in memory\n"
    ),
    "sliced_weight": (
        "    # w as a slice of a buffer one element longer in its last dim (the extra column holds NaN)\n"
        "    longer = torch.full((*w.shape[:-1], w.shape[-1] + 1), float('nan'), dtype=w.dtype, device=w.device)\n"
        "    longer[..., : w.shape[-1]] = w\n"
        "    w = longer[..., : w.shape[-1]]\n"
    ),
}


def runner_name(oracle: str) -> str:
    """The repro's function for one oracle: 'torch-compile@cuda' -> 'run_torch_compile_at_cuda'."""
    return "run_" + re.sub(r"\W", "_", oracle.replace(PIN_SEPARATOR, "_at_"))


def _torch_closure_lines(call: TorchCall) -> str:
    """conv(x, w, b) with the call's parameters captured by a closure, as the oracle holds them: under
    torch.compile(dynamic=True) captured ints are traced as symbols, literals as constants."""
    names = list(call.keywords())
    keywords = ", ".join(f"{n}={n}" for n in names)
    padded = call.pre_pad is not None
    pad = "            x = F.pad(x, pre_pad)\n" if padded else ""
    values = ", ".join(repr(v) for v in call.keywords().values())
    pre_pad = [repr(list(call.pre_pad))] if call.pre_pad is not None else []
    return (
        "    # The parameters are captured by a closure, as convfuzz's oracle holds them (under\n"
        "    # torch.compile(dynamic=True) captured ints are traced as symbols, literals as constants).\n"
        f"    def make_conv({', '.join(['pre_pad'] * padded + names)}):\n"
        "        def conv(x, w, b):\n"
        f"{pad}"
        f"{_wrapped(f'            return F.{call.function}(x, w, b, {keywords})')}\n\n"
        "        return conv\n\n"
        f"    conv = make_conv({', '.join([*pre_pad, values])})\n"
    )


def _torch_literal_call(call: TorchCall, bias: str) -> tuple[str, str]:
    """F.convNd(x, w, `bias`, ...) as a user writes it, every argument a literal: the line that pads x first
    (where torch's padding= cannot say it), and the call."""
    if call.pre_pad is None:
        return "", f"F.{call.function}(x, w, {bias}, {call.arguments()})"
    pad = f"    padded = F.pad(x, {list(call.pre_pad)!r})  # torch's padding= takes no negative or asymmetric pads\n"
    return pad, f"F.{call.function}(padded, w, {bias}, {call.arguments()})"


def _torch_adjoint_lines(cfg: ConvConfig) -> str:
    """conv(x, w, b) of a transposed op as the VJP of the forward F.convNd, as convfuzz's torch-vjp computes it."""
    forward = torch_call(cfg, adjoint=True)
    pullback = (
        "        # Complex data: autograd gives the conjugate transpose; conv_transpose is the plain transpose.\n"
        "        (grad,) = torch.autograd.grad(y, z, grad_outputs=torch.conj(x))\n"
        "        grad = torch.conj(grad)\n"
        if cfg.dtype in COMPLEX_DTYPES else
        "        (grad,) = torch.autograd.grad(y, z, grad_outputs=x)\n"
    )
    result = f"grad + b.reshape(1, -1, *([1] * {cfg.rank}))" if cfg.bias else "grad"
    return (
        "    # conv_transpose as the vector-Jacobian product of the forward conv at an input z of the transposed\n"
        "    # output's size, with cotangent x (the forward output is cut to x's size first).\n"
        f"    def conv({'x, w, b' if cfg.bias else 'x, w'}):\n"
        f"        z = torch.zeros((x.shape[0], {cfg.out_channels}, *{cfg.output_spatial()!r}), dtype=x.dtype, "
        "device=x.device, requires_grad=True)\n"
        f"{_wrapped(f'        y = F.{forward.function}(z, w, None, {forward.arguments()})')}\n"
        f"        y = y[(..., *(slice(0, n) for n in {cfg.spatial!r}))]\n"
        f"{pullback}"
        f"        return {result}\n\n"
    )


def _torch_call(oracle: str, variant: str, device: str, cfg: ConvConfig) -> UserCall:
    """The call of a torch variant, as a user writes it in a script of their own: backend flags as assignments,
    the layout spelled out, the result widened inline."""
    padding = torch_call(cfg).padding
    # conv(x, w, b) passes b on to F.convNd, which takes None for no bias; the module form takes the bias, if any,
    # as a parameter.
    operands = "x, w, b" if cfg.bias else "x, w, None"
    bias_line = f"    b = torch.tensor(B, dtype=dtype, device={device!r})\n" if cfg.bias else ""
    if cfg.gradient:
        bias_line += f"    g = torch.tensor(G, dtype=dtype, device={device!r})\n"
    settings = TORCH_VARIANTS[variant]
    module_lines = ""
    if cfg.padding_mode != "zeros":
        # Through nn.ConvNd, as users get a non-zero padding mode; the module's parameters are replaced by w, b.
        module_lines = (
            f"    module = torch.nn.utils.skip_init(torch.nn.Conv{cfg.rank}d, {cfg.in_channels}, {cfg.out_channels}, "
            f"{cfg.kernel!r}, stride={cfg.stride!r},\n"
            f"        padding={padding!r}, dilation={cfg.dilation!r}, groups={cfg.groups}, bias={cfg.bias}, "
            f"padding_mode={cfg.padding_mode!r}, device={device!r}, dtype=dtype)\n\n"
            f"    def conv({'x, w, b' if cfg.bias else 'x, w'}):\n"
            f"        parameters = {{'weight': w{', ' + repr('bias') + ': b' if cfg.bias else ''}}}\n"
            "        return torch.func.functional_call(module, parameters, (x,))\n\n"
        )
        operands = "x, w, b" if cfg.bias else "x, w"
    call = torch_call(cfg)
    before, called = "", f"conv({operands})"
    if module_lines:
        closure_lines = ""
    elif cfg.transposed and settings.adjoint:
        closure_lines = _torch_adjoint_lines(cfg)
        called = f"conv({'x, w, b' if cfg.bias else 'x, w'})"
    elif settings.compiled:
        # Under torch.compile the closure stays: captured ints are traced as symbols, literals are not.
        closure_lines = _torch_closure_lines(call)
    else:
        closure_lines = ""
        before, called = _torch_literal_call(call, "b" if cfg.bias else "None")
    memory_format = "torch.channels_last_3d" if cfg.rank == 3 else "torch.channels_last"
    layout_line = "" if cfg.layout == "contiguous" else _EXPLICIT_LAYOUTS[cfg.layout].replace("{format}", memory_format)
    compile_line = (
        "    conv = torch.compile(conv, fullgraph=True, dynamic=True)  # inductor, one graph, symbolic sizes\n"
        if settings.compiled else ""
    )
    result_lines, result = _torch_result_lines(cfg, before, called)
    # A complex result may carry a lazy conjugation, which .numpy() refuses: resolved first.
    to_host = (
        ".detach().to(device='cpu', dtype=torch.complex128).resolve_conj().numpy()" if cfg.dtype in COMPLEX_DTYPES
        else ".detach().to(device='cpu', dtype=torch.float64).numpy()"
    )
    functional = "" if module_lines else "    import torch.nn.functional as F\n"
    body = (
        "    import torch\n"
        f"{functional}\n"
        f"    dtype = torch.{cfg.dtype}\n"
        f"    x = torch.tensor(X, dtype=dtype, device={device!r})\n"
        f"    w = torch.tensor(W, dtype=torch.{cfg.weight_dtype()}, device={device!r})\n"
        f"{bias_line}{layout_line}\n"
        f"{module_lines}{closure_lines}"
        f"{compile_line}"
        f"{_explicit_settings_lines(settings, device)}"
        f"{result_lines}"
    )
    return UserCall(oracle, cfg, _what(cfg, "F." + cfg.op), body, result + to_host, result)


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
            f"{_wrapped(f'            out = lax.conv_general_dilated(inputs, w, {call.arguments()})')}\n"
            f"            return out[(..., *(slice(0, n) for n in {cfg.spatial!r}))]\n\n"
            "        _, pullback = jax.vjp(forward, z)\n"
            f"        return pullback(x)[0]{bias_term}\n\n"
        )
    spatial = tuple(range(2, cfg.rank + 2))
    kernel = (
        "        # torch's (C_in, C_out, *kernel) weight as the forward kernel: in and out swapped, flipped.\n"
        f"        kernel = jnp.flip(jnp.swapaxes(w, 0, 1), axis={spatial!r})\n"
        if cfg.groups == 1 else
        "        # torch's (C_in, C_out/groups, *kernel) weight as the forward kernel: in/out swapped per group,\n"
        "        # flipped.\n"
        f"        grouped = w.reshape({cfg.groups}, w.shape[0] // {cfg.groups}, *w.shape[1:])\n"
        f"        kernel = jnp.swapaxes(grouped, 1, 2).reshape(-1, w.shape[0] // {cfg.groups}, *w.shape[2:])\n"
        f"        kernel = jnp.flip(kernel, axis={spatial!r})\n"
    )
    return (
        f"    def conv({operands}):\n"
        f"{kernel}"
        f"{_wrapped(f'        return lax.conv_general_dilated(x, kernel, {call.arguments()})')}{bias_term}\n\n"
    )


def _jax_call(oracle: str, variant: str, device: str, cfg: ConvConfig) -> UserCall:
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
    conv_lines = (
        _jax_transposed_lines(cfg, call, how.adjoint, operands) if cfg.transposed else
        f"    def conv({operands}):\n"
        f"{pad_line}"
        f"{_wrapped(f'        return lax.conv_general_dilated(x, w, {call.arguments()})')}{bias_term}\n\n"
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
    body = (
        "    import jax\n"
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
    return UserCall(oracle, cfg, _what(cfg, "lax.conv_general_dilated"), body, widened, widened)


@dataclass(frozen=True)
class UserCall:
    """One oracle's call of a case as a user writes it: `body`, statements (indented one level) that compute it from
    the tensors X, W (and B, G where the case has them), and `result`, the expression of the result as a float64
    (or complex128) NumPy array after them."""

    oracle: str
    cfg: ConvConfig
    what: str  # what is called, for a docstring: 'F.conv2d', 'the weight gradient of lax.conv_general_dilated'
    body: str
    result: str
    # The result as the framework gives it (torch: the tensor's name), for a snippet to print as it is.
    raw: str

    def runner(self) -> str:
        """The function `def run_<oracle>(X=X, W=W, ...) -> np.ndarray` (its tensors: runner_tensors)."""
        return (
            f"def {runner_name(self.oracle)}({_runner_parameters(self.cfg)}) -> np.ndarray:\n"
            f'    """{self.oracle}: {self.what}."""\n'
            f"{self.body}"
            f"    return {self.result}\n"
        )

    def statements(self) -> tuple[str, str]:
        """The call as top-level statements, for a snippet: its import lines, and the rest, without comment lines
        or blank lines but before a definition and after its body, leaving the result in `out` (torch's as its
        tensor, JAX's as a NumPy array)."""
        lines = textwrap.dedent(self.body).splitlines()
        imports = [line for line in lines if line.startswith(("import ", "from "))]
        kept: list[str] = []
        for line in lines:
            if line in imports or not line.strip() or line.lstrip().startswith("#"):
                continue
            if kept and not line.startswith(" ") and kept[-1].startswith(" "):
                kept.append("")  # a definition's body ends
            if line.startswith(("def ", "@")) and kept and kept[-1] and not kept[-1].startswith("@"):
                kept.append("")
            kept.append(line)
        if self.raw != "out":
            kept.append(f"out = {self.raw}")
        return "\n".join(imports) + "\n", "\n" + "\n".join(kept) + "\n"


def user_call(oracle: str, cfg: ConvConfig) -> UserCall | None:
    """How a user computes a case of `cfg` with the torch or JAX variant `oracle` (pinned or not), needing numpy
    and that framework only, every argument of the call spelled out. None for any other oracle, and for a variant
    that does not compute the op."""
    if not is_known(oracle):
        return None
    variant, pinned = split_pin(oracle)
    device = pinned or cfg.device
    if variant in TORCH_VARIANTS and TORCH_VARIANTS[variant].computes(cfg.op_name) and cfg.batch_groups == 1:
        return _torch_call(oracle, variant, device, cfg)
    if variant in JAX_VARIANTS and JAX_VARIANTS[variant].computes(cfg.op_name):
        return _jax_call(oracle, variant, device, cfg)
    return None


def user_runner(oracle: str, cfg: ConvConfig) -> str | None:
    """user_call's function `def run_<oracle>(X=X, W=W, ...) -> np.ndarray`, or None where there is no user call."""
    call = user_call(oracle, cfg)
    return None if call is None else call.runner()
