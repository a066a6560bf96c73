#!/usr/bin/env python3
"""F.conv_transpose2d loses precision for bfloat16 on cpu with dilation=(2, 1), output_padding=(1, 0).

Needs numpy and torch. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (torch or the cpu device missing, or another kernel would run here).
Found by convfuzz (finding conv_transpose2d-bfloat16-precision-torch-d9a76c7f)."""

import signal
import subprocess
import sys

import numpy as np

TIMEOUT = 60
# What chose the kernel where this was found: where one of these differs another kernel runs, and a
# discrepancy that does not show says nothing about the kernel that has it.
FOUND_WITH = {'model': 'AMD EPYC'}


# The inputs, as float64 values that bfloat16 holds exactly.
X = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]).reshape((1, 1, 4, 2))
W = np.array([0.2734375, -0.4609375, -0.91796875, -0.96875, 0.625, 0.82421875]).reshape((1, 1, 2, 3))
B = None
G = None
# The exact result, computed in float64 from the same values.
EXPECTED = np.array([-0.6953125, -0.53125, 0.0703125, -0.09375]).reshape((1, 1, 1, 4))
# The largest |error| a correct bfloat16 implementation may make, per element (its rounding bound).
BOUND = np.array([
    0.0027165827343549826, 0.00207616668235242, 0.0002758381893215641, 0.0003669378350741265
]).reshape((1, 1, 1, 4))


def run_torch(X: np.ndarray = X, W: np.ndarray = W, B: np.ndarray | None = B, G: np.ndarray | None = G) -> np.ndarray:
    """torch: F.conv_transpose2d."""
    import torch
    import torch.nn.functional as F

    dtype = torch.bfloat16
    x = torch.tensor(X, dtype=dtype, device='cpu')
    w = torch.tensor(W, dtype=torch.bfloat16, device='cpu')

    def conv(x, w, b):
        return F.conv_transpose2d(x, w, b, stride=(1, 1), padding=(3, 0), output_padding=(1, 0), dilation=(2,
            1), groups=1)

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
    why = cannot_tell()
    if why:
        print(f'CANNOT TELL: {why}')
        return 2
    try:
        out = run_torch()
    except Exception as exc:
        print(f'REPRODUCES: raised {type(exc).__name__}: {exc}')
        print('expected: an output of shape', EXPECTED.shape)
        return 1
    if out.shape != EXPECTED.shape:
        print(f'REPRODUCES: output of shape {out.shape}, expected {EXPECTED.shape}')
        return 1
    with np.errstate(invalid='ignore'):
        error = np.abs(out - EXPECTED)
    # Where the exact result is inf or NaN the output must be the same; elsewhere within the bound.
    same = (out == EXPECTED) | (np.isnan(out) & np.isnan(EXPECTED))
    wrong = ~(same | (error <= BOUND))
    if not wrong.any():
        print('GONE: every element is within its bound of the exact result')
        return 0
    excess = np.where(wrong, np.nan_to_num(error, nan=np.inf) - BOUND, -np.inf)
    at = np.unravel_index(int(np.argmax(excess)), out.shape)
    print(f'REPRODUCES: {int(wrong.sum())} of {wrong.size} elements are off; worst '
          f'out{list(map(int, at))} = {out[at].item()!r}, exact {EXPECTED[at].item()!r}: '
          f'|error| {error[at]:.3g} > bound {BOUND[at]:.3g}')
    return 1


if __name__ == '__main__':
    sys.exit(main())
