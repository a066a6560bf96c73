"""The judge and attribution by consensus, on real cases with controlled outcomes."""

from __future__ import annotations

import random
from itertools import combinations

import numpy as np

from convfuzz.fuzz.judge.consensus import minimal_suspects
from convfuzz.fuzz.judge.verdict import judge, yardstick
from convfuzz.oracles.base import Outcome
from convfuzz.oracles.names import framework_of
from convfuzz.strategies.case import ConvCase
from tests.helpers import make_case


def outcomes(case: ConvCase, **perturbed: np.ndarray | str) -> dict[str, Outcome]:
    exact = yardstick(case).exact
    result = {name: Outcome(value=exact.copy()) for name in ("reference", "torch", "jax")}
    for name, change in perturbed.items():
        result[name] = Outcome(error=change) if isinstance(change, str) else Outcome(value=change)
    return result


def consistent_from(groups: list[set[str]]):  # type: ignore[no-untyped-def]
    return lambda a, b: any(a in g and b in g for g in groups)


def test_minimal_suspects() -> None:
    names = ["jax", "reference", "torch"]
    assert minimal_suspects(names, consistent_from([set(names)]), {}) == ()
    assert minimal_suspects(names, consistent_from([{"jax", "reference"}]), {}) == ("torch",)
    # torch and jax outvote our reference: then the reference is the suspect.
    assert minimal_suspects(names, consistent_from([{"jax", "torch"}]), {}) == ("reference",)
    # two voters that disagree: never blame the reference on a tie.
    assert minimal_suspects(["reference", "torch"], consistent_from([]), {}) == ("torch",)
    # all disagree: keep the reference, blame the frameworks furthest from it first.
    assert minimal_suspects(names, consistent_from([]), {"jax": 3.0, "torch": 9.0}) == ("jax", "torch")


def test_results_within_the_bound_pass() -> None:
    case = make_case()
    exact = yardstick(case).exact
    rounded = exact.astype(np.float32).astype(np.float64)  # what a perfect float32 implementation returns
    verdict = judge(case, outcomes(case, torch=rounded, jax=rounded * (1 + 2**-22)))
    assert not verdict.discrepant and verdict.max_ratio < 1


def test_wrong_element_is_a_mismatch_with_its_location() -> None:
    case = make_case()
    wrong = yardstick(case).exact.copy()
    wrong[0, 3, 2, 1] += 0.5
    verdict = judge(case, outcomes(case, torch=wrong))
    assert verdict.kind == "mismatch" and verdict.suspects == ("torch",)
    assert verdict.observations["torch"].comparison is not None
    assert verdict.observations["torch"].comparison.worst_index == (0, 3, 2, 1)
    assert verdict.message.startswith("out[0, 3, 2, 1]=") and "[torch vs reference]" in verdict.message


def test_small_excess_in_half_is_precision() -> None:
    case = make_case("float16", k=3)
    yard = yardstick(case)
    # Off by 4 float16 ulps of |x| conv |w|: beyond float32 accumulation, within float16 accumulation of K=18.
    off = yard.exact + 4 * 2.0**-11 * yard.abs_sum
    verdict = judge(case, outcomes(case, jax=off))
    assert verdict.kind == "precision" and verdict.suspects == ("jax",)


def test_nan_and_wrong_shape_are_mismatches() -> None:
    case = make_case()
    exact = yardstick(case).exact
    nan = exact.copy()
    nan[0, 0, 0, 0] = np.nan
    assert judge(case, outcomes(case, jax=nan)).kind == "mismatch"
    assert judge(case, outcomes(case, torch=exact[:, :, :-1])).kind == "mismatch"


def test_an_oracle_that_raises_is_an_error_mismatch() -> None:
    case = make_case()
    verdict = judge(case, outcomes(case, torch="RuntimeError: boom"))
    assert verdict.kind == "error_mismatch" and verdict.suspects == ("torch",)
    assert "torch raised RuntimeError: boom" in verdict.message


def test_reference_outvoted_is_the_suspect() -> None:
    case = make_case()
    exact = yardstick(case).exact
    verdict = judge(case, outcomes(case, reference=exact + 1.0))
    assert verdict.suspects == ("reference",) and verdict.kind == "mismatch"


def test_exact_tier_blames_any_difference() -> None:
    case = make_case(family="small_int")
    exact = yardstick(case).exact
    tiny = exact.copy()
    tiny[0, 0, 0, 0] += 2.0**-20  # far inside the float bound, but integer data must be exact
    verdict = judge(case, outcomes(case, torch=tiny))
    assert verdict.exact_tier and verdict.kind == "precision" and verdict.suspects == ("torch",)
    assert not judge(case, outcomes(case)).discrepant


