"""What to generate: convolution cases and their tensor values (no framework imports here).

For use in your own Hypothesis tests, `from convfuzz.strategies import conv_cases` (and ConvCase, SizeBudget)
works: those names are looked up when first asked for. The package imports nothing itself on purpose: an isolated
oracle's worker unpickles cases (strategies.case) at every start, and importing Hypothesis there (strategies.conv)
would add a tenth of a second to each restart after a crash.
"""

from __future__ import annotations

import importlib
from typing import Any

# The names a user's own test imports from the package, and the module each lives in.
_EXPORTS = {
    "conv_cases": "convfuzz.strategies.conv",
    "ConvCase": "convfuzz.strategies.case",
    "SizeBudget": "convfuzz.strategies.budget",
}
__all__ = ["ConvCase", "SizeBudget", "conv_cases"]  # found by __getattr__ below


def __getattr__(name: str) -> Any:
    """`from convfuzz.strategies import conv_cases`: imports the module that holds the name only when asked for."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'convfuzz.strategies' has no attribute {name!r}")
