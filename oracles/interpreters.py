"""Starting an isolated worker with another environment's Python interpreter (oracles.environments).

The worker must not see this interpreter's packages: its torch or JAX is the point. So it is started directly
(`python -I -c BOOTSTRAP`, isolated mode: no PYTHONPATH, no user site, no current folder) rather than through
multiprocessing's spawn, which would hand it this process's sys.path. What it needs of convfuzz reaches it through
one folder put first on its sys.path: a link to this convfuzz package, and links to the top-level packages of the
frameworks registered in $CONVFUZZ_FRAMEWORKS and of 'module:factory' oracles, so an environment that holds nothing
but a framework and numpy runs the same worker code (oracles.isolation) as this one. The pipe is a socket pair
whose far end the worker inherits; a second pipe's far end, which only the worker holds, closes when it dies and
so says that it has.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
from functools import cache
from multiprocessing.connection import Connection
from pathlib import Path

import convfuzz
from convfuzz.oracles.framework import BUILT_IN, FRAMEWORKS_ENV

# The convfuzz code the worker runs needs this Python or newer (pyproject.toml's requires-python).
OLDEST_PYTHON = (3, 11)
TOO_OLD_STATUS = 3
BOOTSTRAP = f"""\
import sys
shim, fd, target, log = sys.argv[1:5]
if sys.version_info < {OLDEST_PYTHON!r}:
    with open(log, "w") as out:
        out.write("convfuzz's worker needs Python {'.'.join(map(str, OLDEST_PYTHON))} or newer; this environment "
                  "runs " + sys.version.split()[0] + "\\n")
    raise SystemExit({TOO_OLD_STATUS})
sys.path.insert(0, shim)
from multiprocessing.connection import Connection
from convfuzz.oracles.isolation import worker_main
worker_main(Connection(int(fd)), target, log)
"""


def _top_level(module: str) -> Path | None:
    """The file or folder that top-level module `module` is imported from here, or None."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin) if spec.origin and spec.origin.endswith(".py") else None


def shipped_modules(target: str) -> tuple[str, ...]:
    """The top-level modules a worker for `target` needs beyond convfuzz: those of the frameworks registered in
    $CONVFUZZ_FRAMEWORKS and, for a 'module:factory' target, its module's."""
    registered = [t for t in os.environ.get(FRAMEWORKS_ENV, "").split(",") if t.strip() and t not in BUILT_IN]
    paths = [*registered, *([target] if ":" in target else [])]
    return tuple(dict.fromkeys(p.strip().partition(":")[0].split(".")[0] for p in paths))


@cache
def _shim_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="convfuzz-shim-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    (folder / "convfuzz").symlink_to(Path(convfuzz.__file__).resolve().parent)
    return folder


def shim_folder(target: str) -> Path:
    """The folder put first on a worker's sys.path: convfuzz, and the modules shipped_modules(target) names (each
    linked once; removed when this process exits)."""
    folder = _shim_folder()
    for module in shipped_modules(target):
        source = _top_level(module)
        link = folder / (module if source is None or source.is_dir() else f"{module}.py")
        if source is not None and not link.exists() and module != "convfuzz":
            link.symlink_to(source)
    return folder


class ForeignProcess:
    """A worker started with another interpreter, with the parts of multiprocessing.Process's interface that
    oracles.isolation uses (sentinel, is_alive, kill, join, exitcode)."""

    def __init__(self, python: Path, target: str, stderr_path: str) -> None:
        """Start `python` running the worker for `target`; `connection` is this end of its pipe."""
        ours, theirs = socket.socketpair()
        self.sentinel, alive = os.pipe()
        self.connection = Connection(ours.detach())
        far = theirs.detach()
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        try:
            self._popen = subprocess.Popen(
                [str(python), "-I", "-c", BOOTSTRAP, str(shim_folder(target)), str(far), target, stderr_path],
                pass_fds=(far, alive), env=env, stdin=subprocess.DEVNULL,
            )
        finally:
            os.close(far)
            os.close(alive)

    @property
    def exitcode(self) -> int | None:
        """None while it runs; its exit status, or minus the signal that killed it."""
        return self._popen.poll()

    def is_alive(self) -> bool:
        """True while the worker runs."""
        return self._popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker."""
        with contextlib.suppress(ProcessLookupError):
            self._popen.kill()

    def join(self, timeout: float | None = None) -> None:
        """Wait up to `timeout` seconds for the worker to end (and release its sentinel once it has)."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout)
        if self._popen.returncode is not None and self.sentinel >= 0:
            os.close(self.sentinel)
            self.sentinel = -1
