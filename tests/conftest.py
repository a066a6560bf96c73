"""Shared test settings: a deterministic Hypothesis profile, and oracle fixtures that skip when missing."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from convfuzz.fuzz.campaign.settings import GRADIENTS_ENV
from convfuzz.oracles.base import Oracle, OracleUnavailable
from convfuzz.oracles.isolation import IsolatedOracle, close_oracles
from convfuzz.oracles.registry import IN_PROCESS, make_oracle
from convfuzz.strategies.sizes import SIZES_ENV

# pytester for the tests that run pytest on sample projects; the campaign marker follows what each test runs
# (tests/campaign_marker.py).
pytest_plugins = ["pytester", "tests.campaign_marker"]

settings.register_profile(
    "convfuzz-tests", derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile("convfuzz-tests")

# The suite's campaigns and strategy tests draw small cases of forward ops, as they did before the large size
# classes and the default share of gradients existed: each test was written and timed for them, and large cases and
# gradients cost several times as much per check. The tests about size classes and gradients name theirs
# (sizes=SIZE_CLASSES, gradients="some"); subprocesses the tests start inherit these.
os.environ.setdefault(SIZES_ENV, "small")
os.environ.setdefault(GRADIENTS_ENV, "none")


# One worker process per framework oracle, shared by the whole session (starting one imports its framework).
_ISOLATED: dict[str, Oracle] = {}


def oracle_or_skip(name: str) -> Oracle:
    """The named oracle, or skip the test with the reason it is unavailable.

    Framework oracles run isolated, as campaigns run them: when a test campaign's draws meet a real crash of
    torch or XLA (it has happened twice: a oneDNN segfault and an XLA abort), the test sees a crash finding
    instead of pytest dying with it. The reference and the hand check run in-process."""
    try:
        if name in IN_PROCESS:
            return make_oracle(name)
        if name not in _ISOLATED:
            _ISOLATED[name] = IsolatedOracle(name)
        return _ISOLATED[name]
    except OracleUnavailable as exc:
        pytest.skip(str(exc))


def in_process_or_skip(name: str) -> Oracle:
    """The named oracle built in this process, for tests that look inside it; or skip when it is unavailable."""
    try:
        return make_oracle(name)
    except OracleUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session", autouse=True)
def _stop_isolated_workers() -> Iterator[None]:
    yield
    close_oracles(_ISOLATED)


@pytest.fixture(scope="session")
def torch_oracle() -> Oracle:
    return oracle_or_skip("torch")


@pytest.fixture(scope="session")
def jax_oracle() -> Oracle:
    return oracle_or_skip("jax")
