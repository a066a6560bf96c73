"""Bugs, not duplicates: findings of one root cause share a bug key, findings of different ones do not; a campaign
tells a new bug from a new finding of a known one, and its exit status follows --fail-on."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.store.bugs import BugBook, bug_class, group_bugs, normalised_error
from convfuzz.fuzz.store.folder import FindingStore
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.oracles.base import Oracle
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.strategies.case import FORWARD_OPS
from tests.helpers import make_record
from tests.known_bugs import unexplained
from tests.planted import SwappedGroups

FINDINGS = Path(__file__).resolve().parent.parent / "findings"


def variant(record: FindingRecord, name: str, **config: Any) -> FindingRecord:
    """`record` as if found with another configuration (its features) and under another id."""
    case = record.case
    return replace(record, id=name, bug="", case=replace(case, config=replace(case.config, **config)))


def test_features_within_each_other_are_one_bug_and_others_are_not() -> None:
    base = make_record()  # a planted dropped bias: groups + padding + bias
    assert bug_class(base).features == ("groups", "padding", "bias")
    smaller = variant(base, "a", groups=1, in_channels=2, out_channels=2)  # padding + bias: within the first
    other = variant(base, "b", groups=1, in_channels=2, out_channels=2, bias=False, stride=(2, 2))
    book = BugBook([base, smaller, other])
    assert book.key_of(base.id) == book.key_of("a") != book.key_of("b")
    # Another framework, or another device, is another bug whatever the features.
    elsewhere = replace(base, id="c", suspects=("jax",), observed={"jax": base.observed[base.suspects[0]]})
    assert not bug_class(elsewhere).same_class(bug_class(base))
    on_gpu = variant(base, "d", device="cuda")
    assert not bug_class(on_gpu).same_class(bug_class(base))


def test_errors_group_by_message_without_numbers_and_crashes_by_native_frame() -> None:
    one = "RuntimeError: expected 3 channels, got 4 at 0x7f00aa"
    two = "RuntimeError: expected 12 channels, got 16 at 0x7f11bb"
    assert normalised_error(one) == normalised_error(two)
    assert normalised_error(one) != normalised_error("ValueError: expected 3 channels, got 4")
    base = make_record()
    suspect = base.suspects[0]

    def crash(name: str, stderr: str, **config: Any) -> FindingRecord:
        found = variant(base, name, **config)
        return replace(found, kind="crash", observed={suspect: {"against": "reference", "error": stderr}})

    abort = "killed by SIGABRT; stderr: F1126 algebraic_simplifier.cc:586] Check failed"
    same_frame = [crash("x", abort), crash("y", abort, groups=1, in_channels=2, out_channels=2, bias=False)]
    assert len(group_bugs(same_frame)) == 1  # the frame decides, not the features
    segv = [crash("s", "killed by SIGSEGV; stderr: Fatal Python error"),
            crash("t", "killed by SIGSEGV; stderr: Fatal Python error", groups=1, in_channels=2, out_channels=2,
                  bias=False, padding=replace(base.case.config.padding, pairs=((0, 0), (0, 0))), stride=(2, 2))]
    assert len(group_bugs(segv)) == 2  # no frame: the features tell them apart


def test_the_committed_findings_group_into_the_problems_a_reader_sees() -> None:
    records, problems = FindingStore(FINDINGS).load()
    assert not problems
    stored = {r.id: r.bug for r in records}
    # Recomputed from scratch, the grouping is the stored one.
    recomputed = {f.id: bug.key for bug in group_bugs([replace(r, bug="") for r in records]) for f in bug.findings}
    assert recomputed == stored
    # The partition a reader of the 43 findings sees (docs/findings.md's catalogue), written out by hand: the
    # findings (by hash) that share a root cause. The catalogue reads two pairs as one problem each that the keys
    # keep apart, because they ran on other devices or ops (7e70e843 on the CPU and 662333eb on a GPU; 4762be84
    # and 85894d34, JAX NaN on a GPU in two ops): those are four bugs here.
    partition = {
        frozenset({"c5843d9c"}),  # oneDNN grouped bfloat16 conv3d, channels_last_3d: zeros
        frozenset({"65c1ea64", "84ee89de", "c91b92bb", "b2734576"}),  # torch.compile: Exponent must be non-negative
        frozenset({"0609d169"}),  # bfloat16 conv2d on a Xeon host
        frozenset({"d2ae54c0", "ffd3b8ee", "d137e478"}),  # oneDNN segfault, strided dilated channels_last
        frozenset({"97e80552"}),  # XLA negative padding reads garbage
        frozenset({"3d0396f6", "5d3b2205", "d31a8e5e", "d9a76c7f", "2b81cd8f", "81c8fab2"}),  # half-precision
        # accumulation of torch's transposed convs on the CPU
        frozenset({"a9ddecfe", "3ef08596", "426427df"}),  # XLA float64 NaN where zeros belong
        frozenset({"febac01e"}),  # torch bfloat16 conv_transpose1d NaN
        frozenset({"da1ae7f6"}),  # torch-vjp segfault
        frozenset({"7e70e843"}),  # JAX float16 bias gradient on the CPU
        frozenset({"662333eb"}),  # the same on a GPU
        frozenset({"3816737e", "a82d2c29", "186b6ef1"}),  # torch float16 gradients in half precision
        frozenset({"4762be84"}),  # JAX NaN on a GPU, conv_transpose3d float64
        frozenset({"85894d34"}),  # JAX NaN on a GPU, conv2d float16
        frozenset({"b6ccf0c6"}),  # torch-tf32 NaN on a GPU
        frozenset({"b22503a1"}),  # circular padding NaN in bfloat16
        frozenset({"def2b97c", "f94a591e"}),  # one XLA simplifier abort, two JAX oracles
        frozenset({"5f4d1a7e"}),  # torch: a dilation of 2^63-1 overflows, numbers instead of a refusal
        frozenset({"326d4b6b"}),  # XLA: a padding of 2^63-1 overflows, numbers instead of a refusal
        frozenset({"63637c23"}),  # XLA:CPU aborts when a 2^32-element output cannot be allocated
        # TensorFlow oneDNN's wrong output shape on an empty batch (row 20) and its bfloat16 conv2d leaving products
        # out (row 24): one key (wrong values, no special feature), two rows of the catalogue.
        frozenset({"5969c093", "f23f1bf7"}),
        frozenset({"7ad3cd1f"}),  # TensorFlow oneDNN: an output where the window does not fit
        frozenset({"10e48954"}),  # TensorFlow oneDNN: a stride of 2^31 aborts a graph pass
        frozenset({"424d7576"}),  # TensorFlow Eigen: half-precision transposed-conv accumulation
        frozenset({"7260e99e"}),  # TensorFlow: tf.pad of 2^63-1 overflows, numbers instead of a refusal
        frozenset({"38911de7"}),  # ONNX Runtime: Pad in wrap mode fails on an empty batch
        frozenset({"46cbe084"}),  # JAX 0.10.2: a cropped lhs-dilated conv's input gradient (0.9.2-0.10.0 abort)
    }
    groups: dict[str, set[str]] = {}
    for finding_id, key in stored.items():
        groups.setdefault(key, set()).add(finding_id.rsplit("-", 1)[1])
    assert {frozenset(g) for g in groups.values()} == partition


@pytest.mark.campaign
def test_a_planted_bug_is_one_bug_however_many_findings_it_gives(torch_oracle: Oracle, tmp_path: Path) -> None:
    planted = SwappedGroups()
    oracles = {"reference": ReferenceOracle(), "torch": torch_oracle, planted.name: planted}
    # Two dtypes whose torch kernels neither crash nor leak on any CPU seen so far (float16 conv3d segfaults on
    # some, which costs a worker restart per crash), so that the campaign's time is the planted bug's.
    settings = CampaignSettings(seed=1, max_examples=60, ops=FORWARD_OPS, dtypes=("float32", "float64"))
    store = FindingStore(tmp_path)
    stats = Campaign(oracles, settings, record=store.add).run()
    # Whatever torch itself gets wrong on this CPU in these dtypes must be a bug the committed findings know.
    assert not unexplained([f for f in stats.findings if planted.name not in f.suspects])
    records = [r for r in store.load()[0] if r.suspects == (planted.name,)]
    assert len(records) >= 3
    assert len({r.bug for r in records}) == 1 and all(r.bug for r in records)
    # Each finding records what chose the kernels: this CPU, and torch's facts from the worker that ran it.
    facts = records[0].environment["kernel_facts"]
    assert facts["cpu"]["machine"] and "mkldnn_bf16" in facts["torch"]
    assert len(group_bugs(records)) == 1


def run_cli(folder: Path, dtypes: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "convfuzz", "run", "--findings", str(folder), "--max-examples", "40", "--seed", "2",
         "--oracles", "reference,tests.planted:SwappedGroups", "--ops", "conv1d", "--dtypes", dtypes,
         "--workers", "1", "--no-isolation", "--database", "none", *extra],
        capture_output=True, text=True, timeout=300, check=False,
    )


@pytest.mark.campaign
def test_new_findings_of_a_known_bug_page_only_without_fail_on_new_bug(tmp_path: Path) -> None:
    first = run_cli(tmp_path, "float32", "--fail-on", "new-bug")
    assert first.returncode == 1, first.stdout + first.stderr  # a bug nobody had seen
    assert "new bug bug-" in first.stdout
    second = run_cli(tmp_path, "float64", "--fail-on", "new-bug")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "new finding of known bug bug-" in second.stdout and "new bug bug-" not in second.stdout
    third = run_cli(tmp_path, "float16")  # default --fail-on new-finding
    assert third.returncode == 1 and "new finding of known bug" in third.stdout, third.stdout + third.stderr
    assert len({r.bug for r in FindingStore(tmp_path).load()[0]}) == 1


def test_campaign_tests_accept_committed_bugs_and_nothing_else() -> None:
    """The "no false alarm" tests accept exactly what the committed findings (and their wider families) explain."""
    committed = FindingStore(FINDINGS).load()[0]
    assert unexplained(committed) == []
    assert unexplained([make_record()])  # a planted oracle's finding is no known bug


def small_in_half(record: FindingRecord, name: str, **config: Any) -> FindingRecord:
    """`record` as a precision finding of float16 that the judge named reduced-accumulation."""
    found = variant(record, name, dtype="float16", **config)
    signature = f"{found.signature}|{name}|reduced-accumulation"  # its own signature, as the judge would give it
    return replace(found, kind="precision", deviation="reduced-accumulation", signature=signature)


def test_a_wrong_formula_that_is_small_in_half_is_its_wrong_values_bug(tmp_path: Path) -> None:
    base = make_record()  # wrong values: groups + padding + bias
    small = replace(small_in_half(base, "small"), created="2000-01-01T00:00:00+00:00")  # the older one
    unrelated = small_in_half(base, "accumulation", groups=1, in_channels=2, out_channels=2, bias=False)
    book = BugBook([base, small, unrelated])
    assert book.key_of("small") == book.key_of(base.id) != book.key_of("accumulation")
    # In a folder: stored first under a bug of its own, the small one moves when the wrong-values bug arrives.
    store = FindingStore(tmp_path)
    assert store.add(small)
    first = store.load()[0][0].bug
    assert store.add(base)
    keys = {r.id: r.bug for r in store.load()[0]}
    assert keys["small"] == keys[base.id] != first
