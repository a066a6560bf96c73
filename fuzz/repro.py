"""Standalone repro scripts: a finding as a file that needs only torch/jax/numpy and exits 1 while it reproduces.

The script carries the case as literals, calls each framework the way a user would, and decides with the very
same reference, bounds and consensus code the engine uses: their source is inlined from the modules below,
which are written to be inlinable (NumPy and standard library only).
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from types import ModuleType

import numpy as np

from fuzz import bounds, consensus, decide
from fuzz.decide import REFERENCE
from fuzz.records import FindingRecord
from oracles import kernel_facts, reference, reference_gradients, torch_variants
from oracles.jax_oracle import (
    HALF_TYPES,
    JAX_VARIANTS,
    jax_dimension_numbers,
    jax_padding,
    spatial_pad_widths,
    transposed_padding,
)
from oracles.metamorphic import split_metamorphic
from oracles.pinned import PIN_SEPARATOR, split_pin
from oracles.reference import NUMPY_PAD_MODES
from oracles.registry import is_known, suspect_device
from oracles.torch_oracle import torch_padding_plan
from oracles.torch_variants import TORCH_VARIANTS, TorchSettings
from strategies.case import COMPLEX_DTYPES, GRADIENTS, ConvConfig

INLINED_MODULES: tuple[ModuleType, ...] = (
    reference, reference_gradients, bounds, consensus, decide, torch_variants, kernel_facts
)
_PROJECT_PACKAGES = ("fuzz", "oracles", "strategies")


def inline_source(module: ModuleType) -> str:
    """A module's source without its docstring, `from __future__` line and imports of project modules."""
    tree = ast.parse(inspect.getsource(module))
    lines = inspect.getsource(module).splitlines()
    drop: set[int] = set()
    for node in tree.body:
        is_docstring = isinstance(node, ast.Expr) and isinstance(getattr(node, "value", None), ast.Constant)
        is_future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        is_project = isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in _PROJECT_PACKAGES
        if (is_docstring and node is tree.body[0]) or is_future or is_project:
            end = node.end_lineno or node.lineno
            drop.update(range(node.lineno - 1, end))
    kept = [line for i, line in enumerate(lines) if i not in drop]
    return f"# ---- inlined from convfuzz {module.__name__} ----\n" + "\n".join(kept).strip() + "\n"


def array_literal(values: np.ndarray) -> str:
    """np.array([...]) with values that round-trip exactly, wrapped for reading; complex values as
    complex_array(real parts, imaginary parts), a helper every script defines."""
    if np.iscomplexobj(values):
        real, imag = array_literal(np.real(values)), array_literal(np.imag(values))
        return f"complex_array(\n{real},\n{imag},\n)"
    # repr gives 'nan' / 'inf' for the non-finite values of a --nonfinite case: spelled as NumPy constants.
    special = {"nan": "np.nan", "inf": "np.inf", "-inf": "-np.inf"}
    body = ", ".join(special.get(repr(float(v)), repr(float(v))) for v in values.ravel())
    wrapped = textwrap.fill(body, width=108, initial_indent="    ", subsequent_indent="    ")
    return f"np.array([\n{wrapped}\n]).reshape({tuple(values.shape)!r})"


# Every runner computes the case's globals X, W, B (and a gradient case's cotangent G) unless given other tensors
# of the same shapes (the earlier calls a stale-buffer finding needs).
RUNNER_PARAMETERS = "X: np.ndarray = X, W: np.ndarray = W, B: np.ndarray | None = B, G: np.ndarray | None = G"


def optional_literal(values: np.ndarray | None) -> str:
    """array_literal of an optional tensor (a missing bias or cotangent is None)."""
    return "None" if values is None else array_literal(values)


def _preceding_literal(record: FindingRecord) -> str:
    """The PRECEDING list of a script: one (x, w, b, g) tuple of array literals per earlier call."""
    if not record.preceding:
        return "[]"
    calls = [
        f"({array_literal(c.x)}, {array_literal(c.w)}, {optional_literal(c.b)}, {optional_literal(c.g)})"
        for c in record.preceding
    ]
    return "[\n" + ",\n".join(calls) + ",\n]"


def _what(cfg: ConvConfig, call: str) -> str:
    """'F.conv2d', or 'the weight gradient of F.conv2d' for a gradient case."""
    return f"the {cfg.gradient} gradient of {call}" if cfg.gradient else call


