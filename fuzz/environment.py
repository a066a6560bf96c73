"""Where a finding was seen: library versions, platform and device names."""

from __future__ import annotations

import platform
import sys
from functools import cache
from importlib import metadata

PACKAGES = ("torch", "jax", "jaxlib", "numpy", "hypothesis")


def package_version(name: str) -> str | None:
    """Installed version of `name`, or None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cpu_name() -> str:
    """The CPU model as the OS reports it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_model(device: str) -> str | None:
    """The model name of `device` ('cpu' or 'cuda') on this machine; None when it has no such device."""
    if device == "cpu":
        return cpu_name()
    try:
        import torch
    except ImportError:
        return None
    return str(torch.cuda.get_device_name(0)) if torch.cuda.is_available() else None


@cache
def environment() -> dict[str, object]:
    """Versions, platform and devices, as stored in every finding."""
    devices = {"cpu": cpu_name()}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        devices["cuda"] = torch.cuda.get_device_name(0)
    return {
        "python": platform.python_version(),
        **{name: package_version(name) for name in PACKAGES},
        "platform": platform.platform(),
        "devices": devices,
    }
