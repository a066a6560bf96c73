#!/usr/bin/env python3
"""F.conv2d propagates inf/NaN wrongly for float16 on cuda with groups=3.

Needs numpy and torch. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (torch or the cuda device missing, or the problem does not show where
another kernel may have run).
Found by convfuzz (finding conv2d-float16-nonfinite-torch-torch-tf32-b6ccf0c6)."""

import importlib.util
import sys

import numpy as np

# What chose the kernel where this was found: where one of these differs another kernel runs, and a
# discrepancy that does not show here says nothing about the kernel that has it.
FOUND_WITH = {'name': 'NVIDIA H200'}


# The inputs, as float64 values that float16 holds exactly.
X = np.array([
    np.nan, 1.0, 0.0, -2.0, -1.0, -3.0, -3.0, -3.0, -2.0, 2.0, 1.0, 3.0
]).reshape((1, 12, 1, 1))
W = np.zeros((6, 4, 1, 1))
# The exact result, computed in float64 from the same values.
EXPECTED = np.array([np.nan, np.nan, 0.0, 0.0, 0.0, 0.0]).reshape((1, 6, 1, 1))
# The largest |error| a correct float16 implementation may make, per element (its rounding bound).
BOUND = np.array([
    2.6700886302086417e-307, 2.6700886302086417e-307, 0.0001220703125, 0.0001220703125, 0.0001220703125,
    0.0001220703125
]).reshape((1, 6, 1, 1))


def run_torch(X: np.ndarray = X, W: np.ndarray = W) -> np.ndarray:
    """torch: F.conv2d."""
    import torch
    import torch.nn.functional as F

    dtype = torch.float16
    x = torch.tensor(X, dtype=dtype, device='cuda')
    w = torch.tensor(W, dtype=torch.float16, device='cuda')

    torch.backends.cudnn.allow_tf32 = False  # float32 convolutions in float32, not TF32
    torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False
    torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = False
    out = F.conv2d(x, w, None, stride=(1, 1), padding='valid', dilation=(1, 1), groups=3)
    return out.detach().to(device='cpu', dtype=torch.float64).numpy()


def facts_here() -> dict:
    """FOUND_WITH's facts on this machine (None where unknown)."""
    facts: dict = {}
    import torch

    probes = {
        'name': lambda: str(torch.cuda.get_device_name(0)),
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
    import torch

    if not torch.cuda.is_available():
        return 'torch sees no GPU here'
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
