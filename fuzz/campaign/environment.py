"""Where a finding was seen: library versions, platform and device names."""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from convfuzz.oracles.framework import frameworks
from convfuzz.oracles.kernel_facts import cpu_identity, gpu_section, merge_facts
from convfuzz.oracles.versions import framework_packages, package_version


# The versions that say which code computed a result (recorded with every finding, its history and each campaign,
# and shown by explain, the upstream issue and the report), in the order they are shown.
def code_versions() -> tuple[str, ...]:
    """The distributions (and python) whose versions say which code computed a result: each registered framework's,
    then numpy and python."""
    return (*framework_packages(), "numpy", "python")


def versions(environment: Mapping[str, object]) -> dict[str, object]:
    """The code_versions() an environment (a finding's, a campaign's, or this machine's) names, in that order."""
    return {name: environment[name] for name in code_versions() if environment.get(name)}


def cpu_name() -> str:
    """The CPU model as the OS reports it (read as kernel-selecting facts and finding scripts read it)."""
    return str(cpu_identity(())["model"])


def device_model(device: str) -> str | None:
    """The model name of `device` ('cpu' or 'cuda') on this machine; None when it has no such device."""
    if device == "cpu":
        return cpu_name()
    try:
        import torch
    except ImportError:
        return None
    return str(torch.cuda.get_device_name(0)) if torch.cuda.is_available() else None


def gpu_name(facts: dict[str, Any]) -> str | None:
    """The GPU that kernel-selecting facts (oracles.kernel_facts) name, from the first framework section that has
    one."""
    for name in frameworks():
        gpu = gpu_section(facts, name)
        if gpu is not None and gpu.get("name"):
            return str(gpu["name"])
    return None


def environment_section(ran: Sequence[tuple[object, dict[str, Any]]]) -> dict[str, Any]:
    """What a finding stores of one other environment (oracles.environments) from the oracles that ran there, each
    with its kernel-selecting facts: its interpreter, its versions (python, numpy, frameworks) and the facts."""
    reported = next((getattr(o, "versions", None) for o, _ in ran if getattr(o, "versions", None)), None) or {}
    return {
        "executable": reported.get("executable"),
        "versions": {k: v for k, v in reported.items() if k != "executable"},
        "kernel_facts": merge_facts(facts for _, facts in ran),
    }


def finding_environment(
    facts: dict[str, Any], environments: Mapping[str, dict[str, Any]] | None = None
) -> dict[str, object]:
    """What a finding stores of where it was found: environment(), the kernel-selecting facts of the processes
    that ran its oracles, and the GPU's name among the devices whichever process saw it (an isolated worker sees
    the GPU; the campaign process may never import torch). Oracles of other environments are stored apart, under
    `environments` by name (environment_section): their versions and facts are not this interpreter's."""
    found = dict(environment())
    devices = dict(found["devices"])  # type: ignore[call-overload]
    gpu = gpu_name(facts)
    if gpu is not None:
        devices["cuda"] = gpu
    return {**found, "devices": devices, "kernel_facts": facts, **({"environments": dict(environments)} if
                                                                  environments else {})}


@cache
def environment() -> dict[str, object]:
    """Versions, platform and devices, as stored in every finding."""
    devices = {"cpu": cpu_name()}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        devices["cuda"] = torch.cuda.get_device_name(0)
    return {
        "python": platform.python_version(),
        **{name: package_version(name) for name in (*framework_packages(), "numpy", "hypothesis")},
        "platform": platform.platform(),
        "devices": devices,
    }
