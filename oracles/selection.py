"""Choosing the oracles of a campaign or replay by name, each in its own worker process or in this one.

Above both oracles.registry (what each name builds) and oracles.isolation (the worker processes): neither imports
the other's chooser, so the two stay free of an import cycle.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping

from convfuzz.oracles.base import Oracle, OracleFailure, OracleUnavailable
from convfuzz.oracles.environments import (
    Environment,
    environment_of,
    local_name,
    qualified,
    require_environments,
)
from convfuzz.oracles.isolation import IsolatedOracle, build_oracle
from convfuzz.oracles.registry import IN_PROCESS, default_oracles, require_known


def available_oracles(
    names: tuple[str, ...] | None = None, isolate: bool = False, case_timeout: float = 60.0,
    environments: Mapping[str, Environment] | None = None, moved: Mapping[str, str] | None = None,
) -> tuple[dict[str, Oracle], dict[str, str]]:
    """Construct the named oracles (None: default_oracles(); an empty selection builds nothing).

    Returns (usable by name, reason by name for the rest).

    A name with a colon is an import path 'module:factory' (an oracle of your own, or a planted one in tests).
    With `isolate`, every framework oracle runs in its own spawned worker process (oracles.isolation), so a
    crash or hang becomes a finding instead of ending the campaign. A name that ends in '@ENVIRONMENT' runs, always
    isolated, with the interpreter of that environment of `environments` (oracles.environments); `moved` sends
    oracles of this interpreter to an environment under their own names (a replay there: 'torch' -> 'nightly').
    Raises BadEnvironment for an environment that is not in `environments`.
    """
    missing: dict[str, str] = {}
    environments = environments or {}
    moved = moved or {}
    chosen = default_oracles() if names is None else names
    for name in chosen:
        if ":" not in name:
            require_known(name)  # before a worker is spawned for any
    # Where each oracle runs: the environment it is moved to, else the one its name says (None: this interpreter).
    places = {name: moved.get(name) or environment_of(name) for name in chosen}
    require_environments([qualified(name, place) for name, place in places.items()], environments)
    # Every isolated worker is started first and waited for afterwards: their framework imports overlap.
    started: dict[str, IsolatedOracle] = {}
    for name in chosen:
        place = places[name]
        try:
            if ":" in name and importlib.util.find_spec(name.split(":", 1)[0]) is None:
                # Said plainly here rather than as the traceback of a worker that could not import it.
                raise ImportError(f"No module named {name.split(':', 1)[0]!r}")
            if place is not None:
                started[name] = IsolatedOracle(local_name(name), case_timeout, False, environments[place])
            elif isolate and name not in IN_PROCESS:
                started[name] = IsolatedOracle(name, case_timeout, wait=False)
        except (OSError, ImportError, ValueError) as exc:
            missing[name] = str(exc)
    usable: dict[str, Oracle] = {}
    for name in (n for n in chosen if n not in missing):
        try:
            if name in started:
                oracle: Oracle = started[name]
                started[name].wait_ready()
            else:
                oracle = build_oracle(name)
        except (OracleUnavailable, OracleFailure, ImportError, AttributeError, OSError, ValueError) as exc:
            # A missing framework, or an import path that does not import: why, for the caller to report.
            missing[name] = str(exc) + (f" (in environment {places[name]!r})" if places[name] else "")
            continue
        usable[name if name in moved else oracle.name] = oracle
    return usable, {name: missing[name] for name in chosen if name in missing}  # in the order they were named
