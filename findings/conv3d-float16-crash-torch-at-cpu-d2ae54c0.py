#!/usr/bin/env python3
"""F.conv3d crashes the process for float16 on cpu with stride=(1, 1, 2), dilation=(1, 1, 2).

Needs numpy and torch. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (torch or the cpu device missing, or another kernel would run here).
Found by convfuzz (finding conv3d-float16-crash-torch-at-cpu-d2ae54c0)."""

import signal
import subprocess
import sys

import numpy as np

TIMEOUT = 60
# What chose the kernel where this was found: where one of these differs another kernel runs, and a
# discrepancy that does not show says nothing about the kernel that has it.
FOUND_WITH = {'model': 'Intel(R) Xeon(R) Processor'}


# The inputs, as float64 values that float16 holds exactly.
X = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]).reshape((1, 1, 1, 9, 1))
W = np.array([0.0]).reshape((1, 1, 1, 1, 1))
B = None
G = None


def run_torch_at_cpu(X: np.ndarray = X, W: np.ndarray = W, B: np.ndarray | None = B, G: np.ndarray | None = G) -> np.ndarray:
    """torch@cpu: F.conv3d."""
    import torch
    import torch.nn.functional as F

    dtype = torch.float16
    x = torch.tensor(X, dtype=dtype, device='cpu')
    w = torch.tensor(W, dtype=torch.float16, device='cpu')

    def conv(x, w, b):
        return F.conv3d(x, w, b, stride=(1, 1, 2), padding=(0, 0, 1), dilation=(1, 1, 2), groups=1)

    out = conv(x, w, None)
    return out.detach().to(device='cpu', dtype=torch.float64).resolve_conj().numpy()


def facts_here() -> dict:
    """FOUND_WITH's facts on this machine (None where unknown)."""
    facts: dict = {}
    fields = {}
    try:  # the first processor's block of /proc/cpuinfo (Linux): its vendor and instruction-set flags
        with open('/proc/cpuinfo', encoding='utf-8', errors='replace') as info:
            for line in info.read().split('\n\n')[0].splitlines():
                key, _, value = line.partition(':')
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    facts['vendor'] = fields.get('vendor_id') or fields.get('CPU implementer')
    facts['model'] = fields.get('model name')
    flags = (fields.get('flags') or fields.get('Features') or '').split()
    for flag in ():
        facts[flag] = (flag in flags) if flags else None
    return facts


def cannot_tell() -> str | None:
    """Why this machine cannot tell whether the problem is still there, or None."""
    try:
        import torch
    except ImportError:
        return 'torch is not installed'
    if '--any-hardware' in sys.argv:
        return None
    here = facts_here()
    differ = [f'{name}: found with {then!r}, here {here[name]!r}' for name, then in FOUND_WITH.items()
              if here.get(name) is not None and here[name] != then]
    if differ:
        return 'another kernel may run here (' + '; '.join(differ) + '); --any-hardware runs it anyway'
    return None


def main() -> int:
    if sys.argv[1:2] == ['--call']:  # the child: make the call
        run_torch_at_cpu()
        return 0
    why = cannot_tell()
    if why:
        print(f'CANNOT TELL: {why}')
        return 2
    # The call runs in a child process, so a crash or a hang is reported rather than suffered.
    try:
        done = subprocess.run([sys.executable, __file__, '--call'], timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        print(f'REPRODUCES: no answer within {TIMEOUT} s')
        return 1
    if done.returncode < 0:
        print(f'REPRODUCES: the process was killed by {signal.Signals(-done.returncode).name}')
        return 1
    print(f'GONE: the call returned (exit status {done.returncode})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
