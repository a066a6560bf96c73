"""Real discrepancies of the installed frameworks that campaigns in tests may run into. Tests that assert "no false
alarm on correct frameworks" accept exactly these and nothing else: a finding not explained here fails the test.

A finding is explained when it files under the bug of a committed finding (fuzz.store.bugs: the same component,
device and kind of wrongness, trigger features one within the other); what that bug is, and whether it is expected,
is stored in the committed finding's triage (`convfuzz explain ID`). The predicates below are the few families whose
reach is wider than the committed findings' features show (it depends on the CPU's oneDNN paths, or on where the
transposed port's padding lands), each named after the committed finding it widens.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path

from convfuzz.fuzz.store.bugs import BugBook, file_under_bug
from convfuzz.fuzz.store.folder import FindingStore
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.oracles.lax_conventions import transposed_padding
from convfuzz.oracles.pinned import split_pin
from convfuzz.strategies.case import DTYPES, OPS

FINDINGS = Path(__file__).resolve().parent.parent / "findings"


@cache
def committed_bugs() -> BugBook:
    """The bugs of the committed findings."""
    return BugBook(FindingStore(FINDINGS).load()[0])


def committed_signatures_in_every_op_and_dtype() -> list[str]:
    """The committed findings' signatures, each also as it reads for every other op and dtype: a campaign given
    them as known spends no time shrinking a committed bug again where it shows in another op or dtype (the JAX
    hostile-padding abort does in every op; each shrink step of a crash restarts a worker)."""
    found = []
    for record in (r for bug in committed_bugs().bugs.values() for r in bug.findings):
        _, _, rest = record.signature.split("|", 2)
        found += [f"{op}|{dtype}|{rest}" for op in OPS for dtype in DTYPES]
    return found


def committed_bug(finding: FindingRecord) -> bool:
    """True when `finding` files under the bug of a committed finding."""
    committed = committed_bugs()
    together = file_under_bug([f for bug in committed.bugs.values() for f in bug.findings], replace(finding, bug=""))
    return together.key_of(finding.id) in committed.bugs


def _base(suspect: str) -> str:
    return split_pin(suspect)[0]


def xla_negative_low_padding(finding: FindingRecord) -> bool:
    """Widens conv1d-float32-mismatch-jax-97e80552 (openxla/xla#48713) to the transposed port and the VJP, which
    pass such pads to XLA when torch's pad exceeds the kernel's reach: the case's own padding does not show it."""
    cfg = finding.case.config
    pads = transposed_padding(cfg) if cfg.transposed else cfg.pad_pairs()
    jax_only = all(_base(s).startswith("jax") for s in finding.suspects)
    return jax_only and any(lo < 0 < hi for lo, hi in pads)


def nan_leaks_across_groups_or_positions(finding: FindingRecord) -> bool:
    """Widens conv1d-float64-nonfinite-jax-a9ddecfe (a float64 grouped NaN spread that a NaN's position may put
    beyond what zeros explain) and the oneDNN bfloat16 NaN leaks b22503a1 and febac01e, which reach any shape
    oneDNN's bfloat16 paths serve on the CPU at hand (also through the metamorphic oracles' derived calls)."""
    cfg = finding.case.config
    if finding.kind != "nonfinite":
        return False
    frameworks = {_base(s).split("-")[0] for s in finding.suspects}
    jax_leak = frameworks == {"jax"} and cfg.dtype == "float64" and cfg.groups > 1
    torch_leak = frameworks == {"torch"} and cfg.dtype == "bfloat16"
    return jax_leak or torch_leak


def torch_bf16_channels_last_conv_backward_crash(finding: FindingRecord) -> bool:
    """Widens conv_transpose2d-bfloat16-crash-torch-vjp-da1ae7f6 to every shape of the family: the oneDNN input
    gradient of a bfloat16 conv2d with a channels_last weight segfaults for many strided, dilated shapes."""
    cfg = finding.case.config
    return finding.kind == "crash" and set(finding.suspects) <= {"torch-vjp"} and cfg.dtype == "bfloat16" and (
        cfg.layout == "channels_last"
    )


def torch_bf16_channels_last_3d_one_by_one_crash(finding: FindingRecord) -> bool:
    """Widens conv3d-bfloat16-crash-torch-ffd3b8ee: oneDNN's bfloat16 conv3d with channels_last_3d tensors
    segfaults on strided, padded 1x1x1 kernels, whatever else the shrunk case kept."""
    cfg = finding.case.config
    torch_only = all(_base(s).startswith("torch") for s in finding.suspects)
    return finding.kind == "crash" and torch_only and cfg.op == "conv3d" and cfg.layout == "channels_last"


def unexplained(findings: list[FindingRecord]) -> list[str]:
    """The messages of the findings that neither a committed bug nor a wider family explains."""
    wider = (xla_negative_low_padding, nan_leaks_across_groups_or_positions,
             torch_bf16_channels_last_conv_backward_crash, torch_bf16_channels_last_3d_one_by_one_crash)
    return [f"{f.id}: {f.message}" for f in findings
            if not committed_bug(f) and not any(explains(f) for explains in wider)]
