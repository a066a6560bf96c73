"""Crash isolation: run an oracle in a spawned worker process, so a segfault, abort or hang becomes data.

A worker is started with the 'spawn' method (fork breaks CUDA and copies framework thread state), builds the
oracle itself, and answers one case at a time. When it dies by a signal, exits, or does not answer within the
per-case timeout, run() raises OracleFailure: kind 'crash' or 'timeout', with the signal or exit code and the
first lines the worker wrote to stderr (a native error message, then faulthandler's innermost frames). The next
call starts a fresh worker. Once warm, a worker may map at most its memory budget more (RLIMIT_AS; default 8 GiB,
$CONVFUZZ_WORKER_MEMORY): a MemoryError inside it is reported as a crash (resource exhaustion, not an answer),
except on a hostile parameter, where running out of memory is how a framework refuses an output no machine holds.

A fresh worker's first case waits for the oracle's one-time warm-up first (oracles.base.warm_up: torch.compile's
first compilation costs tens of seconds on a small or busy machine), which is timed by the start-up limit, not by
the case timeout: the case timeout detects hangs of a case, and must not depend on how fast the machine starts a
compiler.

An oracle of another Python environment ('torch@nightly', oracles.environments) runs the same worker code, started
with that environment's interpreter (oracles.interpreters); what crosses the pipe is in oracles.wire's portable
form either way, and the worker reports its interpreter's versions with its facts.
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib
import multiprocessing
import os
import resource
import signal
import tempfile
from collections.abc import Mapping
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from convfuzz.oracles.base import (
    FloatArray,
    ForwardedError,
    Oracle,
    OracleFailure,
    OracleUnavailable,
    backend_path,
    warm_up,
)
from convfuzz.oracles.environments import Environment, qualified
from convfuzz.oracles.interpreters import ForeignProcess
from convfuzz.oracles.kernel_facts import collect_facts, loaded_frameworks
from convfuzz.oracles.reference import widened
from convfuzz.oracles.registry import make_oracle
from convfuzz.oracles.versions import versions_here
from convfuzz.oracles.wire import receive, send
from convfuzz.strategies.case import HOSTILE_PARAMETERS, ConvCase

STARTUP_TIMEOUT_SECONDS = 300.0
# The memory budget of one isolated worker: what it may map beyond its warm, loaded framework (see
# cap_address_space). Far more than any drawn case needs (a large case's tensors are a few MiB), far less than the
# output an extreme padding asks for (16 GiB and up).
WORKER_MEMORY_ENV = "CONVFUZZ_WORKER_MEMORY"
DEFAULT_WORKER_MEMORY_GIB = 8.0
STDERR_LINES = 6


def build_oracle(target: str) -> Oracle:
    """An oracle from a registry name ('torch') or a 'module:factory' path ('tests.planted:DroppedBias')."""
    if ":" in target:
        module, attribute = target.split(":", 1)
        factory = getattr(importlib.import_module(module), attribute)
        oracle: Oracle = factory()
        return oracle
    return make_oracle(target)


def worker_main(conn: Connection, target: str, stderr_path: str) -> None:
    """The worker process: build the oracle, then answer cases until told to stop (None). Messages cross in the
    portable form of oracles.wire: the worker may run another environment's numpy (oracles.interpreters)."""
    # Ctrl-C in a terminal reaches the whole process group: the campaign handles it; a worker dying of it would
    # look like a crash.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    log = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(log, 2)
    faulthandler.enable()  # a native crash leaves a Python traceback in the stderr tail
    try:
        oracle = build_oracle(target)
    except (OracleUnavailable, ImportError) as exc:
        # ImportError: a descriptor of the user's that imports its framework without saying OracleUnavailable, in
        # an environment (oracles.environments) that lacks the framework: missing, not a crash.
        send(conn, ("unavailable", f"{type(exc).__name__}: {exc}" if isinstance(exc, ImportError) else str(exc)))
        return
    # The kernel-selecting facts as this process sees them (its framework is loaded now): a finding records the
    # facts of the process that ran the case, GPU included, not the campaign's; and its interpreter's versions.
    facts = collect_facts(loaded_frameworks())
    send(conn, ("ready", (oracle.name, oracle.devices(), facts, versions_here())))
    warmed = False
    while True:
        case = receive(conn)
        if case is None:
            return
        if not warmed:  # before the first case, off its clock (the parent waits for "warm" with the start-up limit)
            warm_up(oracle)
            cap_address_space(worker_memory_budget())
            send(conn, ("warm", None))
            warmed = True
        try:
            value = widened(oracle.run(case))
            send(conn, ("ok", (value, backend_path(oracle))))
        except MemoryError as exc:
            # Out of the worker's memory budget: on a hostile parameter whose output no machine holds, that is how a
            # framework refuses; on any other case it is a blow-up, reported as a crash.
            kind = "error" if case.config.defect in HOSTILE_PARAMETERS else "crash"
            send(conn, (kind, f"MemoryError: {exc}".strip()))
        except Exception as exc:  # noqa: BLE001 - the framework's error is the answer
            send(conn, ("error", f"{type(exc).__name__}: {exc}".strip()))


