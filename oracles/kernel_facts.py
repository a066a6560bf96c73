"""Kernel-selecting facts: what decides which convolution kernel a framework runs on this machine.

oneDNN picks its kernels by instruction set (and torch sends bfloat16/float16 convolutions to oneDNN only where
oneDNN supports them on this CPU), XLA:CPU compiles for the host's instruction set, cuDNN and XLA:GPU choose by GPU
generation. A discrepancy seen on one machine may therefore never show on another, and "it no longer reproduces"
means "fixed" only where these facts are the same. Versions are recorded too, but never compared: a new release is
exactly what may have fixed a bug.

Facts are a JSON object of sections: "cpu" (vendor, model, instruction-set flags), "torch" (CPU capability, oneDNN
and MKL availability, oneDNN's bfloat16/float16 support, and "cuda" when torch sees a GPU) and "jax" (backend,
platform version, and "gpu" on a GPU backend). Each section is gathered in the process that runs the framework.

Standard library only at import time (frameworks are looked up when asked). A finding's script checks the same
facts before it calls a finding gone: it reads the framework facts with the very expressions of the PROBES tables
below, and the CPU's with the source of cpu_identity itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import platform
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

# The flags (as Linux's /proc/cpuinfo names them) that oneDNN, XLA:CPU's LLVM back end and ATen's CPU dispatch
# choose kernels by. x86: vector width, FMA and the half-precision dot-product and matrix extensions; ARM: the
# half-precision, SVE and matrix extensions.
X86_FLAGS = (
    "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16",
    "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16",
)
ARM_FLAGS = ("asimd", "asimdhp", "fphp", "sve", "sve2", "bf16", "i8mm", "sme")

# The facts compared per section: a difference in any of them means another kernel may run. Versions, driver and
# model strings are recorded only (a virtual machine may hide the model; a version change is a change of code).
COMPARED_TORCH_CPU = ("cpu_capability", "mkldnn", "mkldnn_bf16", "mkldnn_fp16", "mkl")
COMPARED_GPU = ("name", "capability")

# How each compared framework fact is read, as a Python expression over the imported module (`torch` or `jax`).
# torch_facts and jax_facts evaluate these, and a finding's script carries the same text: one way to read a fact.
TORCH_CPU_PROBES = {
    "cpu_capability": "str(torch.backends.cpu.get_cpu_capability())",
    "mkldnn": "bool(torch.backends.mkldnn.is_available())",
    "mkldnn_bf16": "bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())",
    "mkldnn_fp16": "bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())",
    "mkl": "bool(torch.backends.mkl.is_available())",
}
TORCH_GPU_PROBES = {
    "name": "str(torch.cuda.get_device_name(0))",
    "capability": "'%d.%d' % torch.cuda.get_device_capability(0)",
}
JAX_GPU_PROBES = {
    "name": "str(jax.devices()[0].device_kind)",
    "capability": "str(jax.devices()[0].compute_capability)",
}


def probe(expression: str, module_name: str, module: Any) -> Any:
    """The value of one PROBES expression with `module` bound to `module_name`; None where this build lacks what
    it reads (an older or leaner release has fewer probes: the fact is then unknown, not an error)."""
    try:
        return eval(expression, {module_name: module})  # our own constant expressions (above), never input
    except Exception:  # noqa: BLE001
        return None


# How a difference is said, for the facts whose names mean little to a reader.
FACT_WORDS = {
    "cpu_capability": "torch's CPU capability",
    "mkldnn": "torch's oneDNN (mkldnn) kernels",
    "mkldnn_bf16": "oneDNN bfloat16 support in torch",
    "mkldnn_fp16": "oneDNN float16 support in torch",
    "mkl": "torch's MKL",
    "vendor": "CPU vendor",
    "name": "GPU",
    "capability": "GPU compute capability",
}


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


def _gpu_driver() -> str | None:
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


def _onednn_version(config: str) -> str | None:
    """oneDNN's version in torch's build configuration text ('MKL-DNN v3.12.0'), or None."""
    found = re.search(r"(?:MKL-DNN|oneDNN) v([\d.]+)", config)
    return found.group(1) if found else None


def torch_facts() -> dict[str, Any]:
    """What selects torch's convolution kernels here: its CPU dispatch level, oneDNN and MKL, oneDNN's
    bfloat16/float16 support on this CPU, and the GPU torch sees (name, compute capability, driver, CUDA runtime,
    cuDNN). Imports torch."""
    torch: Any = importlib.import_module("torch")  # Any: several of these probes are untyped in torch's stubs

    facts: dict[str, Any] = {"version": str(torch.__version__)}
    facts.update({name: probe(expression, "torch", torch) for name, expression in TORCH_CPU_PROBES.items()})
    config = probe("str(torch.__config__.show())", "torch", torch)  # the build configuration text, or None
    facts["mkldnn_version"] = None if config is None else _onednn_version(config)
    with contextlib.suppress(Exception):
        if torch.cuda.is_available():
            facts["cuda"] = {
                **{name: probe(expression, "torch", torch) for name, expression in TORCH_GPU_PROBES.items()},
                "driver": _gpu_driver(),
                "runtime": torch.version.cuda,
                "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            }
    return facts


def jax_facts() -> dict[str, Any]:
    """What selects XLA's kernels here: the default backend and its platform version, and the GPU it runs on.
    Imports jax."""
    import jax

    device = jax.devices()[0]
    facts: dict[str, Any] = {
        "version": str(jax.__version__),
        "backend": str(device.platform),
        "platform_version": str(getattr(device.client, "platform_version", "") or "") or None,
    }
    if device.platform == "gpu":
        facts["gpu"] = {
            **{name: probe(expression, "jax", jax) for name, expression in JAX_GPU_PROBES.items()},
            "driver": _gpu_driver(),
        }
    return facts


FRAMEWORK_FACTS = {"torch": torch_facts, "jax": jax_facts}


def collect_facts(frameworks: Iterable[str]) -> dict[str, Any]:
    """The CPU's facts and those of each named framework ('torch', 'jax'; others have none) that can be
    imported here. A framework whose probe fails is left out rather than failing the caller."""
    facts: dict[str, Any] = {"cpu": cpu_facts()}
    for framework in sorted(set(frameworks)):
        probe = FRAMEWORK_FACTS.get(framework)
        if probe is None:
            continue
        try:
            facts[framework] = probe()
        except Exception:  # noqa: BLE001 - not installed, or no device: nothing known about it
            continue
    return facts


def loaded_frameworks() -> list[str]:
    """The frameworks this process has imported (the ones whose facts it can give without importing more)."""
    return [name for name in FRAMEWORK_FACTS if name in sys.modules]


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


def compared_facts(facts: Mapping[str, Any], framework: str, device: str) -> dict[str, Any]:
    """The facts that pick `framework`'s kernel on `device`, flattened: {label: value}."""
    flat: dict[str, Any] = {}
    if device == "cpu":
        cpu = facts.get("cpu") or {}
        flat["vendor"] = cpu.get("vendor")
        flat.update(cpu.get("isa") or {})
        if framework == "torch":
            section = facts.get("torch") or {}
            flat.update({key: section.get(key) for key in COMPARED_TORCH_CPU})
    else:
        section = (facts.get("torch") or {}).get("cuda") if framework == "torch" else (
            (facts.get("jax") or {}).get("gpu") if framework == "jax" else None
        )
        if section is None:  # another framework's GPU facts tell which GPU it was all the same
            section = (facts.get("torch") or {}).get("cuda") or (facts.get("jax") or {}).get("gpu") or {}
        flat.update({key: section.get(key) for key in COMPARED_GPU})
    return flat


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
    words = FACT_WORDS.get(label, label)
    if isinstance(then, bool) and isinstance(now, bool):
        where = "this CPU" if label not in FACT_WORDS else "this machine"
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
