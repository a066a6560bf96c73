"""Kernel-selecting facts: a finding gone on a machine whose kernels are chosen differently is inconclusive, never
fixed; on the same facts it is fixed."""

from __future__ import annotations

import copy
import importlib.util
import json
import platform
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from convfuzz.fuzz.campaign.environment import finding_environment
from convfuzz.fuzz.campaign.replay import FIXED, INCONCLUSIVE, REPRODUCES, replay_record, updated_record
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.fuzz.store.script import unnamed_model
from convfuzz.oracles.base import Oracle
from convfuzz.oracles.kernel_facts import collect_facts, fact_differences, merge_facts
from convfuzz.oracles.reference_oracle import ReferenceOracle
from tests.helpers import Intermittent, stored_finding

FINDINGS = Path(__file__).resolve().parent.parent / "findings"

# Made-up facts of a machine whose torch sends bfloat16 convolutions to oneDNN's AVX-512 kernels.
AVX512_BF16: dict[str, Any] = {
    "cpu": {"vendor": "AuthenticAMD", "model": "AMD EPYC", "machine": "x86_64",
            "isa": {"avx2": True, "avx512f": True, "avx512_bf16": True, "amx_bf16": False}},
    "torch": {"version": "2.13.0+cpu", "cpu_capability": "AVX512", "mkldnn": True, "mkldnn_bf16": True,
              "mkldnn_fp16": False, "mkl": True, "mkldnn_version": "3.12.0"},
}


def avx2_only() -> dict[str, Any]:
    """The same model name, a CPU without AVX-512: the machine the issue was found on."""
    facts = copy.deepcopy(AVX512_BF16)
    facts["cpu"]["isa"].update(avx512f=False, avx512_bf16=False)
    facts["torch"].update(cpu_capability="AVX2", mkldnn_bf16=False)
    return facts


def finding_found_with(facts: dict[str, Any]) -> FindingRecord:
    """A planted-bug finding (torch drops the bias) recorded as found on a machine with `facts`."""
    record = stored_finding()
    return replace(record, environment={**record.environment, "kernel_facts": facts})


def gone_here() -> dict[str, Oracle]:
    """Oracles on which the planted finding no longer shows."""
    return {"reference": ReferenceOracle(), "torch": Intermittent(period=10**9), "jax": ReferenceOracle()}


def test_differences_name_each_kernel_selecting_fact_and_ignore_versions() -> None:
    here = avx2_only()
    here["torch"]["version"] = "2.14.0"  # a new release is what may have fixed it: never a reason to doubt
    lines = fact_differences(AVX512_BF16, here, ["torch"], "cpu")
    assert "found with avx512_bf16, this CPU lacks it" in lines
    assert "found with oneDNN bfloat16 support in torch, this machine lacks it" in lines
    assert "found with torch's CPU capability 'AVX512', this machine's is 'AVX2'" in lines
    assert not any("version" in line for line in lines)
    assert fact_differences(AVX512_BF16, copy.deepcopy(AVX512_BF16), ["torch"], "cpu") == []
    # A fact unknown on one side (an older finding, a leaner build) is not compared.
    assert fact_differences({"torch": {"mkldnn_bf16": True}}, {"torch": {}}, ["torch"], "cpu") == []


def test_gpu_facts_are_compared_on_cuda_only() -> None:
    h100 = {**AVX512_BF16, "torch": {**AVX512_BF16["torch"], "cuda": {"name": "NVIDIA H100", "capability": "9.0"}}}
    a100 = {**AVX512_BF16, "torch": {**AVX512_BF16["torch"], "cuda": {"name": "NVIDIA A100", "capability": "8.0"}}}
    on_cuda = fact_differences(h100, a100, ["torch"], "cuda")
    assert "found with GPU 'NVIDIA H100', this machine's is 'NVIDIA A100'" in on_cuda
    assert fact_differences(h100, a100, ["torch"], "cpu") == []
    # The GPU's name is a device of the finding whichever process saw it.
    assert finding_environment(h100)["devices"]["cuda"] == "NVIDIA H100"  # type: ignore[index]


