"""Who computes: one adapter per framework behind one interface, plus the NumPy reference."""

from convfuzz.oracles.base import Oracle, OracleUnavailable, Outcome
from convfuzz.oracles.registry import make_oracle, oracle_names
from convfuzz.oracles.selection import available_oracles

__all__ = ["Oracle", "OracleUnavailable", "Outcome", "available_oracles", "make_oracle", "oracle_names"]
