"""Named environments: other Python interpreters (a venv or conda env with its own torch or JAX) whose frameworks
run as oracles beside this interpreter's.

A user names them in `convfuzz.toml` beside the findings folder,

    [environments]
    nightly = "/opt/venvs/torch-nightly"          # a venv or conda folder, or its bin/python
    "jax-0.4.30" = "~/envs/jax-0.4.30/bin/python"

or on the command line (`--environment NAME=PYTHON`, which wins over the file). An oracle name then says where it
runs after an '@': 'torch@nightly' is torch in that environment, 'torch@nightly@cuda' the same on the GPU. The
words 'cpu' and 'cuda' after an '@' are devices (oracles.pinned); any other word names an environment.

Standard library only: this module is read by isolated workers in environments that hold nothing but a framework
and numpy.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEPARATOR = "@"
DEVICES = ("cpu", "cuda")
CONFIG_FILE = "convfuzz.toml"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


class BadEnvironment(ValueError):
    """A named environment is malformed, missing, or not a Python interpreter: the message names the bad value."""


@dataclass(frozen=True)
class Environment:
    """One named environment: the interpreter its isolated workers are started with."""

    name: str
    python: Path


def parts(name: str) -> tuple[str, str | None, str | None]:
    """'torch@nightly@cuda' -> ('torch', 'nightly', 'cuda'); 'torch@cuda' -> ('torch', None, 'cuda'). Raises KeyError
    for two devices, two environments, or an environment name that is not a plain word."""
    base, *suffixes = name.split(SEPARATOR)
    devices = [s for s in suffixes if s in DEVICES]
    environments = [s for s in suffixes if s not in DEVICES]
    if len(devices) > 1 or len(environments) > 1:
        raise KeyError(f"oracle {name!r} names more than one device or environment after '@'")
    for environment in environments:
        if not NAME_PATTERN.fullmatch(environment):
            raise KeyError(f"oracle {name!r}: {environment!r} is neither a device ({', '.join(DEVICES)}) nor an "
                           "environment name (letters, digits, '.', '_', '+', '-')")
    return base, (environments[0] if environments else None), (devices[0] if devices else None)


def qualified(name: str, environment: str | None) -> str:
    """The canonical name of oracle `name` (possibly pinned to a device) run in `environment`:
    ('torch@cuda', 'nightly') -> 'torch@nightly@cuda'; any environment `name` already names is replaced."""
    base, _, device = parts(name)
    return SEPARATOR.join(p for p in (base, environment, device) if p)


def environment_of(name: str) -> str | None:
    """The environment oracle `name` runs in ('torch@nightly' -> 'nightly'), None for this interpreter."""
    return parts(name)[1]


def local_name(name: str) -> str:
    """Oracle `name` as its environment's worker builds it: 'torch@nightly@cuda' -> 'torch@cuda'."""
    return qualified(name, None)


def interpreter(text: str, where: str) -> Path:
    """The Python interpreter `text` names: an executable file, or a venv/conda folder holding bin/python. Raises
    BadEnvironment (naming `where` the text came from) when it is neither."""
    path = Path(os.path.expanduser(text))
    if path.is_dir():
        path = path / "bin" / "python"
    if not path.is_file() or not os.access(path, os.X_OK):
        raise BadEnvironment(f"{where}: {text!r} is not a Python interpreter (an executable, or a folder with "
                                "bin/python)")
    return path


def _named(name: str, where: str) -> str:
    if not NAME_PATTERN.fullmatch(name) or name in DEVICES:
        raise BadEnvironment(f"{where}: {name!r} is not an environment name (letters, digits, '.', '_', '+', '-'; "
                                f"not {' or '.join(DEVICES)}, which are devices)")
    return name


def from_config(path: Path) -> dict[str, Environment]:
    """The environments a convfuzz.toml names in its [environments] table (none when the file does not exist)."""
    if not path.is_file():
        return {}
    try:
        table = tomllib.loads(path.read_text()).get("environments", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise BadEnvironment(f"{path}: {exc}") from exc
    if not isinstance(table, dict):
        raise BadEnvironment(f"{path}: [environments] must be a table of NAME = \"PYTHON\"")
    found = {}
    for name, value in table.items():
        where = f"{path}: environments.{name}"
        if not isinstance(value, str):
            raise BadEnvironment(f"{where} must be a path (a string), not {value!r}")
        found[name] = Environment(_named(name, where), interpreter(value, where))
    return found


def from_arguments(pairs: Sequence[str]) -> dict[str, Environment]:
    """The environments of `--environment NAME=PYTHON` arguments."""
    found = {}
    for pair in pairs:
        name, equals, python = pair.partition("=")
        where = f"--environment {pair!r}"
        if not equals or not python:
            raise BadEnvironment(f"{where}: expected NAME=PYTHON")
        found[name] = Environment(_named(name, where), interpreter(python, where))
    return found


def configured(findings: Path, pairs: Sequence[str] = ()) -> dict[str, Environment]:
    """Every environment named for a findings folder: convfuzz.toml beside it, then `--environment` pairs (which
    replace a configured one of the same name)."""
    return {**from_config(findings.absolute().parent / CONFIG_FILE), **from_arguments(pairs)}


def require_environments(names: Sequence[str], environments: Mapping[str, Environment]) -> None:
    """Raise BadEnvironment naming the first oracle of `names` whose environment is not in `environments`."""
    for name in names:
        environment = environment_of(name)
        if environment is not None and environment not in environments:
            named = ", ".join(environments) or "none"
            raise BadEnvironment(f"oracle {name!r} runs in environment {environment!r}, which is not named "
                                    f"(named: {named}; name it in {CONFIG_FILE} or with --environment "
                                    f"{environment}=PYTHON)")


def oracle_environment(environment: Mapping[str, Any], oracle: str) -> Mapping[str, Any]:
    """The part of a finding's `environment` that describes the process that ran `oracle`: for an oracle of another
    environment ('torch@nightly'), that environment's versions and kernel facts, with the finding's platform and
    devices and its name under 'environment'; for any other oracle, `environment` itself."""
    place = environment_of(oracle)
    sections = environment.get("environments")
    section = sections.get(place) if place and isinstance(sections, dict) else None
    if not isinstance(section, dict):
        return environment
    shared = {key: environment[key] for key in ("platform", "devices") if key in environment}
    return {**shared, **(section.get("versions") or {}), "kernel_facts": section.get("kernel_facts") or {},
            "environment": place}


def recorded_facts(environment: Mapping[str, Any], oracle: str) -> Mapping[str, Any]:
    """The kernel-selecting facts a finding's `environment` stored for the process that ran `oracle`."""
    facts = oracle_environment(environment, oracle).get("kernel_facts")
    return facts if isinstance(facts, dict) else {}