def _torch_result_lines(
    cfg: ConvConfig, bias: str, indent: str = "        ", to_host: str = "to_host(torch, {})"
) -> str:
    """The last lines of a torch runner: the output, or the gradient through autograd at cotangent G (the call
    lines indented by `indent`; `to_host` formats the expression that brings the result back as NumPy)."""
    if not cfg.gradient:
        return (
            f"{indent}out = conv(x, w, {bias})\n"
            f"    return {to_host.format('out')}\n"
        )
    target = {"input": "x", "weight": "w", "bias": "b"}[cfg.gradient]
    return (
        f"{indent}# The gradient with respect to {target} alone at output cotangent g, through autograd.\n"
        f"{indent}{target}.requires_grad_(True)\n"
        f"{indent}(grad,) = torch.autograd.grad(conv(x, w, {bias}), {target}, grad_outputs=g)\n"
        f"    return {to_host.format('grad')}\n"
    )


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
    "channels_last": (
        "    memory_format = torch.channels_last if x.dim() == 4 else torch.channels_last_3d\n"
        "    x, w = x.contiguous(memory_format=memory_format), w.contiguous(memory_format=memory_format)\n"
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


def _torch_transposed_lines(cfg: ConvConfig, adjoint: bool, explicit: bool = False) -> str:
    """The conv(x, w, b) of a torch runner for a transposed op: F.conv_transposeNd, or (adjoint) the VJP of
    F.convNd as convfuzz's torch-vjp computes it."""
    padding = tuple(lo for lo, _ in cfg.pad_pairs())
    if adjoint:
        return (
            "    # conv_transpose as the vector-Jacobian product of the forward conv at an input z of the transposed\n"
            "    # output's size, with cotangent x (the forward output is cut to x's size first).\n"
            "    def conv(x, w, b):\n"
            f"        z = torch.zeros((x.shape[0], {cfg.out_channels}, *{cfg.output_spatial()!r}), dtype=x.dtype, "
            "device=x.device, requires_grad=True)\n"
            f"        y = F.conv{cfg.rank}d(z, w, None, stride={cfg.stride!r}, padding={padding!r}, "
            f"dilation={cfg.dilation!r}, groups={cfg.groups})\n"
            f"        y = y[(..., *(slice(0, n) for n in {cfg.spatial!r}))]\n"
            "        # Complex data: autograd gives the conjugate transpose; conv_transpose is the plain transpose.\n"
            "        conjugate = torch.conj if x.is_complex() else (lambda t: t)\n"
            "        (grad,) = torch.autograd.grad(y, z, grad_outputs=conjugate(x))\n"
            "        grad = conjugate(grad)\n"
            f"        return grad if b is None else grad + b.reshape(1, -1, *([1] * {cfg.rank}))\n\n"
        )
    if explicit:
        return (
            "    def conv(x, w, b):\n"
            f"        return F.{cfg.op}(x, w, b, stride={cfg.stride!r}, padding={padding!r}, "
            f"output_padding={cfg.output_padding!r},\n"
            f"            groups={cfg.groups}, dilation={cfg.dilation!r})\n\n"
        )
    return (
        "    # The parameters are captured by a closure, as convfuzz's oracle holds them.\n"
        "    def make_conv(stride, padding, output_padding, groups, dilation):\n"
        "        def conv(x, w, b):\n"
        f"            return F.{cfg.op}(x, w, b, stride=stride, padding=padding, output_padding=output_padding,\n"
        "                groups=groups, dilation=dilation)\n\n"
        "        return conv\n\n"
        f"    conv = make_conv({cfg.stride!r}, {padding!r}, {cfg.output_padding!r}, {cfg.groups}, {cfg.dilation!r})\n"
    )


def _torch_runner(oracle: str, variant: str, device: str, record: FindingRecord, explicit: bool = False) -> str:
    """The runner of a torch variant. `explicit`: written as a user would in a script of its own, with no
    inlined convfuzz helpers (backend flags as assignments, the layout spelled out, the result widened inline)."""
    cfg = record.case.config
    pre_pad, padding = torch_padding_plan(cfg)
    bias = "b" if cfg.bias else "None"
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
            "    def conv(x, w, b):\n"
            "        parameters = {'weight': w} if b is None else {'weight': w, 'bias': b}\n"
            "        return torch.func.functional_call(module, parameters, (x,))\n\n"
        )
    closure_lines = (
        "    # The parameters are captured by a closure, as convfuzz's oracle holds them (under\n"
        "    # torch.compile(dynamic=True) captured ints are traced as symbols, literals as constants).\n"
        "    def make_conv(pre_pad, stride, padding, dilation, groups):\n"
        "        def conv(x, w, b):\n"
        "            if pre_pad is not None:\n"
        "                x = F.pad(x, pre_pad)\n"
        f"            return F.{cfg.op}(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)\n\n"
        "        return conv\n\n"
        f"    conv = make_conv({pre_pad!r}, {cfg.stride!r}, {padding!r}, {cfg.dilation!r}, {cfg.groups})\n"
    )
    if explicit and not settings.compiled:
        # Without torch.compile, how the ints are held makes no difference: the call as users write it.
        pad_line = (
            f"        x = F.pad(x, {pre_pad!r})  # torch's padding= takes no negative or asymmetric pads\n"
            if pre_pad is not None else ""
        )
        closure_lines = (
            "    def conv(x, w, b):\n"
            f"{pad_line}"
            f"        return F.{cfg.op}(x, w, b, stride={cfg.stride!r}, padding={padding!r}, "
            f"dilation={cfg.dilation!r}, groups={cfg.groups})\n\n"
        )
    if cfg.transposed:
        # Under torch.compile the closure stays (captured ints are traced as symbols, literals are not).
        closure_lines = _torch_transposed_lines(cfg, settings.adjoint, explicit and not settings.compiled)
    layout_line = (
        "" if cfg.layout == "contiguous" else _EXPLICIT_LAYOUTS[cfg.layout] if explicit else
        f"    x, w = arrange(torch, x, w, {cfg.layout!r})  # same values, this memory layout\n"
    )
    compile_line = (
        "    conv = torch.compile(conv, fullgraph=True, dynamic=True)  # inductor, one graph, symbolic sizes\n"
        if settings.compiled else ""
    )
    if explicit:
        wide = "torch.complex128" if cfg.dtype in COMPLEX_DTYPES else "torch.float64"
        host = f"{{}}.detach().to(device='cpu', dtype={wide}).resolve_conj().numpy()"
        call_lines = _explicit_settings_lines(settings, device) + _torch_result_lines(cfg, bias, "    ", host)
    else:
        call_lines = (
            f"    with backend_settings(torch, TORCH_VARIANTS[{variant!r}]):\n" + _torch_result_lines(cfg, bias)
        )
    described = "" if explicit else f" with the backend settings {settings}"
    return (
        f"def {runner_name(oracle)}({RUNNER_PARAMETERS}) -> np.ndarray:\n"
        f'    """{oracle}: {_what(cfg, "F." + cfg.op)}{described}."""\n'
        "    import torch\n"
        "    import torch.nn.functional as F\n\n"
        f"    dtype = torch.{cfg.dtype}\n"
        f"    x = torch.tensor(X, dtype=dtype, device={device!r})\n"
        f"    w = torch.tensor(W, dtype=torch.{cfg.weight_dtype()}, device={device!r})\n"
        f"{bias_line}{layout_line}\n"
        f"{module_lines or closure_lines}"
        f"{compile_line}"
        f"{call_lines}"
    )


