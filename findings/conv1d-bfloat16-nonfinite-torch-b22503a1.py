#!/usr/bin/env python3
"""F.conv1d propagates inf/NaN wrongly for bfloat16 on cpu with padding_mode=circular, stride=(2,).

Needs numpy and torch. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (torch or the cpu device missing, or the problem does not show where
another kernel may have run).
Found by convfuzz (finding conv1d-bfloat16-nonfinite-torch-b22503a1)."""

import importlib.util
import sys

import numpy as np


# The inputs, as float64 values that bfloat16 holds exactly.
X = np.array([np.nan, 1.0, 0.0]).reshape((1, 1, 3))
W = np.zeros((1, 1, 1))
# The exact result, computed in float64 from the same values.
EXPECTED = np.array([0.0, 0.0, np.nan]).reshape((1, 1, 3))
# The largest |error| a correct bfloat16 implementation may make, per element (its rounding bound).
BOUND = np.array([
    5.877471754111438e-38, 5.877471754111438e-38, 1.3350443151043208e-307
]).reshape((1, 1, 3))


def run_torch(X: np.ndarray = X, W: np.ndarray = W) -> np.ndarray:
    """torch: F.conv1d."""
    import torch

    dtype = torch.bfloat16
    x = torch.tensor(X, dtype=dtype, device='cpu')
    w = torch.tensor(W, dtype=torch.bfloat16, device='cpu')

    module = torch.nn.utils.skip_init(torch.nn.Conv1d, 1, 1, (1,), stride=(2,), padding=(1,), dilation=(1,),
        groups=1, bias=False, padding_mode='circular', device='cpu', dtype=dtype)

    def conv(x, w):
        parameters = {'weight': w}
        return torch.func.functional_call(module, parameters, (x,))

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


def check() -> tuple[bool, str]:
    """Make the call: whether the problem shows, and what was seen."""
    try:
        out = run_torch()
    except Exception as exc:
        return True, f'raised {type(exc).__name__}: {exc} (expected an output of shape {EXPECTED.shape})'
    if out.shape != EXPECTED.shape:
        return True, f'an output of shape {out.shape}, expected {EXPECTED.shape}'
    with np.errstate(invalid='ignore'):
        error = np.abs(out - EXPECTED)
    same = (out == EXPECTED) | (np.isnan(out) & np.isnan(EXPECTED))  # inf and NaN where they belong
    wrong = ~(same | (error <= BOUND))
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
