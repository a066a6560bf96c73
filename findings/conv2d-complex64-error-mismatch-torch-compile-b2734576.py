#!/usr/bin/env python3
"""F.conv2d under torch.compile raises an error on a valid case for complex64 on cpu with asymmetric padding, channels_last layout.

Needs numpy and torch. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (torch or the cpu device missing, or the problem does not show where
another kernel may have run).
Found by convfuzz (finding conv2d-complex64-error-mismatch-torch-compile-b2734576)."""

import importlib.util
import sys

import numpy as np


def complex_array(real: np.ndarray, imag: np.ndarray) -> np.ndarray:
    joined = np.empty(real.shape, dtype=np.complex128)
    joined.real, joined.imag = real, imag
    return joined


# The inputs, as float64 values that complex64 holds exactly.
X = complex_array(np.zeros((2, 2, 1, 2)), np.zeros((2, 2, 1, 2)))
W = complex_array(np.zeros((1, 2, 1, 1)), np.zeros((1, 2, 1, 1)))
# The exact result, computed in complex128 from the same values.
EXPECTED = complex_array(np.zeros((2, 1, 2, 2)), np.zeros((2, 1, 2, 2)))
# The largest |error| a correct complex64 implementation may make, per element (its rounding bound).
BOUND = np.zeros((2, 1, 2, 2))


def run_torch_compile(X: np.ndarray = X, W: np.ndarray = W) -> np.ndarray:
    """torch-compile: F.conv2d."""
    import torch
    import torch.nn.functional as F

    dtype = torch.complex64
    x = torch.tensor(X, dtype=dtype, device='cpu')
    w = torch.tensor(W, dtype=torch.complex64, device='cpu')
    x = x.contiguous(memory_format=torch.channels_last)
    w = w.contiguous(memory_format=torch.channels_last)

    # The parameters are captured by a closure, as convfuzz's oracle holds them (under
    # torch.compile(dynamic=True) captured ints are traced as symbols, literals as constants).
    def make_conv(pre_pad, stride, padding, dilation, groups):
        def conv(x, w, b):
            x = F.pad(x, pre_pad)
            return F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)

        return conv

    conv = make_conv([0, 0, 0, 1], (1, 1), 0, (1, 1), 1)
    conv = torch.compile(conv, fullgraph=True, dynamic=True)  # inductor, one graph, symbolic sizes
    out = conv(x, w, None)
    return out.detach().to(device='cpu', dtype=torch.complex128).resolve_conj().numpy()


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


def check() -> tuple[bool, str]:
    """Make the call: whether the problem shows, and what was seen."""
    try:
        out = run_torch_compile()
    except Exception as exc:
        return True, f'raised {type(exc).__name__}: {exc} (expected an output of shape {EXPECTED.shape})'
    if out.shape != EXPECTED.shape:
        return True, f'an output of shape {out.shape}, expected {EXPECTED.shape}'
    error = np.abs(out - EXPECTED)
    wrong = ~(error <= BOUND)  # NaN where a number belongs is wrong too
    if not wrong.any():
        return False, 'every element is within its bound of the exact result'
    excess = np.where(wrong, np.nan_to_num(error, nan=np.inf) - BOUND, -np.inf)
    at = np.unravel_index(int(np.argmax(excess)), out.shape)
    return True, (f'{int(wrong.sum())} of {wrong.size} elements are off; worst out{list(map(int, at))} = '
                  f'{out[at].item()!r}, exact {EXPECTED[at].item()!r}: |error| {error[at]:.3g} > '
                  f'bound {BOUND[at]:.3g}')


def main() -> int:
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