def _jax_transposed_lines(cfg: ConvConfig, adjoint: bool) -> str:
    """The conv(x, w, b) body of a JAX runner for a transposed op: an lhs-dilated conv with the kernel rearranged
    (as people port conv_transposeNd), or (adjoint) jax.vjp of the forward conv as convfuzz's jax-vjp does."""
    bias_term = f" + b.reshape((1, -1) + (1,) * {cfg.rank})" if cfg.bias else ""
    if adjoint:
        return (
            "    def conv(x, w, b):\n"
            "        # conv_transpose as jax.vjp of the forward conv at an input z of the transposed output's size.\n"
            f"        z = jnp.zeros((x.shape[0], {cfg.out_channels}, *{cfg.output_spatial()!r}), dtype=x.dtype)\n\n"
            "        def forward(inputs):\n"
            f"            out = lax.conv_general_dilated(inputs, w, window_strides={cfg.stride!r}, "
            f"padding={cfg.pad_pairs()!r},\n"
            f"                rhs_dilation={cfg.dilation!r}, dimension_numbers={jax_dimension_numbers(cfg.rank)!r},\n"
            f"                feature_group_count={cfg.groups}, precision=lax.Precision.HIGHEST)\n"
            f"            return out[(..., *(slice(0, n) for n in {cfg.spatial!r}))]\n\n"
            "        _, pullback = jax.vjp(forward, z)\n"
            f"        return pullback(x)[0]{bias_term}\n\n"
        )
    return (
        "    def conv(x, w, b):\n"
        "        # torch's (C_in, C_out/groups, *kernel) weight as the forward kernel: in/out swapped per group,\n"
        "        # flipped.\n"
        f"        grouped = w.reshape({cfg.groups}, w.shape[0] // {cfg.groups}, *w.shape[1:])\n"
        "        kernel = jnp.swapaxes(grouped, 1, 2).reshape(-1, w.shape[0] // "
        f"{cfg.groups}, *w.shape[2:])\n"
        "        kernel = jnp.flip(kernel, axis=tuple(range(2, kernel.ndim)))\n"
        f"        return lax.conv_general_dilated(x, kernel, window_strides={(1,) * cfg.rank!r}, "
        f"padding={transposed_padding(cfg)!r},\n"
        f"            lhs_dilation={cfg.stride!r}, rhs_dilation={cfg.dilation!r}, "
        f"dimension_numbers={jax_dimension_numbers(cfg.rank)!r},\n"
        f"            feature_group_count={cfg.groups}, precision=lax.Precision.HIGHEST){bias_term}\n\n"
    )


