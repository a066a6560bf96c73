"""Kernel-selecting facts: what decides which convolution kernel a framework runs on this machine.

oneDNN picks its kernels by instruction set (and torch sends bfloat16/float16 convolutions to oneDNN only where
oneDNN supports them on this CPU), XLA:CPU compiles for the host's instruction set, cuDNN and XLA:GPU choose by GPU
generation. A discrepancy seen on one machine may therefore never show on another, and "it no longer reproduces"
means "fixed" only where these facts are the same. Versions are recorded too, but never compared: a new release is
exactly what may have fixed a bug.

Facts are a JSON object of sections: "cpu" (vendor, model, instruction-set flags) and one per framework, named
like it, as its descriptor (oracles.framework) gathers it: "torch" (CPU capability, oneDNN and MKL availability,
oneDNN's bfloat16/float16 support, and "cuda" when torch sees a GPU), "jax" (backend, platform version, and "gpu" on
a GPU backend). Each section is gathered in the process that runs the framework.

Standard library only at import time (frameworks are looked up when asked). A finding's script checks the same
facts before it calls a finding gone: it reads the framework facts with the very expressions of the descriptor's
probe tables, and the CPU's with the source of cpu_identity itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import platform
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from convfuzz.oracles.framework import framework_named, frameworks

# The flags (as Linux's /proc/cpuinfo names them) that oneDNN, XLA:CPU's LLVM back end and ATen's CPU dispatch
# choose kernels by. x86: vector width, FMA and the half-precision dot-product and matrix extensions; ARM: the
# half-precision, SVE and matrix extensions.
X86_FLAGS = (
    "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16",
    "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16",
)
ARM_FLAGS = ("asimd", "asimdhp", "fphp", "sve", "sve2", "bf16", "i8mm", "sme")

# The GPU facts compared for every framework: a difference means another kernel may run. Versions, driver and model
# strings are recorded only (a virtual machine may hide the model; a version change is a change of code).
COMPARED_GPU = ("name", "capability")


# How a difference is said, for the facts whose names mean little to a reader (each framework adds its own).
FACT_WORDS = {"vendor": "CPU vendor", "name": "GPU", "capability": "GPU compute capability"}


def cpu_identity(flags: tuple[str, ...]) -> dict[str, object]:
    """This machine's CPU as the first processor block of Linux's /proc/cpuinfo gives it: vendor, model, machine,
    and for each of `flags` whether the CPU has it ({} where the OS lists no flags: nothing to compare then).

    Self-contained (standard library, nothing of this module): a finding's script carries this function's own
    source, so the script and convfuzz read a CPU fact by one definition."""
    import platform

    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if not line.strip():
                    if fields:
                        break  # the end of the first processor's block
                    continue
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    machine = platform.machine()
    listed = fields.get("flags") or fields.get("Features")  # x86 names them flags, ARM Features
    present = set(listed.split()) if listed else None
    return {
        "vendor": fields.get("vendor_id") or fields.get("CPU implementer") or None,
        "model": fields.get("model name") or platform.processor() or machine,
        "machine": machine,
        "isa": {} if present is None else {flag: flag in present for flag in flags},
    }


def cpu_facts() -> dict[str, Any]:
    """Vendor, model and the kernel-selecting instruction-set flags of this machine's CPU (X86_FLAGS or
    ARM_FLAGS, by architecture)."""
    x86 = platform.machine() in ("x86_64", "AMD64", "i686")
    return cpu_identity(X86_FLAGS if x86 else ARM_FLAGS)


def gpu_driver() -> str | None:
    """The NVIDIA driver's version: from /proc on Linux, else from libcuda (None where neither answers)."""
    try:
        with open("/proc/driver/nvidia/version", encoding="utf-8") as text:
            found = re.search(r"Kernel Module\s+(?:for \S+\s+)?([\d.]+)", text.read())
            if found:
                return found.group(1)
    except OSError:
        pass
    with contextlib.suppress(OSError, AttributeError):
        version = ctypes.c_int()
        if ctypes.CDLL("libcuda.so.1").cuDriverGetVersion(ctypes.byref(version)) == 0:
            return f"CUDA {version.value // 1000}.{version.value % 1000 // 10}"
    return None


def collect_facts(frameworks: Iterable[str]) -> dict[str, Any]:
    """The CPU's facts and those of each named framework (oracles.framework) that can be imported here. A framework
    whose probe fails, or that is not registered, is left out rather than failing the caller."""
    facts: dict[str, Any] = {"cpu": cpu_facts()}
    for name in sorted(set(frameworks)):
        framework = framework_named(name)
        if framework is None:
            continue
        try:
            facts[name] = framework.facts()
        except Exception:  # noqa: BLE001 - not installed, or no device: nothing known about it
            continue
    return facts


