"""torch's calls as a user writes them (oracles.user_calls): F.convNd / F.conv_transposeNd with every argument
spelled out, the backend flags of its variant as plain assignments, nn.ConvNd for a padding mode, the compiled
closure of torch-compile and the VJP of torch-vjp."""

from __future__ import annotations

from convfuzz.oracles.call_text import UserCall, what_is_called, wrapped
from convfuzz.oracles.torch_oracle import ModuleCall, TorchCall, module_call, torch_call
from convfuzz.oracles.torch_variants import TORCH_VARIANTS, TorchSettings
from convfuzz.strategies.case import COMPLEX_DTYPES, ConvConfig


def _torch_result_lines(cfg: ConvConfig, before: str, call: str) -> tuple[str, str]:
    """The last lines of a torch runner's body: the lines `before` and the expression `call`, as `out`, or its
    gradient through autograd at cotangent G as `grad` (the input it is taken for is marked first); and that
    name."""
    if not cfg.gradient:
        return before + wrapped(f"    out = {call}") + "\n", "out"
    target = {"input": "x", "weight": "w", "bias": "b"}[cfg.gradient]
    return (
        f"    # The gradient with respect to {target} alone at output cotangent g, through autograd.\n"
        f"    {target}.requires_grad_(True)\n"
        f"{before}"
        f"{wrapped(f'    (grad,) = torch.autograd.grad({call}, {target}, grad_outputs=g)')}\n"
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
        f"{wrapped(f'            return F.{call.function}(x, w, b, {keywords})')}\n\n"
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
        f"{wrapped(f'        y = F.{forward.function}(z, w, None, {forward.arguments()})')}\n"
        f"        y = y[(..., *(slice(0, n) for n in {cfg.spatial!r}))]\n"
        f"{pullback}"
        f"        return {result}\n\n"
    )


def _module_lines(call: ModuleCall, device: str, bias: bool) -> str:
    """The module and conv(x, w[, b]) through it, as module_function builds them: the module's parameters are
    replaced by w (and b); a lazy module's first call creates them."""
    factory = f"torch.nn.{call.module}"
    made = (f"{factory}({call.arguments()}, device={device!r}, dtype=dtype)" if call.lazy else
            f"torch.nn.utils.skip_init({factory}, {call.arguments()}, device={device!r}, dtype=dtype)")
    lines = [wrapped(f"    module = {made}"), "", f"    def conv({'x, w, b' if bias else 'x, w'}):"]
    if call.pre_pad is not None:
        lines.append(f"        x = F.pad(x, {list(call.pre_pad)!r})")
    if call.lazy:
        lines += ["        if module.has_uninitialized_params():",
                  "            with torch.no_grad():",
                  "                module(x)  # a first call infers in_channels and creates the parameters"]
    lines.append(f"        parameters = {{'weight': w{', ' + repr('bias') + ': b' if bias else ''}}}")
    extra = "" if call.output_size is None else f", {{'output_size': {list(call.output_size)!r}}}"
    lines.append(f"        return torch.func.functional_call(module, parameters, (x,){extra})")
    return "\n".join(lines) + "\n\n"


def torch_user_call(oracle: str, variant: str, device: str, cfg: ConvConfig) -> UserCall:
    """The call of a torch variant, as a user writes it in a script of their own: backend flags as assignments,
    the layout spelled out, the result widened inline."""
    # conv(x, w, b) passes b on to F.convNd, which takes None for no bias; the module form takes the bias, if any,
    # as a parameter.
    operands = "x, w, b" if cfg.bias else "x, w, None"
    bias_line = f"    b = torch.tensor(B, dtype=dtype, device={device!r})\n" if cfg.bias else ""
    if cfg.gradient:
        bias_line += f"    g = torch.tensor(G, dtype=dtype, device={device!r})\n"
    settings = TORCH_VARIANTS[variant]
    module_lines = ""
    # Through the nn module: the module variants' whole call, and how users get a non-zero padding mode.
    through_module = cfg.padding_mode != "zeros" or bool(settings.module)
    module = module_call(cfg, lazy=settings.module == "lazy") if through_module else None
    if module is not None:
        module_lines = _module_lines(module, device, cfg.bias)
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
    functional = "" if module is not None and module.pre_pad is None else "    import torch.nn.functional as F\n"
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
    what = f"torch.nn.{module.module}" if module is not None and settings.module else "F." + cfg.op
    return UserCall(oracle, cfg, what_is_called(cfg, what), body, result + to_host, result)