def _jax_runner(oracle: str, variant: str, device: str, record: FindingRecord, explicit: bool = False) -> str:
    """The runner of a JAX variant. `explicit`: with no inlined convfuzz helper (the result widened inline)."""
    cfg = record.case.config
    how = JAX_VARIANTS[variant]
    platform = "gpu" if device == "cuda" else "cpu"
    numbers = jax_dimension_numbers(cfg.rank, how.channels_last)
    bias_shape = tuple(-1 if dim == "C" else 1 for dim in numbers[2])
    bias_term = f" + b.reshape({bias_shape!r})" if cfg.bias else ""
    padding = jax_padding(cfg)
    pad_line = ""
    if cfg.padding_mode != "zeros":
        # XLA pads with zeros only: the padding mode is applied with jnp.pad first, as convfuzz's oracle does.
        widths = spatial_pad_widths(numbers[0], cfg.pad_pairs())  # non-zero modes come with explicit pads
        pad_line = f"        x = jnp.pad(x, {widths!r}, mode={NUMPY_PAD_MODES[cfg.padding_mode]!r})\n"
        padding = "VALID"
    preferred = ", preferred_element_type=jnp.float32" if how.wide_output and cfg.dtype in HALF_TYPES else ""
    batch_groups = f", batch_group_count={cfg.batch_groups}" if cfg.batch_groups > 1 else ""
    jit_lines = (
        "    # Jitted as convfuzz runs it (and as models run it): the conv and the bias add compile together.\n"
        "    @jax.jit\n"
        if how.jitted else "    # Eager, op by op (not jitted), as convfuzz's jax-eager runs it.\n"
    )
    conv_lines = (
        _jax_transposed_lines(cfg, how.adjoint) if cfg.transposed else
        "    def conv(x, w, b):\n"
        f"{pad_line}"
        f"        return lax.conv_general_dilated(x, w, window_strides={cfg.stride!r}, padding={padding!r},\n"
        f"            rhs_dilation={cfg.dilation!r}, dimension_numbers={numbers!r},\n"
        f"            feature_group_count={cfg.groups}{batch_groups}, precision=lax.Precision.HIGHEST{preferred})"
        f"{bias_term}\n\n"
    )
    inputs, output = "X, W", "conv(x, w, b)"
    if cfg.gradient:
        # jax.vjp of the conv at cotangent g, as a training step gets it; jitted (or not) the same way.
        conv_lines += (
            f"{jit_lines}"
            "    def gradient(x, w, b, g):\n"
            "        _, pullback = jax.vjp(conv, x, w, b)\n"
            f"        return pullback(g)[{GRADIENTS.index(cfg.gradient)}]  # d/d{cfg.gradient}\n\n"
        )
        jit_lines = ""
        output = "gradient(x, w, b, g)"
    result = f"np.asarray({output})"
    cotangent = "G"
    if how.channels_last:
        # The layouts JAX models use: N<spatial>C input, <spatial>IO weight; the result is moved back to NC<spatial>.
        inputs = f"np.moveaxis(X, 1, -1), np.transpose(W, {(*range(2, cfg.rank + 2), 1, 0)!r})"
        cotangent = "np.moveaxis(G, 1, -1)"
        if cfg.gradient == "weight":
            result = f"np.transpose({result}, {(cfg.rank + 1, cfg.rank, *range(cfg.rank))!r})"
        elif cfg.gradient != "bias":
            result = f"np.moveaxis({result}, -1, 1)"
    g_line = (
        f"    g = jax.device_put(np.asarray({cotangent}, dtype=jnp.{cfg.dtype}), device)\n" if cfg.gradient else ""
    )
    wide = "np.complex128" if cfg.dtype in COMPLEX_DTYPES else "np.float64"
    widen = f"np.asarray({{}}).astype({wide})" if explicit else "widened(np.asarray({}))"
    return (
        f"def {runner_name(oracle)}({RUNNER_PARAMETERS}) -> np.ndarray:\n"
        f'    """{oracle}: {_what(cfg, "lax.conv_general_dilated")}."""\n'
        "    import jax\n\n"
        "    jax.config.update('jax_enable_x64', True)\n"
        "    import jax.numpy as jnp\n"
        "    from jax import lax\n\n"
        f"{jit_lines}"
        f"{conv_lines}"
        f"    device = jax.devices({platform!r})[0]\n"
        f"    x_values, w_values = {inputs}\n"
        f"    x = jax.device_put(np.asarray(x_values, dtype=jnp.{cfg.dtype}), device)\n"
        f"    w = jax.device_put(np.asarray(w_values, dtype=jnp.{cfg.weight_dtype()}), device)\n"
        f"    b = None if B is None else jax.device_put(np.asarray(B, dtype=jnp.{cfg.dtype}), device)\n"
        f"{g_line}"
        f"    return {widen.format(result)}\n"
    )


