"""Oracle names -> constructors; unavailable frameworks report why instead of crashing the import.

Names: every registered framework's oracles (oracles.framework: 'torch', 'jax-eager', ...), the metamorphic,
matmul and hand-check oracles and our reference below, any of them pinned to a device ('torch@cuda', see
oracles.pinned), or an import path 'module:factory' for an oracle of your own.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, partial

from convfuzz.oracles.base import Oracle
from convfuzz.oracles.channel_matmul import MATMUL_FRAMEWORKS, ChannelMatmulOracle, matmul_serves
from convfuzz.oracles.environments import environment_of
from convfuzz.oracles.framework import every_variant, framework_named, framework_of_variant, frameworks
from convfuzz.oracles.hand_check import HandCheckOracle, hand_check_serves
from convfuzz.oracles.metamorphic import (
    METAMORPHIC_BASES,
    RELATIONS,
    MetamorphicOracle,
    relation_serves,
    relation_takes,
    split_metamorphic,
)
from convfuzz.oracles.names import framework_of
from convfuzz.oracles.pinned import PIN_SEPARATOR, PinnedOracle, split_pin
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.strategies.case import DEFECTS, FORWARD_OPS, ConvCase, ConvConfig


def factories() -> dict[str, Callable[[], Oracle]]:
    """Every built-in oracle name and its constructor, for the frameworks registered now (oracles.framework)."""
    return _factories(tuple(frameworks()))


@cache
def _factories(registered: tuple[str, ...]) -> dict[str, Callable[[], Oracle]]:
    # `registered` (the frameworks' names) is the cache key: the table is rebuilt only when the registration changes.
    # Beside the frameworks' variants: the metamorphic oracles (oracles/metamorphic.py), each base framework
    # computing every case a second way; the 1x1 conv as the framework's channel matmul (oracles/channel_matmul.py);
    # the hand check of an input of ones.
    found: dict[str, Callable[[], Oracle]] = {**every_variant(), "reference": ReferenceOracle}
    found.update({f"{b}-{r}": _metamorphic(b, r) for b in METAMORPHIC_BASES for r in RELATIONS})
    found.update({f"{f}-matmul": _matmul(f) for f in MATMUL_FRAMEWORKS})
    found["handcheck"] = HandCheckOracle
    return found


def _metamorphic(base: str, relation: str) -> Callable[[], Oracle]:
    def build() -> Oracle:
        return MetamorphicOracle(make_oracle(base), relation, name=f"{base}-{relation}")

    return build


def _matmul(framework: str) -> Callable[[], Oracle]:
    def build() -> Oracle:
        return ChannelMatmulOracle(framework)

    return build


# Oracles that answer forward ops only (each sits out the cases it cannot compute, see its serves(case)).
FORWARD_ONLY = (*(f"{f}-matmul" for f in MATMUL_FRAMEWORKS), "handcheck")


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
    framework = framework_of_variant(base)
    return True if framework is None else framework.computes(base, op)


def serves(name: str, config: ConvConfig) -> bool:
    """True when oracle `name` takes part in a case of `config`: it computes the op, and a framework's oracle takes
    such cases (oracles.framework: batch_group_count where the framework has it, an invalid-stream case where the
    defect's scope binds it), a relation or matmul oracle where its framework's plain call does. Our reference
    takes part in invalid cases where the scope is 'all' or 'torch and reference'; the other oracles (the hand
    check, a user's own) in every valid case, and in invalid ones where the scope is 'all' or 'frameworks'."""
    if not serves_op(name, config.op_name):
        return False
    base = name.partition(PIN_SEPARATOR)[0]
    framework = framework_of_variant(base)
    if framework is not None:
        return framework.takes(base, config)
    # A relation or matmul oracle takes part where its framework's plain call does ('torch-groupsplit': torch's).
    owner = framework_named(framework_of(base))
    if owner is not None:
        return owner.takes(owner.name, config)
    if config.batch_groups > 1 or not config.defect:
        return True
    scope = DEFECTS[config.defect].scope
    if base == "reference":
        return scope in ("all", "torch and reference")
    return scope in ("all", "frameworks")

# Built-in oracles that answer some cases only, by what the case holds: a relation the cases it applies to, the
# hand check an input of ones, the matmul oracles a 1x1 kernel. Decided here by name, since an isolated oracle's
# object (with its own serves method) lives in its worker process.
CASE_RULES: dict[str, Callable[[ConvCase], bool]] = {
    "handcheck": hand_check_serves, **{f"{f}-matmul": matmul_serves for f in MATMUL_FRAMEWORKS},
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


def default_oracles() -> tuple[str, ...]:
    """What a campaign runs when --oracles is not given: one call per framework as users make it (torch, JAX, and
    each framework of an optional extra that is installed here: ONNX Runtime, ...), and our reference. The variants
    cost more (torch.compile compiles every shape class) or only differ on some machines; they are chosen on
    purpose."""
    core = tuple(name for name, framework in frameworks().items() if framework.extra is None)
    extras = tuple(name for name, framework in frameworks().items() if framework.extra and framework.installed())
    return (*core, *extras, "reference")


def oracle_names() -> tuple[str, ...]:
    """Every oracle this build knows about (each can also be pinned: 'NAME@cpu', 'NAME@cuda')."""
    return tuple(factories())


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
    known = factories()
    if base not in known:
        raise KeyError(f"unknown oracle {name!r}; known: {', '.join(known)} (each may end in @cpu or @cuda, and in "
                       "@ENVIRONMENT for one of another Python environment)")


def make_oracle(name: str) -> Oracle:
    """Construct oracle `name`; raises KeyError for an unknown name, OracleUnavailable when it cannot run."""
    require_known(name)
    if environment_of(name) is not None:
        raise KeyError(f"oracle {name!r} runs in another environment: only a worker started there builds it "
                       "(oracles.selection)")
    base, device = split_pin(name)
    oracle = factories()[base]()
    return oracle if device is None else PinnedOracle(oracle, device)


# Our own NumPy code cannot take the process down the way native framework code can; it stays in-process.
IN_PROCESS = ("reference", "handcheck")
