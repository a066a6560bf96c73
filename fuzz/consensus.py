"""Attribution by consensus: the smallest set of oracles whose removal leaves the rest consistent.

Pure Python, no project imports: its source is inlined verbatim into every standalone repro script.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import combinations


def minimal_suspects(
    names: Sequence[str],
    consistent: Callable[[str, str], bool],
    deviation: Mapping[str, float],
    trusted: str = "reference",
) -> tuple[str, ...]:
    """The smallest subset whose removal leaves every remaining pair consistent.

    Ties prefer sets without `trusted` (our own reference is the suspect only when the frameworks outvote it),
    then the set that deviates most from the reference (`deviation`: each oracle's err/bound against it),
    then alphabetical order. Returns () when all agree.
    """
    for size in range(len(names)):
        candidates = []
        for subset in combinations(sorted(names), size):
            rest = [n for n in names if n not in subset]
            if all(consistent(a, b) for a, b in combinations(rest, 2)):
                candidates.append(subset)
        if candidates:
            return min(candidates, key=lambda s: (trusted in s, -sum(deviation.get(n, 0.0) for n in s), s))
    return tuple(sorted(names))
