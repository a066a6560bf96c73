"""What an oracle's name says: the framework it belongs to, and whether it is a direct call of that framework.

Names are 'torch', a variant 'torch-nomkldnn', a relation 'torch-batchsplit', a pinned name 'jax-eager@cpu', our
'reference' or 'handcheck', or a user's 'module:factory'.
"""

from __future__ import annotations

from convfuzz.oracles.framework import framework_of_variant
from convfuzz.oracles.pinned import split_pin


def framework_of(name: str) -> str:
    """The framework an oracle belongs to: 'torch-nomkldnn@cuda' -> 'torch', 'jax-eager' -> 'jax', 'torch-linear' ->
    'torch'. Variants and relations of one framework share most of its code, and so its bugs: the judge counts them
    as one voter, and a bug's component is named by it."""
    return name.partition("@")[0].split("-")[0]


def direct_framework(name: str) -> str | None:
    """The framework ('torch', 'jax', ...) of an oracle that calls that framework's convolution directly (any
    variant, pinned or not), whose call a user can write; None for our reference, relations, matmul and hand
    checks."""
    framework = framework_of_variant(split_pin(name)[0])
    return None if framework is None else framework.name
