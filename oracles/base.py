"""The one interface every oracle implements, and the outcome of calling it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from convfuzz.oracles.reference import widened
from convfuzz.strategies.case import ConvCase

FloatArray = npt.NDArray[np.float64]


class OracleUnavailable(RuntimeError):
    """Raised when an oracle's framework cannot be imported or used on this machine."""


class OracleFailure(Exception):
    """The oracle's process crashed or hung instead of answering: kind is 'crash' or 'timeout'."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class ForwardedError(Exception):
    """An exception raised inside a worker process, carried back as its 'Type: message' text."""


class Oracle(Protocol):
    """Computes a convolution case with one framework (or variant) and returns float64 numbers."""

    name: str

    def devices(self) -> tuple[str, ...]:
        """Devices this oracle can run cases on, e.g. ('cpu',) or ('cpu', 'cuda')."""
        ...

    def run(self, case: ConvCase) -> FloatArray:
        """The output of `case` converted exactly to float64; raises whatever the framework raises."""
        ...


def backend_path(oracle: Oracle) -> str | None:
    """The kernel family that served the oracle's last case, for oracles that can tell (torch: its conv backend,
    e.g. 'Mkldnn' or 'Slow2d'); None otherwise. Oracles that can tell keep it in a `last_path` attribute."""
    path = getattr(oracle, "last_path", None)
    return path if isinstance(path, str) else None


def warm_up(oracle: Oracle) -> None:
    """Pay an oracle's one-time start-up work (an oracle that compiles, like torch-compile, compiles a tiny case
    once: the compiler's imports and toolchain checks) where the oracle has a `warm_up` method, or a wrapper's
    inner oracle has. Failures are left for the first real case to show."""
    target = getattr(oracle, "warm_up", None)
    inner = getattr(oracle, "inner", None) or getattr(oracle, "base", None)  # pinned and metamorphic wrappers
    if target is None and inner is not None:
        warm_up(inner)
        return
    if callable(target):
        with contextlib.suppress(Exception):  # the first real case raises it again, as its own answer
            target()


@dataclass(frozen=True)
class Outcome:
    """What one oracle produced for one case: an array, or the error it raised."""

    value: FloatArray | None = None
    error: str | None = None
    failure: str | None = None  # 'crash' or 'timeout' when the oracle's process died or hung

    @classmethod
    def of(cls, oracle: Oracle, case: ConvCase) -> Outcome:
        """Run `oracle` on `case`, turning an exception into an error outcome (type name and message)."""
        try:
            return cls(value=widened(oracle.run(case)))
        except OracleFailure as failure:
            return cls(error=failure.detail, failure=failure.kind)
        except ForwardedError as exc:
            return cls(error=str(exc))
        except Exception as exc:  # noqa: BLE001 - any framework error is data for the judge
            return cls(error=f"{type(exc).__name__}: {exc}".strip())
