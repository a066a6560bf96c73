"""Pinned oracles: 'torch@cuda' runs torch on the GPU whatever device the case names.

A pinned oracle turns a CPU-vs-GPU comparison of one framework into an ordinary pair of voters: with
`--oracles torch,torch@cuda,reference --devices cpu` every case runs on the CPU and again on the GPU.
"""

from __future__ import annotations

from dataclasses import replace

from convfuzz.oracles.base import FloatArray, Oracle, OracleUnavailable, backend_path
from convfuzz.oracles.environments import DEVICES, SEPARATOR, parts
from convfuzz.strategies.case import ConvCase

PIN_SEPARATOR = SEPARATOR
PINNABLE_DEVICES = DEVICES


def split_pin(name: str) -> tuple[str, str | None]:
    """'torch@cuda' -> ('torch', 'cuda'); 'torch' -> ('torch', None); an environment after an '@' is dropped
    ('torch@nightly@cuda' -> ('torch', 'cuda'): oracles.environments). Raises KeyError for a malformed suffix."""
    base, _, device = parts(name)
    return base, device


class PinnedOracle:
    """Runs `inner` on `device` for every case, whatever device the case itself names."""

    def __init__(self, inner: Oracle, device: str) -> None:
        if device not in inner.devices():
            raise OracleUnavailable(f"{inner.name} cannot run on {device} here (it runs on {inner.devices()})")
        self.inner = inner
        self.device = device
        self.name = f"{inner.name}{PIN_SEPARATOR}{device}"

    @property
    def last_path(self) -> str | None:
        """The inner oracle's backend path for its last case (see oracles.base.backend_path)."""
        return backend_path(self.inner)

    def devices(self) -> tuple[str, ...]:
        """Every device: the case's own device only decides where the other oracles run."""
        return PINNABLE_DEVICES

    def run(self, case: ConvCase) -> FloatArray:
        """The inner oracle's answer for `case` moved to the pinned device."""
        return self.inner.run(replace(case, config=replace(case.config, device=self.device)))
