#!/usr/bin/env python3
"""F.conv_transpose2d (its VJP) crashes the process for bfloat16 on cpu with channels_last layout, groups=2, stride=(1, 2).

Needs numpy and torch. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (torch or the cpu device missing, or another kernel would run here).
Found by convfuzz (finding conv_transpose2d-bfloat16-crash-torch-vjp-da1ae7f6)."""

import signal
import subprocess
import sys

import numpy as np

TIMEOUT = 60
# What chose the kernel where this was found: where one of these differs another kernel runs, and a
# discrepancy that does not show says nothing about the kernel that has it.
FOUND_WITH = {'mkldnn': True, 'mkldnn_bf16': True}


# The inputs, as float64 values that bfloat16 holds exactly.
X = np.array([0.0, 0.0, 0.0, 0.0]).reshape((1, 2, 1, 2))
W = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]).reshape((2, 2, 2, 1))
B = None
G = None


def run_torch_vjp(X: np.ndarray = X, W: np.ndarray = W, B: np.ndarray | None = B, G: np.ndarray | None = G) -> np.ndarray:
    """torch-vjp: F.conv_transpose2d."""
    import torch
    import torch.nn.functional as F

    dtype = torch.bfloat16
    x = torch.tensor(X, dtype=dtype, device='cpu')
    w = torch.tensor(W, dtype=torch.bfloat16, device='cpu')
    memory_format = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
    x, w = x.contiguous(memory_format=memory_format), w.contiguous(memory_format=memory_format)

    # conv_transpose as the vector-Jacobian product of the forward conv at an input z of the transposed
    # output's size, with cotangent x (the forward output is cut to x's size first).
    def conv(x, w, b):
        z = torch.zeros((x.shape[0], 4, *(2, 1)), dtype=x.dtype, device=x.device, requires_grad=True)
        y = F.conv2d(z, w, None, stride=(1, 2), padding=(0, 1), dilation=(1, 2), groups=2)
        y = y[(..., *(slice(0, n) for n in (1, 2)))]
        # Complex data: autograd gives the conjugate transpose; conv_transpose is the plain transpose.
        conjugate = torch.conj if x.is_complex() else (lambda t: t)
        (grad,) = torch.autograd.grad(y, z, grad_outputs=conjugate(x))
        grad = conjugate(grad)
        return grad if b is None else grad + b.reshape(1, -1, *([1] * 2))

    out = conv(x, w, None)
    return out.detach().to(device='cpu', dtype=torch.float64).resolve_conj().numpy()


def facts_here() -> dict:
    """FOUND_WITH's facts on this machine (None where unknown)."""
    facts: dict = {}
    import torch

    try:
        facts['mkldnn'] = bool(torch.backends.mkldnn.is_available())
    except Exception:  # an older or leaner build: unknown
        pass
    try:
        facts['mkldnn_bf16'] = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # an older or leaner build: unknown
        pass
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
        run_torch_vjp()
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