def user_runner(oracle: str, record: FindingRecord) -> str | None:
    """The function a user would write to compute `record`'s case with the torch or JAX variant `oracle` (pinned
    or not): `def run_<oracle>(X=X, W=W, B=B, G=G) -> np.ndarray`, needing numpy and that framework only, every
    argument of the call spelled out. None for any other oracle, and for a variant that does not compute the op."""
    if not is_known(oracle):
        return None
    variant, pinned = split_pin(oracle)
    device = pinned or record.case.config.device
    op = record.case.config.op_name
    if variant in TORCH_VARIANTS and TORCH_VARIANTS[variant].computes(op) and record.case.config.batch_groups == 1:
        return _torch_runner(oracle, variant, device, record, explicit=True)
    if variant in JAX_VARIANTS and JAX_VARIANTS[variant].computes(op):
        return _jax_runner(oracle, variant, device, record, explicit=True)
    return None


def _reference_runner(oracle: str, variant: str, device: str, record: FindingRecord) -> str:
    return (
        f"def {runner_name(oracle)}({RUNNER_PARAMETERS}) -> np.ndarray:\n"
        "    return reference(X, W, B, G)\n"
    )


def _reference_call(cfg: ConvConfig) -> str:
    """The inlined float64 reference call that computes what `cfg` computes, from x, w, b and g."""
    if cfg.gradient == "bias":
        return "bias_gradient(g)"
    if cfg.gradient and cfg.transposed:
        return (
            "conv_transpose_input_gradient(g, w, x.shape, STRIDE, PADS, DILATION, GROUPS)" if cfg.gradient == "input"
            else "conv_transpose_weight_gradient(x, g, w.shape[2:], STRIDE, PADS, DILATION, GROUPS)"
        )
    if cfg.gradient:
        return (
            "conv_input_gradient(g, w, x.shape, STRIDE, PADS, DILATION, GROUPS, PADDING_MODE)"
            if cfg.gradient == "input"
            else "conv_weight_gradient(x, g, w.shape[2:], STRIDE, PADS, DILATION, GROUPS, PADDING_MODE)"
        )
    return (
        "conv_transpose_reference(x, w, b, STRIDE, PADS, OUTPUT_PADDING, DILATION, GROUPS)" if cfg.transposed
        else f"batch_grouped_reference(x, w, b, STRIDE, PADS, DILATION, {cfg.batch_groups})" if cfg.batch_groups > 1
        else "conv_reference(x, w, b, STRIDE, PADS, DILATION, GROUPS, PADDING_MODE)"
    )


