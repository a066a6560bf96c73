"""The versions of the code an interpreter runs: python, numpy and every registered framework's distributions.

Standard library only: an isolated worker in another environment (oracles.interpreters) reports its own with this.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from convfuzz.oracles.framework import frameworks


def framework_packages() -> tuple[str, ...]:
    """The distributions of every registered framework (oracles.framework), in registration order."""
    return tuple(p for f in frameworks().values() for p in f.packages)


def package_version(name: str) -> str | None:
    """Installed version of distribution `name` in this interpreter, or None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def versions_here() -> dict[str, str]:
    """This interpreter's python, its executable, numpy and each installed framework distribution's version."""
    found = {name: package_version(name) for name in (*framework_packages(), "numpy")}
    return {
        "python": platform.python_version(),
        "executable": sys.executable,
        **{name: version for name, version in found.items() if version},
    }
