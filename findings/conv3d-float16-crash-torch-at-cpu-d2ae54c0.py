#!/usr/bin/env python3
"""F.conv3d crashes the process for float16 on cpu with stride=(1, 1, 2), dilation=(1, 1, 2).

Needs numpy and torch. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (torch or the cpu device missing, or the problem does not show where
another kernel may have run).
Found by convfuzz (finding conv3d-float16-crash-torch-at-cpu-d2ae54c0)."""

import importlib.util
import signal
import subprocess
import sys

import numpy as np

TIMEOUT = 60


# The inputs, as float64 values that float16 holds exactly.
X = np.zeros((1, 1, 1, 9, 1))
W = np.zeros((1, 1, 1, 1, 1))


def run_torch_at_cpu(X: np.ndarray = X, W: np.ndarray = W) -> np.ndarray:
    """torch@cpu: F.conv3d."""
    import torch
    import torch.nn.functional as F

    dtype = torch.float16
    x = torch.tensor(X, dtype=dtype, device='cpu')
    w = torch.tensor(W, dtype=torch.float16, device='cpu')

    out = F.conv3d(x, w, None, stride=(1, 1, 2), padding=(0, 0, 1), dilation=(1, 1, 2), groups=1)
    return out.detach().to(device='cpu', dtype=torch.float64).numpy()


def another_kernel() -> str | None:
    """Why the kernel with the problem may not have run here: the cpu it was found on is known
    only by a name that covers models with other kernels."""
    if '--any-hardware' in sys.argv:
        return None
    return ("it was found on a cpu recorded only as 'Intel(R) Xeon(R) Processor',"
            ' and another kernel may run here; --any-hardware calls it gone anyway')


def missing() -> str | None:
    """What this machine lacks to make the call at all, or None."""
    if importlib.util.find_spec('torch') is None:
        return 'torch is not installed'
    return None


def call_in_child() -> int:
    """The child process: make the call, and say on the last line of output how it ended."""
    try:
        run_torch_at_cpu()
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
