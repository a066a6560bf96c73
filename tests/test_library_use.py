"""convfuzz as a library, as the README shows it: a user's own Hypothesis test draws cases with `conv_cases`,
computes them with their own code, and asks the judge whether the result is within the rounding bound of the
float64 reference. The same test passes on a correct implementation and fails, shrunk, on a planted bug."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings

from convfuzz.fuzz.judge.verdict import judge
from convfuzz.oracles.base import Outcome
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.strategies import ConvCase, conv_cases


def torch_conv2d(case: ConvCase, extra: float = 0.0) -> np.ndarray:
    """The user's code under test: F.conv2d on the case's tensors (F.pad first, for asymmetric or negative pads),
    plus `extra` to plant a bug."""
    torch = pytest.importorskip("torch")
    functional: Any = torch.nn.functional
    cfg = case.config
    x, w = torch.from_numpy(case.x).float(), torch.from_numpy(case.w).float()
    b = None if case.b is None else torch.from_numpy(case.b).float()
    pads = [p for lo, hi in reversed(cfg.pad_pairs()) for p in (lo, hi)]
    out = functional.conv2d(functional.pad(x, pads), w, b, stride=cfg.stride, dilation=cfg.dilation, groups=cfg.groups)
    return np.asarray(out.double().numpy()) + extra


def user_test(conv: Callable[[ConvCase], np.ndarray]) -> Callable[[], None]:
    """The test a user writes, around their own conv."""

    @settings(max_examples=25, deadline=None, database=None)
    @given(conv_cases(ops=("conv2d",), dtypes=("float32",), layouts=("contiguous",), padding_modes=("zeros",)))
    def test_my_conv2d(case: ConvCase) -> None:
        assume(case.config.batch_groups == 1)  # lax's batch_group_count: torch has no such argument
        verdict = judge(case, {"reference": Outcome.of(ReferenceOracle(), case), "mine": Outcome(value=conv(case))})
        assert not verdict.discrepant, verdict.message

    runnable: Callable[[], None] = test_my_conv2d
    return runnable


def test_a_users_own_test_passes_on_a_correct_conv() -> None:
    user_test(torch_conv2d)()


def test_a_users_own_test_fails_on_a_planted_bug() -> None:
    with pytest.raises(AssertionError, match="mine"):
        user_test(lambda case: torch_conv2d(case, extra=0.5))()


def test_the_package_imports_no_hypothesis_until_asked() -> None:
    """Workers import strategies.case at every start: the package itself must stay free of Hypothesis."""
    code = "import sys, convfuzz.strategies.case; print('hypothesis' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"
