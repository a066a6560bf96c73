"""Shared test settings: a deterministic Hypothesis profile, and oracle fixtures that skip when missing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from oracles.base import Oracle, OracleUnavailable
from oracles.registry import make_oracle

settings.register_profile(
    "convfuzz-tests", derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile("convfuzz-tests")


def oracle_or_skip(name: str) -> Oracle:
    """The named oracle, or skip the test with the reason it is unavailable."""
    try:
        return make_oracle(name)
    except OracleUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def torch_oracle() -> Oracle:
    return oracle_or_skip("torch")


@pytest.fixture(scope="session")
def jax_oracle() -> Oracle:
    return oracle_or_skip("jax")
