"""A call as a user writes it, as text: the source of a function `run_<oracle>()` that computes a case with numpy
and one framework (UserCall), and what every framework's writing of its calls shares (oracles.torch_calls,
oracles.jax_calls, ...)."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from convfuzz.oracles.pinned import PIN_SEPARATOR
from convfuzz.strategies.case import ConvConfig


def runner_tensors(cfg: ConvConfig) -> tuple[str, ...]:
    """The tensors a runner of `cfg` takes, in order: X and W, B where the case has a bias, G (the output
    cotangent) for a gradient case."""
    return ("X", "W", *(("B",) if cfg.bias else ()), *(("G",) if cfg.gradient else ()))


def _runner_parameters(cfg: ConvConfig) -> str:
    """Each runner computes the case's globals unless given other tensors of the same shapes (the earlier calls a
    stale-buffer finding needs)."""
    return ", ".join(f"{name}: np.ndarray = {name}" for name in runner_tensors(cfg))


def wrapped(line: str) -> str:
    """A source line that ends with a call, broken at spaces inside its parentheses to stay readable (about 110
    characters a line, continuation lines indented one level deeper). Nothing may follow the call's closing
    parenthesis: a break there would end the statement."""
    indent = line[: len(line) - len(line.lstrip())]
    return textwrap.fill(line.strip(), width=110, initial_indent=indent, subsequent_indent=indent + "    ",
                         break_long_words=False, break_on_hyphens=False)


def what_is_called(cfg: ConvConfig, call: str) -> str:
    """'F.conv2d', or 'the weight gradient of F.conv2d' for a gradient case."""
    return f"the {cfg.gradient} gradient of {call}" if cfg.gradient else call


def runner_name(oracle: str) -> str:
    """The repro's function for one oracle: 'torch-compile@cuda' -> 'run_torch_compile_at_cuda'."""
    return "run_" + re.sub(r"\W", "_", oracle.replace(PIN_SEPARATOR, "_at_"))


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
        importing = [i for i, line in enumerate(lines) if line.startswith(("import ", "from "))]
        # What comes before the last import stays before it (TF_ENABLE_ONEDNN_OPTS must be set before TensorFlow
        # is imported; JAX's x64 switch may sit between its imports).
        head = lines[: importing[-1] + 1] if importing else []
        imports = [line for line in head if line.strip() and not line.lstrip().startswith("#")]
        kept: list[str] = []
        for line in lines[len(head):]:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if kept and not line.startswith(" ") and kept[-1].startswith(" "):
                kept.append("")  # a definition's body ends
            if line.startswith(("def ", "@")) and kept and kept[-1] and not kept[-1].startswith("@"):
                kept.append("")
            kept.append(line)
        if self.raw != "out":
            kept.append(f"out = {self.raw}")
        return "\n".join(imports) + "\n", "\n" + "\n".join(kept) + "\n"
