"""Oracle names -> constructors; unavailable frameworks report why instead of crashing the import."""

from __future__ import annotations

from collections.abc import Callable

from oracles.base import Oracle, OracleUnavailable
from oracles.reference_oracle import ReferenceOracle


def _torch() -> Oracle:
    from oracles.torch_oracle import TorchOracle

    return TorchOracle()


def _jax() -> Oracle:
    from oracles.jax_oracle import JaxOracle

    return JaxOracle()


FACTORIES: dict[str, Callable[[], Oracle]] = {
    "torch": _torch,
    "jax": _jax,
    "reference": ReferenceOracle,
}


def oracle_names() -> tuple[str, ...]:
    """Every oracle this build knows about."""
    return tuple(FACTORIES)


def make_oracle(name: str) -> Oracle:
    """Construct oracle `name`; raises KeyError for an unknown name, OracleUnavailable when it cannot run."""
    if name not in FACTORIES:
        raise KeyError(f"unknown oracle {name!r}; known: {', '.join(FACTORIES)}")
    return FACTORIES[name]()


def available_oracles(names: tuple[str, ...] | None = None) -> tuple[dict[str, Oracle], dict[str, str]]:
    """Construct the named (default: all) oracles; returns (usable by name, reason by name for the rest)."""
    usable: dict[str, Oracle] = {}
    missing: dict[str, str] = {}
    for name in names or oracle_names():
        try:
            usable[name] = make_oracle(name)
        except OracleUnavailable as exc:
            missing[name] = str(exc)
    return usable, missing