def loaded_frameworks() -> list[str]:
    """The frameworks this process has imported (the ones whose facts it can give without importing more)."""
    return [name for name, framework in frameworks().items() if framework.module in sys.modules]


def merge_facts(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One facts object from several processes' (each oracle's worker gives its framework's section): a section
    seen more than once keeps its first, fuller-or-equal form, with keys only a later one knows added."""
    merged: dict[str, Any] = {}
    for part in parts:
        for section, values in part.items():
            if section not in merged:
                merged[section] = dict(values)
            else:
                for key, value in values.items():
                    if merged[section].get(key) is None:
                        merged[section][key] = value
    return merged


def gpu_section(facts: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    """The GPU part of framework `name`'s section of `facts`, as its descriptor finds it."""
    framework = framework_named(name)
    section = facts.get(name)
    return None if framework is None or not isinstance(section, Mapping) else framework.gpu_facts(section)


def compared_facts(facts: Mapping[str, Any], framework: str, device: str) -> dict[str, Any]:
    """The facts that pick `framework`'s kernel on `device`, flattened: {label: value}."""
    flat: dict[str, Any] = {}
    if device == "cpu":
        cpu = facts.get("cpu") or {}
        flat["vendor"] = cpu.get("vendor")
        flat.update(cpu.get("isa") or {})
        described = framework_named(framework)
        if described is not None:
            section = facts.get(framework) or {}
            flat.update({key: section.get(key) for key in described.cpu_probes})
    else:
        section = gpu_section(facts, framework)
        if section is None:  # another framework's GPU facts tell which GPU it was all the same
            section = next((s for s in (gpu_section(facts, n) for n in frameworks()) if s), {})
        flat.update({key: section.get(key) for key in COMPARED_GPU})
    return flat


def fact_words(label: str) -> str:
    """How a compared fact is said: FACT_WORDS, a framework's own fact_words, else its label."""
    for framework in frameworks().values():
        if label in framework.fact_words:
            return framework.fact_words[label]
    return FACT_WORDS.get(label, label)


def unrecorded_device_model(environment: Mapping[str, Any], framework: str, device: str) -> str | None:
    """The model name a finding's `environment` records for `device` where its kernel-selecting facts say nothing
    of that device (stored before facts were recorded, or with facts inferred later for the framework alone): then
    the name is all that tells the device. None where the facts describe it, or no name was recorded."""
    recorded = environment.get("kernel_facts")
    facts: Mapping[str, Any] = recorded if isinstance(recorded, Mapping) else {}
    if device == "cpu":
        described = bool(facts.get("cpu"))
    else:
        described = any(value is not None for value in compared_facts(facts, framework, device).values())
    models = environment.get("devices")
    model = models.get(device) if isinstance(models, Mapping) and not described else None
    return str(model) if model else None


def names_one_model(model: str) -> bool:
    """Whether a recorded device name tells one model from another: it carries a model number ('AMD EPYC 7763',
    'NVIDIA H100'). A family name alone ('AMD EPYC', 'Intel(R) Xeon(R) Processor': what many virtual machines
    show) covers generations whose instruction sets, and so kernels, differ."""
    return any(character.isdigit() for character in model)


def _difference(label: str, then: Any, now: Any, device: str) -> str:
    """One difference in words: 'found with avx512_bf16, this CPU lacks it'."""
    words = fact_words(label)
    if isinstance(then, bool) and isinstance(now, bool):
        where = "this CPU" if words == label else "this machine"
        return f"found with {words}, {where} lacks it" if then else f"found without {words}, {where} has it"
    return f"found with {words} {then!r}, this machine's is {now!r}"


def fact_differences(
    recorded: Mapping[str, Any], here: Mapping[str, Any], frameworks: Iterable[str], device: str
) -> list[str]:
    """Every kernel-selecting fact of `frameworks` on `device` that was recorded and is known here, but differs:
    one line each ('found with avx512_bf16, this CPU lacks it'). A fact unknown on either side is not compared."""
    lines: list[str] = []
    for framework in sorted(set(frameworks)) or [""]:
        then, now = compared_facts(recorded, framework, device), compared_facts(here, framework, device)
        for label, value in then.items():
            current = now.get(label)
            if value is None or current is None or value == current:
                continue
            line = _difference(label, value, current, device)
            if line not in lines:
                lines.append(line)
    return lines


def kernel_facts_of(oracle: object) -> dict[str, Any]:
    """The kernel-selecting facts of the process that runs `oracle`: an isolated oracle's come from its worker; an
    oracle in this process gets this process's, for the frameworks loaded here."""
    facts = getattr(oracle, "facts", None)
    if isinstance(facts, dict) and facts:
        return facts
    inner = getattr(oracle, "inner", None) or getattr(oracle, "base", None)  # pinned and metamorphic wrappers
    if inner is not None:
        return kernel_facts_of(inner)
    return collect_facts(loaded_frameworks())