def _reference_function(cfg: ConvConfig) -> str:
    """The script's reference(x, w, b, g): the inlined float64 reference of what the case computes."""
    return (
        "def reference(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, g: np.ndarray | None) -> np.ndarray:\n"
        f'    """The float64 reference {cfg.op_name} of this case."""\n'
        "    with np.errstate(invalid='ignore'):  # inputs with inf/nan follow IEEE arithmetic\n"
        f"        return {_reference_call(cfg)}\n\n\n"
    )


def _relation_runner(oracle: str, base: str, relation: str, record: FindingRecord) -> str | None:
    """A metamorphic oracle whose relation keeps the case's parameters, as calls of the base's runner (batchsplit:
    one sample at a time; linear / linearw: the input's / weight's even and odd halves, the bias once). None for
    the others, whose derived calls need other parameters than the script's."""
    if relation == "batchsplit":
        body = (
            "    if len(X) == 0:\n"
            f"        return {runner_name(base)}(X, W, B, G)\n"
            f"    return np.concatenate([{runner_name(base)}(X[i:i + 1], W, B, G) for i in range(len(X))])\n"
        )
    elif relation in ("linear", "linearw"):
        split, kept = ("X", "W") if relation == "linear" else ("W", "X")
        halves = [f"np.where(even, {split}, 0.0)", f"np.where(even, 0.0, {split})"]
        first, second = ((h, kept) if relation == "linear" else (kept, h) for h in halves)
        body = (
            f"    even = (np.arange({split}.size) % 2 == 0).reshape({split}.shape)\n"
            "    no_bias = None if B is None else np.zeros_like(B)  # the bias once; zeros add nothing\n"
            f"    return {runner_name(base)}({first[0]}, {first[1]}, B, G) + "
            f"{runner_name(base)}({second[0]}, {second[1]}, no_bias, G)\n"
        )
    else:
        return None
    return (
        f"def {runner_name(oracle)}({RUNNER_PARAMETERS}) -> np.ndarray:\n"
        f'    """{oracle}: {base} through the {relation} relation."""\n'
        f"{body}"
    )


def _hand_check_runner(oracle: str, record: FindingRecord) -> str:
    cfg = record.case.config
    return (
        f"def {runner_name(oracle)}({RUNNER_PARAMETERS}) -> np.ndarray:\n"
        '    """handcheck: with an input of ones inside the padding, out[n, o] = w[o].sum() + b[o]."""\n'
        "    per_channel = W.sum(axis=tuple(range(1, W.ndim))) + (0.0 if B is None else B)\n"
        f"    return np.broadcast_to(per_channel.reshape(1, -1, *([1] * {cfg.rank})), {cfg.output_shape()!r}).copy()\n"
    )


def _runners(record: FindingRecord) -> dict[str, str]:
    """Source of one runner per oracle of `record` that a script can run (oracles of the user's own cannot)."""
    runners: dict[str, str] = {}
    for oracle in record.oracles:
        if not is_known(oracle):
            continue
        variant, pinned = split_pin(oracle)
        device = pinned or record.case.config.device
        metamorphic = split_metamorphic(variant)
        if variant in TORCH_VARIANTS:
            runners[oracle] = _torch_runner(oracle, variant, device, record)
        elif variant in JAX_VARIANTS:
            runners[oracle] = _jax_runner(oracle, variant, device, record)
        elif variant == REFERENCE:
            runners[oracle] = _reference_runner(oracle, variant, device, record)
        elif variant == "handcheck":
            runners[oracle] = _hand_check_runner(oracle, record)
        elif metamorphic is not None and metamorphic[0] in record.oracles and not pinned:
            source = _relation_runner(oracle, metamorphic[0], metamorphic[1], record)
            if source is not None:
                runners[oracle] = source
    return runners


