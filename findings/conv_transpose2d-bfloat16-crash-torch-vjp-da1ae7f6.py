#!/usr/bin/env python3
"""F.conv_transpose2d (its VJP) crashes the process for bfloat16 on cpu with channels_last layout, groups=2, stride=(1, 2).

Needs numpy and torch. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (torch or the cpu device missing, or the problem does not show where
another kernel may have run).
Found by convfuzz (finding conv_transpose2d-bfloat16-crash-torch-vjp-da1ae7f6)."""

import importlib.util
import signal
import subprocess
import sys

import numpy as np

TIMEOUT = 60


# The inputs, as float64 values that bfloat16 holds exactly.
X = np.zeros((1, 2, 1, 2))
W = np.zeros((2, 2, 2, 1))


def run_torch_vjp(X: np.ndarray = X, W: np.ndarray = W) -> np.ndarray:
    """torch-vjp: F.conv_transpose2d."""
    import torch
    import torch.nn.functional as F

    dtype = torch.bfloat16
    x = torch.tensor(X, dtype=dtype, device='cpu')
    w = torch.tensor(W, dtype=torch.bfloat16, device='cpu')
    x = x.contiguous(memory_format=torch.channels_last)
    w = w.contiguous(memory_format=torch.channels_last)

    # conv_transpose as the vector-Jacobian product of the forward conv at an input z of the transposed
    # output's size, with cotangent x (the forward output is cut to x's size first).
    def conv(x, w):
        z = torch.zeros((x.shape[0], 4, *(2, 1)), dtype=x.dtype, device=x.device, requires_grad=True)
        y = F.conv2d(z, w, None, stride=(1, 2), padding=(0, 1), dilation=(1, 2), groups=2)
        y = y[(..., *(slice(0, n) for n in (1, 2)))]
        (grad,) = torch.autograd.grad(y, z, grad_outputs=x)
        return grad

    out = conv(x, w)
    return out.detach().to(device='cpu', dtype=torch.float64).numpy()


def another_kernel() -> str | None:
    """Why the kernel with the problem may not have run here: the cpu it was found on is known
    only by a name that covers models with other kernels."""
    if '--any-hardware' in sys.argv:
        return None
    return ("it was found on a cpu recorded only as 'AMD EPYC',"
            ' and another kernel may run here; --any-hardware calls it gone anyway')


def missing() -> str | None:
    """What this machine lacks to make the call at all, or None."""
    if importlib.util.find_spec('torch') is None:
        return 'torch is not installed'
    return None


def call_in_child() -> int:
    """The child process: make the call, and say on the last line of output how it ended."""
    try:
        run_torch_vjp()
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
