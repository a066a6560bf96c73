"""Attribution by consensus: the smallest set of oracles whose removal leaves the rest consistent."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import combinations

from convfuzz.oracles.names import framework_of


def minimal_suspects(
    names: Sequence[str],
    consistent: Callable[[str, str], bool],
    deviation: Mapping[str, float],
    trusted: str = "reference",
) -> tuple[str, ...]:
    """The subset whose removal leaves every remaining pair consistent, blaming as few frameworks as possible.

    Frameworks are counted, not oracles: four JAX variants that share an XLA bug must not outvote torch and the
    reference, and two releases of torch that agree ('torch', 'torch@nightly') are one voter against it too. Then
    ties prefer sets without `trusted` (our own reference is the suspect only when more frameworks outvote it),
    then fewer oracles, then the set that deviates most from the reference (`deviation`: each oracle's err/bound
    against it), then alphabetical order. Returns () when all agree.
    """
    ordered = sorted(names)
    agrees = {pair: consistent(*pair) for pair in combinations(ordered, 2)}
    neighbours = {n: {m for m in ordered if m != n and agrees[(min(n, m), max(n, m))]} for n in ordered}
    best: tuple[str, ...] = tuple(ordered)
    best_key: tuple[object, ...] | None = None
    # The remaining oracles must agree pairwise: a clique of the agreement graph. Keeping more never blames more
    # frameworks or more oracles, so only the complements of maximal cliques can be best; enumerating those
    # (Bron-Kerbosch) gives the same answer as trying every subset, without 2^n subsets for n oracles.
    for clique in maximal_cliques(ordered, neighbours):
        subset = tuple(n for n in ordered if n not in clique)
        key = (len({framework_of(n) for n in subset}), trusted in subset, len(subset),
               -sum(deviation.get(n, 0.0) for n in subset), subset)
        if best_key is None or key < best_key:
            best, best_key = subset, key
    return best


def maximal_cliques(nodes: Sequence[str], neighbours: Mapping[str, set[str]]) -> list[frozenset[str]]:
    """Every maximal set of pairwise-adjacent `nodes` (Bron-Kerbosch with a pivot; iterative, no recursion)."""
    found: list[frozenset[str]] = []
    stack: list[tuple[frozenset[str], set[str], set[str]]] = [(frozenset(), set(nodes), set())]
    while stack:
        chosen, candidates, excluded = stack.pop()
        if not candidates and not excluded:
            found.append(chosen)
            continue
        pivot = max(candidates | excluded, key=lambda n: len(neighbours[n] & candidates))
        for node in sorted(candidates - neighbours[pivot]):
            stack.append((chosen | {node}, candidates & neighbours[node], excluded & neighbours[node]))
            candidates = candidates - {node}
            excluded = excluded | {node}
    return found