_MAIN = '''
MEMORY_ERROR_STATUS = 3
CANNOT_TELL_STATUS = 2  # neither reproduces nor gone: the device or the kernel the finding needs is not here


def run_in_child(name: str) -> str | None:
    """Run one oracle in a child process of this script: how it ended if it crashed or hung, else None."""
    try:
        done = subprocess.run([sys.executable, __file__, "--only", name], capture_output=True, text=True,
                              timeout=CASE_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return f"timeout: no answer within {CASE_TIMEOUT} s"
    if done.returncode < 0:
        return f"crash: killed by {signal.Signals(-done.returncode).name}"
    if done.returncode == MEMORY_ERROR_STATUS:
        return "crash: MemoryError"
    return None


def gone(why: str) -> int:
    """The discrepancy did not show: GONE (0), or CANNOT TELL (2) where a kernel-selecting fact of this machine
    differs from where it was found, so that another kernel than the one with the bug may have run here."""
    here = collect_facts(framework_of(s) for s in SUSPECTS)
    differences: list[str] = []
    for suspect in SUSPECTS:
        for line in fact_differences(RECORDED_FACTS, here, [framework_of(suspect)], SUSPECT_DEVICES[suspect]):
            differences += [line] if line not in differences else []
    if differences:
        print(f"CANNOT TELL: {why} here, but another kernel may have run: {'; '.join(differences)}")
        return CANNOT_TELL_STATUS
    print(f"GONE: {why}")
    return 0


def reproduce_crash() -> int:
    ended = {name: run_in_child(name) for name in SUSPECTS if name in RUNNERS}
    for name, how in ended.items():
        print(f"{name}: {how or 'answered'}")
    if any(ended.values()):
        print(f"REPRODUCES: {KIND}, suspect(s) {', '.join(n for n, how in ended.items() if how)}")
        return 1
    return gone(f"{', '.join(SUSPECTS)} no longer crash or hang")


def cuda_seen() -> bool:
    """Whether torch or JAX sees a CUDA GPU here (a CUDA finding cannot be checked without one)."""
    try:
        import torch

        if torch.cuda.is_available():
            return True
    except ImportError:
        pass
    try:
        import jax

        return bool(jax.devices("gpu"))
    except (ImportError, RuntimeError):
        return False


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--only":
        try:
            RUNNERS[sys.argv[2]]()
        except MemoryError:
            return MEMORY_ERROR_STATUS
        return 0
    if DEVICE == "cuda" and not cuda_seen():
        print("SKIPPED: this finding was seen on a CUDA GPU and neither torch nor jax sees one here")
        return CANNOT_TELL_STATUS
    if KIND in ("crash", "timeout"):
        return reproduce_crash()
    values: dict[str, np.ndarray | None] = {}
    errors: dict[str, str] = {}
    if PRECEDING:
        print(f"each oracle is first called with {len(PRECEDING)} earlier input set(s) of the same shapes")
    for name in ORACLES:
        if name not in RUNNERS:
            print(f"{name}: this oracle exists only inside convfuzz; skipped")
            continue
        try:
            for earlier in PRECEDING:  # a stale-buffer bug shows only after these calls
                RUNNERS[name](*earlier)
            values[name] = widened(RUNNERS[name]())
        except ImportError as exc:
            print(f"{name}: not installed ({exc}); skipped")
        except Exception as exc:
            values[name], errors[name] = None, f"{type(exc).__name__}: {exc}".strip()
    if DEFECT:
        # An invalid case every oracle here must refuse: returning numbers (or crashing) is the discrepancy.
        print(f"invalid on purpose: {DEFECT}")
        verdict = decide_invalid(values, errors)
        for observation in verdict.observations.values():
            print(observation.describe())
        still = sorted(set(verdict.suspects) & set(SUSPECTS))
        if still:
            print(f"REPRODUCES: {verdict.kind}, suspect(s) {', '.join(still)}")
            return 1
        return gone(f"{', '.join(SUSPECTS)} now refuse the case")
    exact = reference(X, W, B, G)
    absolute = [None if t is None else np.abs(t) for t in (X, W, B, G)]
    abs_sum = reference(absolute[0], absolute[1], None if GRADIENT else absolute[2], absolute[3])
    # Inputs holding inf/nan: where the propagation rule makes the output non-finite, it must match exactly.
    nonfinite = None if np.isfinite(X).all() else nonfinite_rule(lambda a, k: reference(a, k, None, None), X, W)
    # A gradient is a sum of products too, with no bias term of its own (see TERMS and FOLDS above).
    yardstick = Yardstick.build(exact, abs_sum, RESULT_INPUTS, None if GRADIENT else B, TERMS, DTYPE, nonfinite,
                                folds=FOLDS)
    verdict = decide(values, errors, yardstick)
    for observation in verdict.observations.values():
        print(observation.describe())
    if verdict.exact_tier:
        print("exact tier: integer data, so any difference at all is a bug")
    still = sorted(set(verdict.suspects) & set(SUSPECTS))
    if still:
        print(f"REPRODUCES: {verdict.kind}, suspect(s) {', '.join(verdict.suspects)}")
        return 1
    return gone(f"no discrepancy from {', '.join(SUSPECTS)} (verdict: {verdict.kind or 'all consistent'})")


if __name__ == "__main__":
    sys.exit(main())
'''