def test_crashes_never_outvote_the_others() -> None:
    case = make_case()
    exact = yardstick(case).exact
    outcomes = {"reference": Outcome(value=exact), "a": Outcome(error="killed by SIGSEGV", failure="crash"),
                "b": Outcome(error="no answer within 1 s", failure="timeout")}
    verdict = judge(case, outcomes)
    assert verdict.suspects == ("a", "b") and verdict.kind == "crash"
    # Two ordinary errors do agree with each other: then the reference that returned numbers is outvoted.
    rejected = {**outcomes, "a": Outcome(error="ValueError: bad"), "b": Outcome(error="TypeError: worse")}
    assert judge(case, rejected).suspects == ("reference",)


def test_frameworks_sharing_a_rounding_shortcut_do_not_outvote_the_reference() -> None:
    # torch (twice: two variants of one kernel) just beyond its float16 PASS bound, jax just inside its own, in the
    # same direction: every framework pair is consistent within its summed bounds, only torch vs reference is not.
    # The four frameworks would outvote the reference, but all are within float16-accumulation precision of it,
    # so the reference is right and torch's deviation is a precision finding.
    case = make_case("float16", k=3)
    yard = yardstick(case)
    pass_bound = yard.bound("torch", "pass")
    base = {"reference": Outcome(value=yard.exact.copy())}
    for name, factor in (("torch", 1.4), ("torch-nomkldnn", 1.4), ("jax", 0.6), ("jax-eager", 0.6)):
        base[name] = Outcome(value=yard.exact + factor * pass_bound)
    verdict = judge(case, base)
    assert verdict.kind == "precision" and verdict.suspects == ("torch", "torch-nomkldnn")
    # The same agreement far beyond any precision contract does blame the reference.
    far = {**base, **{n: Outcome(value=yard.exact + 1.0) for n in ("torch", "torch-nomkldnn", "jax", "jax-eager")}}
    assert judge(case, far).suspects == ("reference",)


def test_variants_of_one_framework_count_as_one_voter() -> None:
    # Four JAX variants share an XLA bug; torch, its oneDNN-off variant and the reference are right. By oracle
    # count the JAX block would outvote the other three; by framework it is one voter against two.
    names = ["jax", "jax-eager", "jax-f32out", "jax-nhwc", "reference", "torch", "torch-nomkldnn@cpu"]
    jax_block = {"jax", "jax-eager", "jax-f32out", "jax-nhwc"}
    agreeing = consistent_from([jax_block, {"reference", "torch", "torch-nomkldnn@cpu"}])
    assert minimal_suspects(names, agreeing, {}) == tuple(sorted(jax_block))


def _suspects_by_trying_every_subset(names: list[str], consistent, deviation: dict[str, float]):  # type: ignore[no-untyped-def]
    """The definition minimal_suspects implements: try every subset, keep the best key."""
    ordered = sorted(names)
    best, best_key = tuple(ordered), None
    for size in range(len(ordered)):
        for subset in combinations(ordered, size):
            rest = [n for n in ordered if n not in subset]
            if all(consistent(a, b) for a, b in combinations(rest, 2)):
                key = (len({framework_of(n) for n in subset}), "reference" in subset, size,
                       -sum(deviation.get(n, 0.0) for n in subset), subset)
                if best_key is None or key < best_key:
                    best, best_key = subset, key
    return best


def test_minimal_suspects_equals_trying_every_subset() -> None:
    """The clique search gives exactly the exhaustive answer (which took minutes with 23 oracles)."""
    rng = random.Random(7)
    pool = ["reference", "torch", "jax", "torch-nomkldnn", "jax-eager", "torch-vjp", "jax-nhwc", "handcheck",
            "torch@cpu"]
    for _ in range(400):
        names = rng.sample(pool, rng.randint(1, len(pool)))
        density = rng.random()
        edges = {frozenset(p) for p in combinations(names, 2) if rng.random() < density}
        deviation = {n: rng.choice([0.0, 1.0, 2.0, 5.0]) for n in names}

        def agree(a: str, b: str, edges: set[frozenset[str]] = edges) -> bool:
            return frozenset((a, b)) in edges

        assert minimal_suspects(names, agree, deviation) == _suspects_by_trying_every_subset(names, agree, deviation)


def test_minimal_suspects_scales_to_many_oracles() -> None:
    names = [f"torch-v{i}" for i in range(30)] + ["jax", "reference"]
    blamed = {"torch-v3", "torch-v17"}
    assert minimal_suspects(names, lambda a, b: not ({a, b} & blamed), {}) == tuple(sorted(blamed))
