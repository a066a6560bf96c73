#!/usr/bin/env python3
"""F.conv2d crashes the process for float32 on cpu with channels_last layout, groups=2, stride=(1, 2).

Needs numpy and torch. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (torch or the cpu device missing, or the problem does not show where
another kernel may have run).
Found by convfuzz (finding conv2d-float32-crash-torch-d137e478)."""

import importlib.util
import signal
import subprocess
import sys

import numpy as np

TIMEOUT = 60
# What chose the kernel where this was found: where one of these differs another kernel runs, and a
# discrepancy that does not show here says nothing about the kernel that has it.
FOUND_WITH = {'vendor': 'GenuineIntel', 'avx': True, 'avx2': True, 'fma': True, 'f16c': True, 'avx512f': True, 'avx512bw': True, 'avx512vl': True, 'avx512dq': True, 'avx512_vnni': True, 'avx512_bf16': True, 'avx512_fp16': True, 'avx_vnni': True, 'amx_tile': True, 'amx_bf16': True, 'amx_int8': True, 'amx_fp16': False, 'cpu_capability': 'AVX512', 'mkldnn': True, 'mkldnn_bf16': True, 'mkldnn_fp16': True, 'mkl': True}


# The inputs, as float64 values that float32 holds exactly.
X = np.zeros((1, 2, 2, 1))
W = np.zeros((4, 1, 2, 1))
B = np.zeros((4,))


def run_torch(X: np.ndarray = X, W: np.ndarray = W, B: np.ndarray = B) -> np.ndarray:
    """torch: F.conv2d."""
    import torch
    import torch.nn.functional as F

    dtype = torch.float32
    x = torch.tensor(X, dtype=dtype, device='cpu')
    w = torch.tensor(W, dtype=torch.float32, device='cpu')
    b = torch.tensor(B, dtype=dtype, device='cpu')
    x = x.contiguous(memory_format=torch.channels_last)
    w = w.contiguous(memory_format=torch.channels_last)

    out = F.conv2d(x, w, b, stride=(1, 2), padding=(0, 1), dilation=(1, 2), groups=2)
    return out.detach().to(device='cpu', dtype=torch.float64).numpy()


def cpu_identity(flags: tuple[str, ...]) -> dict[str, object]:
    """The CPU as convfuzz reads it (the same function: oracles/kernel_facts.py)."""
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


def facts_here() -> dict:
    """FOUND_WITH's facts on this machine (None where unknown)."""
    cpu = cpu_identity(('avx', 'avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512_vnni', 'avx512_bf16', 'avx512_fp16', 'avx_vnni', 'amx_tile', 'amx_bf16', 'amx_int8', 'amx_fp16'))
    facts = {'vendor': cpu['vendor'], 'model': cpu['model'], **cpu['isa']}
    import torch

    probes = {
        'cpu_capability': lambda: str(torch.backends.cpu.get_cpu_capability()),
        'mkldnn': lambda: bool(torch.backends.mkldnn.is_available()),
        'mkldnn_bf16': lambda: bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        'mkldnn_fp16': lambda: bool(torch.ops.mkldnn._is_mkldnn_fp16_supported()),
        'mkl': lambda: bool(torch.backends.mkl.is_available()),
    }
    for name, probe in probes.items():
        try:
            facts[name] = probe()
        except Exception:  # an older or leaner build: unknown
            pass
    return facts


def another_kernel() -> str | None:
    """Why the kernel with the problem may not have run here (a fact that chose it differs from
    FOUND_WITH), or None."""
    if '--any-hardware' in sys.argv:
        return None
    here = facts_here()
    differ = [f'{name}: found with {then!r}, here {here[name]!r}' for name, then in FOUND_WITH.items()
              if here.get(name) is not None and here[name] != then]
    if not differ:
        return None
    return 'another kernel may run here (' + '; '.join(differ) + '); --any-hardware calls it gone anyway'


def missing() -> str | None:
    """What this machine lacks to make the call at all, or None."""
    if importlib.util.find_spec('torch') is None:
        return 'torch is not installed'
    return None


def call_in_child() -> int:
    """The child process: make the call, and say on the last line of output how it ended."""
    try:
        run_torch()
    except Exception as exc:
        print(f'raised {type(exc).__name__}: {exc}', flush=True)
        return 3
    print('returned', flush=True)
    return 0


def check() -> tuple[bool, str]:
    """Make the call in a child process: whether the problem shows, and what was seen."""
    try:
        done = subprocess.run([sys.executable, __file__, '--call'], stdout=subprocess.PIPE, text=True,
                              timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return True, f'no answer within {TIMEOUT} s'
    if done.returncode < 0:
        return True, f'the process was killed by {signal.Signals(-done.returncode).name}'
    said = (done.stdout.strip().splitlines() or [''])[-1]
    if done.returncode == 0 and said == 'returned':
        return False, 'the call returned'
    if done.returncode == 3 and said.startswith('raised '):
        return True, f'no crash now, but the call {said} on a valid configuration'
    return True, f'the process ended with exit status {done.returncode} before the call returned'


def main() -> int:
    if sys.argv[1:] == ['--call']:
        return call_in_child()
    why = missing()
    if why:
        print(f'CANNOT TELL: {why}')
        return 2
    shows, seen = check()
    if shows:
        print(f'REPRODUCES: {seen}')
        return 1
    why = another_kernel()
    if why:
        print(f'CANNOT TELL: it does not show here ({seen}), but {why}')
        return 2
    print(f'GONE: {seen}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