def render_repro(record: FindingRecord) -> str:
    """The whole standalone script for `record`."""
    case = record.case
    cfg = case.config
    env = record.environment
    versions = ", ".join(f"{k} {env.get(k)}" for k in ("torch", "jax", "numpy") if env.get(k))
    message = textwrap.indent(record.message, "    ")
    suspect_devices = {s: suspect_device(s, cfg.device) for s in record.suspects}
    recorded_facts = env.get("kernel_facts") if isinstance(env.get("kernel_facts"), dict) else {}
    header = f'''#!/usr/bin/env python3
"""convfuzz finding {record.id}: {record.kind}, suspect(s): {", ".join(record.suspects)}.

Seen as:
{message}

Seen with {versions} on {env.get("platform")}.
{cfg.op_name}, dtype {cfg.dtype}, device {cfg.device}, layout {cfg.layout}; values drawn as {case.families}.
Needs numpy plus the frameworks it compares ({", ".join(record.oracles)}); a missing one is skipped.
Exit status: 1 while the discrepancy reproduces, 0 once it is gone, 2 when it cannot tell (a CUDA finding on a
machine whose torch and jax see no GPU, or a machine whose kernel-selecting facts, below, differ from these where
it no longer shows). A crash or hang is re-run in a child process of this script, so it is
reported instead of killing the script.
"""

from __future__ import annotations

import signal
import string
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import numpy.typing as npt

DTYPE = {cfg.dtype!r}
DEVICE = {cfg.device!r}
KIND = {record.kind!r}
CASE_TIMEOUT = 60
ORACLES = {list(record.oracles)!r}
SUSPECTS = {list(record.suspects)!r}
STRIDE = {cfg.stride!r}
PADS = {cfg.pad_pairs()!r}
DILATION = {cfg.dilation!r}
GROUPS = {cfg.groups}
PADDING_MODE = {cfg.padding_mode!r}
OUTPUT_PADDING = {cfg.output_padding!r}
DEFECT = {cfg.defect!r}  # non-empty: a case of the invalid stream, which must be refused
GRADIENT = {cfg.gradient!r}  # non-empty: the case computes the gradient with respect to this input at cotangent G
# Where each suspect ran, and the facts that chose its kernel there (oracles.kernel_facts): gone on a machine
# whose facts differ says nothing about the kernel that has the bug.
SUSPECT_DEVICES = {suspect_devices!r}
RECORDED_FACTS = {recorded_facts!r}
# Products summed into each result element (at most), and partial results a correct implementation may add up.
TERMS = {cfg.terms_per_output()}
FOLDS = {cfg.folds()}


def complex_array(real: np.ndarray, imag: np.ndarray) -> np.ndarray:
    """Complex values from their parts, set part by part (exactly, signed zeros included)."""
    joined = np.empty(real.shape, dtype=np.complex128)
    joined.real, joined.imag = real, imag
    return joined


# Input values in float64 (complex128 for a complex dtype); every one is exactly representable in {cfg.dtype}.
X = {array_literal(case.x)}
W = {array_literal(case.w)}
B = {optional_literal(case.b)}
G = {optional_literal(case.g)}  # the output cotangent of a gradient case
# The tensors the result is a sum of products of (integers in all of them: the exact tier may apply).
RESULT_INPUTS = [{", ".join(name.upper() for name in case.result_tensors())}]
# Earlier calls (x, w, b, g) with the same parameters that the discrepancy needs first, oldest first.
PRECEDING = {_preceding_literal(record)}

'''
    runners = _runners(record)
    parts = [header]
    parts += [inline_source(module) + "\n\n" for module in INLINED_MODULES]
    parts.append(_reference_function(cfg))
    parts += [source + "\n\n" for source in runners.values()]
    table = ", ".join(f"{name!r}: {runner_name(name)}" for name in runners)
    parts.append(f"RUNNERS: dict[str, Callable[[], np.ndarray]] = {{{table}}}\n")
    parts.append(_MAIN)
    return "".join(parts)
