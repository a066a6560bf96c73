"""Oracle names -> constructors; unavailable frameworks report why instead of crashing the import."""

from __future__ import annotations

from collections.abc import Callable

from oracles.base import Oracle, OracleFailure, OracleUnavailable
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


def require_known(name: str) -> None:
    """Raise KeyError unless `name` is a built-in oracle."""
    if name not in FACTORIES:
        raise KeyError(f"unknown oracle {name!r}; known: {', '.join(FACTORIES)}")


def make_oracle(name: str) -> Oracle:
    """Construct oracle `name`; raises KeyError for an unknown name, OracleUnavailable when it cannot run."""
    require_known(name)
    return FACTORIES[name]()


# Our own NumPy code cannot take the process down the way native framework code can; it stays in-process.
IN_PROCESS = ("reference",)


def available_oracles(
    names: tuple[str, ...] | None = None, isolate: bool = False, case_timeout: float = 60.0
) -> tuple[dict[str, Oracle], dict[str, str]]:
    """Construct the named oracles (None: all of them; an empty selection builds nothing).

    Returns (usable by name, reason by name for the rest).

    A name with a colon is an import path 'module:factory' (an oracle of your own, or a planted one in tests).
    With `isolate`, every framework oracle runs in its own spawned worker process (oracles.isolation), so a
    crash or hang becomes a finding instead of ending the campaign.
    """
    from oracles.isolation import IsolatedOracle, build_oracle

    usable: dict[str, Oracle] = {}
    missing: dict[str, str] = {}
    for name in oracle_names() if names is None else names:
        if ":" not in name:
            require_known(name)  # before a worker is spawned for it
        try:
            oracle = IsolatedOracle(name, case_timeout) if isolate and name not in IN_PROCESS else build_oracle(name)
        except (OracleUnavailable, OracleFailure, ImportError, AttributeError) as exc:
            # A missing framework, or an import path that does not import: why, for the caller to report.
            missing[name] = str(exc)
            continue
        usable[oracle.name] = oracle
    return usable, missing
