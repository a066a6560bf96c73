"""A call as a user writes it: the source of a function `run_<oracle>()` that computes a case with numpy and one
framework, every argument spelled out.

A finding's script (fuzz.store.script), its upstream issue and `convfuzz explain` all show this one text. Each
framework writes its own calls (its descriptor's user_call, oracles.framework; torch's in oracles.torch_calls, JAX's
in oracles.jax_calls), spelling out the oracle's own description of its call, so the call a user reads is the call
the oracle made (their text: oracles.call_text). This module finds the framework that writes a call.
"""

from __future__ import annotations

from convfuzz.oracles.call_text import UserCall
from convfuzz.oracles.framework import framework_of_variant
from convfuzz.oracles.pinned import split_pin
from convfuzz.oracles.registry import is_known
from convfuzz.strategies.case import ConvConfig


def user_call(oracle: str, cfg: ConvConfig) -> UserCall | None:
    """How a user computes a case of `cfg` with oracle `oracle` (a framework's variant, pinned or not), needing
    numpy and that framework only, every argument of the call spelled out: its framework's own writing of the call
    (oracles.framework). None for any other oracle, and where the variant does not take part in such cases."""
    if not is_known(oracle):
        return None
    variant, pinned = split_pin(oracle)
    framework = framework_of_variant(variant)
    if framework is None or not framework.takes(variant, cfg):
        return None
    return framework.user_call(oracle, variant, pinned or cfg.device, cfg)


def user_runner(oracle: str, cfg: ConvConfig) -> str | None:
    """user_call's function `def run_<oracle>(X=X, W=W, ...) -> np.ndarray`, or None where there is no user call."""
    call = user_call(oracle, cfg)
    return None if call is None else call.runner()
