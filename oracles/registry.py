"""Oracle names -> constructors; unavailable frameworks report why instead of crashing the import.

Names: the built-in oracles and variants below, any of them pinned to a device ('torch@cuda', see
oracles.pinned), or an import path 'module:factory' for an oracle of your own.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from convfuzz.oracles.base import Oracle
from convfuzz.oracles.channel_matmul import ChannelMatmulOracle, matmul_serves
from convfuzz.oracles.hand_check import HandCheckOracle, hand_check_serves
from convfuzz.oracles.jax_oracle import JAX_VARIANTS
from convfuzz.oracles.metamorphic import (
    METAMORPHIC_BASES,
    RELATIONS,
    MetamorphicOracle,
    relation_serves,
    relation_takes,
    split_metamorphic,
)
from convfuzz.oracles.pinned import PIN_SEPARATOR, PinnedOracle, split_pin
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.oracles.torch_variants import TORCH_VARIANTS
from convfuzz.strategies.case import DEFECTS, FORWARD_OPS, ConvCase, ConvConfig


def _torch(name: str) -> Callable[[], Oracle]:
    def build() -> Oracle:
        from convfuzz.oracles.torch_oracle import TorchOracle

        return TorchOracle(name)

    return build


def _jax(name: str) -> Callable[[], Oracle]:
    def build() -> Oracle:
        from convfuzz.oracles.jax_oracle import JaxOracle

        return JaxOracle(name)

    return build


FACTORIES: dict[str, Callable[[], Oracle]] = {
    "torch": _torch("torch"),
    "jax": _jax("jax"),
    "reference": ReferenceOracle,
    "torch-nomkldnn": _torch("torch-nomkldnn"),
    "torch-nocudnn": _torch("torch-nocudnn"),
    "torch-tf32": _torch("torch-tf32"),
    "torch-compile": _torch("torch-compile"),
    "jax-eager": _jax("jax-eager"),
    "torch-vjp": _torch("torch-vjp"),
    "jax-vjp": _jax("jax-vjp"),
    "jax-nhwc": _jax("jax-nhwc"),
    "jax-f32out": _jax("jax-f32out"),
}

def _metamorphic(base: str, relation: str) -> Callable[[], Oracle]:
    def build() -> Oracle:
        return MetamorphicOracle(make_oracle(base), relation, name=f"{base}-{relation}")

    return build


def _matmul(framework: str) -> Callable[[], Oracle]:
    def build() -> Oracle:
        return ChannelMatmulOracle(framework)

    return build


# Metamorphic oracles (oracles/metamorphic.py): each base framework computing every case a second way; the 1x1
# conv as the framework's channel matmul; the hand check of an input of ones.
FACTORIES.update({f"{b}-{r}": _metamorphic(b, r) for b in METAMORPHIC_BASES for r in RELATIONS})
FACTORIES.update({"torch-matmul": _matmul("torch"), "jax-matmul": _matmul("jax"), "handcheck": HandCheckOracle})
# Oracles that answer forward ops only (each sits out the cases it cannot compute, see its serves(case)).
FORWARD_ONLY = ("torch-matmul", "jax-matmul", "handcheck")


def serves_op(name: str, op: str) -> bool:
    """True when oracle `name` (pinned or not, or a module:factory path) computes `op` (an op or an op's gradient,
    'conv2d.grad_weight'): a torch or JAX variant says so itself (the adjoint variants compute transposed ops only,
    the JAX layout and wide-output variants forward ops only); every other oracle, and any of the user's own,
    computes every op and gradient."""
    base = name.partition(PIN_SEPARATOR)[0]
    metamorphic = split_metamorphic(base)
    if metamorphic is not None:
        return serves_op(metamorphic[0], op) and relation_serves(metamorphic[1], op)
    if base in FORWARD_ONLY:
        return op in FORWARD_OPS
    if base in TORCH_VARIANTS:
        return TORCH_VARIANTS[base].computes(op)
    if base in JAX_VARIANTS:
        return JAX_VARIANTS[base].computes(op)
    return True


def serves(name: str, config: ConvConfig) -> bool:
    """True when oracle `name` takes part in a case of `config`: it computes the op, it is not torch on a lax-only
    batch_group_count case, and for an invalid-stream case the defect's rule binds it (strategies.case.DEFECTS:
    'all', 'frameworks' = not our reference, 'torch' = the torch oracles only, or 'torch and reference')."""
    if not serves_op(name, config.op_name):
        return False
    base = name.partition(PIN_SEPARATOR)[0]
    if config.batch_groups > 1:  # XLA's batch_group_count: JAX, the reference and oracles of the user's own
        return not base.startswith("torch")
    if not config.defect:
        return True
    scope = DEFECTS[config.defect].scope
    if scope == "all" or (scope == "frameworks" and base != "reference"):
        return True
    return base.startswith("torch") or (scope == "torch and reference" and base == "reference")

# Built-in oracles that answer some cases only, by what the case holds: a relation the cases it applies to, the
# hand check an input of ones, the matmul oracles a 1x1 kernel. Decided here by name, since an isolated oracle's
# object (with its own serves method) lives in its worker process.
CASE_RULES: dict[str, Callable[[ConvCase], bool]] = {
    "handcheck": hand_check_serves, "torch-matmul": matmul_serves, "jax-matmul": matmul_serves,
    **{f"{b}-{r}": partial(relation_takes, r) for b in METAMORPHIC_BASES for r in RELATIONS},
}


def takes_part(name: str, oracle: Oracle, case: ConvCase) -> bool:
    """serves(name, case.config), then the built-in oracle's case rule (CASE_RULES) or else the oracle object's
    own `serves(case)` when it has one (a metamorphic oracle built in code, or an oracle of the user's own that
    computes only some cases)."""
    if not serves(name, case.config):
        return False
    rule = CASE_RULES.get(name.partition(PIN_SEPARATOR)[0]) or getattr(oracle, "serves", None)
    return rule is None or bool(rule(case))


# What a campaign runs when --oracles is not given: one call per framework as users make it. The variants cost
# more (torch.compile compiles every shape class) or only differ on some machines; they are chosen on purpose.
DEFAULT_ORACLES: tuple[str, ...] = ("torch", "jax", "reference")


def oracle_names() -> tuple[str, ...]:
    """Every oracle this build knows about (each can also be pinned: 'NAME@cpu', 'NAME@cuda')."""
    return tuple(FACTORIES)


def is_known(name: str) -> bool:
    """True for a built-in oracle, pinned or not."""
    try:
        require_known(name)
    except KeyError:
        return False
    return True


def suspect_device(suspect: str, case_device: str) -> str:
    """The device an oracle ran a case on: its pin ('torch@cpu' on a cuda case: cpu), else the case's device."""
    return (split_pin(suspect)[1] if is_known(suspect) else None) or case_device


def require_known(name: str) -> None:
    """Raise KeyError unless `name` is a built-in oracle, possibly pinned to a device."""
    base, _ = split_pin(name)
    if base not in FACTORIES:
        raise KeyError(f"unknown oracle {name!r}; known: {', '.join(FACTORIES)} (each may end in @cpu or @cuda)")


def make_oracle(name: str) -> Oracle:
    """Construct oracle `name`; raises KeyError for an unknown name, OracleUnavailable when it cannot run."""
    require_known(name)
    base, device = split_pin(name)
    oracle = FACTORIES[base]()
    return oracle if device is None else PinnedOracle(oracle, device)


# Our own NumPy code cannot take the process down the way native framework code can; it stays in-process.
IN_PROCESS = ("reference", "handcheck")
