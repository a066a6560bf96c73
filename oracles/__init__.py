"""Who computes: one adapter per framework behind one interface, plus the NumPy reference."""

from oracles.base import Oracle, OracleUnavailable, Outcome
from oracles.registry import make_oracle, oracle_names
from oracles.selection import available_oracles

__all__ = ["Oracle", "OracleUnavailable", "Outcome", "available_oracles", "make_oracle", "oracle_names"]