def test_a_finding_gone_under_another_fingerprint_is_inconclusive_and_keeps_its_status() -> None:
    record = finding_found_with(AVX512_BF16)
    result = replay_record(record, gone_here(), here=avx2_only())
    assert result.state == INCONCLUSIVE and result.as_recorded
    assert "found with avx512_bf16, this CPU lacks it" in result.line()
    assert updated_record(result, {"torch": "2.14.0"}, datetime.now(UTC)) is None  # replay --update stores nothing


def test_a_finding_gone_under_the_same_fingerprint_is_fixed() -> None:
    record = finding_found_with(AVX512_BF16)
    assert replay_record(record, gone_here(), here=copy.deepcopy(AVX512_BF16)).state == FIXED


def test_accepting_other_hardware_calls_it_fixed_and_a_reproducing_finding_is_never_inconclusive() -> None:
    record = finding_found_with(AVX512_BF16)
    assert replay_record(record, gone_here(), here=avx2_only(), accept_other_hardware=True).state == FIXED
    still: dict[str, Oracle] = {"reference": ReferenceOracle(), "torch": Intermittent(period=1),
                                "jax": ReferenceOracle()}
    assert replay_record(record, still, here=avx2_only()).state == REPRODUCES


@pytest.mark.parametrize(
    ("found_on", "here", "state"),
    [
        ("AMD EPYC 7763 64-Core Processor", "AMD EPYC 7763 64-Core Processor", FIXED),
        ("AMD EPYC 7763 64-Core Processor", "AMD EPYC 9B14", INCONCLUSIVE),
        # A family name covers CPUs with and without AVX-512 or AMX: no machine can be shown to be the same.
        ("AMD EPYC", "AMD EPYC", INCONCLUSIVE),
        ("Intel(R) Xeon(R) Processor", "Intel(R) Xeon(R) Processor", INCONCLUSIVE),
    ],
)
def test_a_finding_known_by_its_cpu_name_alone_is_fixed_only_on_the_same_numbered_model(
    found_on: str, here: str, state: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("convfuzz.fuzz.campaign.replay.device_model", lambda device: here)
    record = stored_finding()
    legacy = replace(record, environment={"devices": {"cpu": found_on}})
    # Facts inferred later for torch alone still say nothing of the CPU: its name stands in for them.
    inferred = replace(record, environment={"devices": {"cpu": found_on}, "kernel_facts": {"torch": {"mkldnn": True}}})
    for finding in (legacy, inferred):
        result = replay_record(finding, gone_here(), here=collect_facts([]))
        assert result.state == state, result.line()
        if state == INCONCLUSIVE:
            assert repr(found_on) in result.reason
    # The finding's script says the same: with a family name its another_kernel() always answers.
    family_names = ("AMD EPYC", "Intel(R) Xeon(R) Processor")
    assert unnamed_model(legacy, "torch") == (found_on if found_on in family_names else None)


def test_facts_of_several_processes_merge_and_this_machine_has_its_cpu() -> None:
    merged = merge_facts([{"cpu": {"vendor": "V"}, "jax": {"backend": "cpu"}}, {"cpu": {"vendor": "V"},
                                                                                "torch": {"mkldnn": True}}])
    assert merged == {"cpu": {"vendor": "V"}, "jax": {"backend": "cpu"}, "torch": {"mkldnn": True}}
    here = collect_facts([])
    assert set(here) == {"cpu"} and here["cpu"]["machine"] == platform.machine()


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="oneDNN's ISA cap is x86's")
def test_a_committed_onednn_bfloat16_finding_stays_open_where_onednn_takes_no_bfloat16(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's own case, for real: capped at AVX2, oneDNN reports no bfloat16 support, torch takes its native
    kernel and the NaN leak does not show; the replay must say it cannot tell, on an AVX-512 machine or not."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("needs torch")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # inherited by the isolated torch worker
    path = FINDINGS / "conv1d-bfloat16-nonfinite-torch-b22503a1.json"
    record = FindingRecord.from_json(json.loads(path.read_text()))
    result = replay_record(record)
    assert result.state == INCONCLUSIVE, result.line()
    assert "found with oneDNN bfloat16 support in torch, this machine lacks it" in result.reason
