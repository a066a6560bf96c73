"""Attribution by consensus: the smallest set of oracles whose removal leaves the rest consistent.

Pure Python, no project imports: its source is inlined verbatim into every standalone repro script.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import combinations


def framework_of(name: str) -> str:
    """The framework an oracle belongs to: 'torch-nomkldnn@cuda' -> 'torch', 'jax-eager' -> 'jax'. Variants of one
    framework share most of their code, and so their bugs: together they are one voter."""
    return name.partition("@")[0].split("-")[0]


def minimal_suspects(
    names: Sequence[str],
    consistent: Callable[[str, str], bool],
    deviation: Mapping[str, float],
    trusted: str = "reference",
) -> tuple[str, ...]:
    """The subset whose removal leaves every remaining pair consistent, blaming as few frameworks as possible.

    Frameworks are counted, not oracles: four JAX variants that share an XLA bug must not outvote torch and the
    reference. Then ties prefer fewer oracles, then sets without `trusted` (our own reference is the suspect only
    when the frameworks outvote it), then the set that deviates most from the reference (`deviation`: each
    oracle's err/bound against it), then alphabetical order. Returns () when all agree.
    """
    ordered = sorted(names)
    agrees = {pair: consistent(*pair) for pair in combinations(ordered, 2)}
    best: tuple[str, ...] = tuple(ordered)
    best_key: tuple[object, ...] | None = None
    for size in range(len(ordered)):
        for subset in combinations(ordered, size):
            rest = [n for n in ordered if n not in subset]
            if not all(agrees[pair] for pair in combinations(rest, 2)):
                continue
            key = (len({framework_of(n) for n in subset}), size, trusted in subset,
                   -sum(deviation.get(n, 0.0) for n in subset), subset)
            if best_key is None or key < best_key:
                best, best_key = subset, key
    return best