def worker_memory_budget() -> int:
    """Bytes an isolated worker may map beyond what it holds once its framework is loaded and warm: GiB from
    $CONVFUZZ_WORKER_MEMORY, default DEFAULT_WORKER_MEMORY_GIB (a bad value falls back to the default: the worker
    has no one to tell)."""
    raw = os.environ.get(WORKER_MEMORY_ENV, "").strip()
    try:
        gib = float(raw) if raw else DEFAULT_WORKER_MEMORY_GIB
    except ValueError:
        gib = DEFAULT_WORKER_MEMORY_GIB
    return int(max(gib, 0.25) * 2**30)


def cap_address_space(extra_bytes: int) -> bool:
    """Let this process map at most `extra_bytes` more address space than it has now (RLIMIT_AS), so that an
    allocation beyond it fails (MemoryError, or the framework's own out-of-memory error) instead of taking the
    machine. False where the platform cannot say what the process has mapped (no /proc)."""
    try:
        with open("/proc/self/statm") as statm:
            mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return False
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = mapped + extra_bytes if hard == resource.RLIM_INFINITY else min(mapped + extra_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return True


def close_oracles(oracles: Mapping[str, Oracle]) -> None:
    """Stop the worker process of every isolated oracle in `oracles` (others are left alone)."""
    for oracle in oracles.values():
        if isinstance(oracle, IsolatedOracle):
            oracle.close()


def describe_exit(code: int | None) -> str:
    """'killed by SIGSEGV' for a negative exit code, 'exited with status 3' otherwise."""
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


class IsolatedOracle:
    """An oracle that runs `target` in its own spawned worker process (see the module docstring)."""

    def __init__(
        self, target: str, case_timeout: float = 60.0, wait: bool = True, environment: Environment | None = None
    ) -> None:
        """Start the worker for `target` (a name as this interpreter builds it: 'torch@cuda'); with `wait`, also
        wait until it is ready (else call wait_ready() before the first case: several workers then start at once,
        and their imports overlap). With `environment`, the worker runs that environment's interpreter and the
        oracle is named for it ('torch@nightly@cuda')."""
        self.target = target
        self.environment = environment
        self.versions: dict[str, str] = {}  # the worker's python, numpy and framework versions
        self.case_timeout = case_timeout
        self.restarts = 0
        self.last_path: str | None = None
        self._context = multiprocessing.get_context("spawn")
        self._stderr = Path(tempfile.mkstemp(prefix="convfuzz-worker-", suffix=".log")[1])
        self._process: Any = None
        self._conn: Connection | None = None
        self.facts: dict[str, Any] = {}
        self._warm = False
        self.name, self._devices = target, ()
        self._launch()
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Wait for the worker started last to be ready: its oracle's name, devices and kernel facts; raises
        OracleUnavailable (the framework is missing) or OracleFailure (the worker died starting)."""
        status, payload = self._receive(STARTUP_TIMEOUT_SECONDS)
        if status == "unavailable":
            self._stop()
            raise OracleUnavailable(payload)
        name, devices, self.facts, self.versions = payload
        self.name = qualified(str(name), self.environment.name) if self.environment else str(name)
        self._devices = tuple(devices)

    def devices(self) -> tuple[str, ...]:
        """The devices the oracle reported from inside its worker."""
        return tuple(self._devices)

    def run(self, case: ConvCase) -> FloatArray:
        """The oracle's answer from the worker; raises OracleFailure when the worker crashes or hangs."""
        if self._conn is None:
            self.restarts += 1
            self._start()
        assert self._conn is not None
        try:
            send(self._conn, case)
        except (BrokenPipeError, ConnectionResetError):
            # The worker died after answering the last case and before this one (heap corruption caught when a
            # buffer is freed; the kernel's out-of-memory killer): not this case's doing. A fresh worker takes it.
            self._stop()
            self.restarts += 1
            self._start()
            assert self._conn is not None
            send(self._conn, case)
        try:
            if not self._warm:
                self._receive(STARTUP_TIMEOUT_SECONDS)  # the worker's warm-up, then the case on its own clock
                self._warm = True
            status, payload = self._receive(self.case_timeout)
        except OracleFailure:
            raise  # the worker is already stopped
        except BaseException:
            # Interrupted while waiting (Ctrl-C, SIGTERM): the worker will still answer this case, and that answer
            # would be read as the next case's. A worker whose exchange was cut off is stopped; the next call starts
            # a fresh one.
            self._stop()
            raise
        if status == "ok":
            value: FloatArray = payload[0]
            self.last_path = payload[1]
            return value
        if status == "crash":
            self._stop()
            raise OracleFailure("crash", payload)
        raise ForwardedError(str(payload))

    def close(self) -> None:
        """Stop the worker and remove its log."""
        if self._conn is not None:
            with contextlib.suppress(OSError):
                send(self._conn, None)
        self._stop()
        self._stderr.unlink(missing_ok=True)

    def _start(self) -> None:
        """A fresh worker (after a crash or timeout stopped the last one), ready for cases."""
        self._launch()
        self.wait_ready()

    def _launch(self) -> None:
        if self.environment is not None:
            foreign = ForeignProcess(self.environment.python, self.target, str(self._stderr))
            self._process, self._conn = foreign, foreign.connection
        else:
            parent, child = self._context.Pipe()
            self._process = self._context.Process(
                target=worker_main, args=(child, self.target, str(self._stderr)), daemon=True
            )
            self._process.start()
            child.close()
            self._conn = parent
        self._warm = False

    def _receive(self, timeout: float) -> tuple[str, Any]:
        assert self._conn is not None and self._process is not None
        ready = wait([self._conn, self._process.sentinel], timeout)
        if self._conn in ready:
            try:
                message: tuple[str, Any] = receive(self._conn)
                return message
            except (EOFError, OSError):
                pass  # the worker died while or after answering: treated below
        if not ready:
            self._stop()
            raise OracleFailure("timeout", f"no answer within {timeout:g} s{self._stderr_head()}")
        self._process.join(5)
        detail = describe_exit(self._process.exitcode)
        self._stop()
        raise OracleFailure("crash", detail + self._stderr_head())

    def _stderr_head(self) -> str:
        try:
            lines = self._stderr.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        head = [line.strip() for line in lines if line.strip()][:STDERR_LINES]
        return ("; stderr: " + " | ".join(head)) if head else ""

    def _stop(self) -> None:
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(5)  # at once where it has ended: reaps it
        if self._conn is not None:
            self._conn.close()
        self._conn = None

