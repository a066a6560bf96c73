#!/usr/bin/env python3
"""bias gradient of F.conv2d loses precision for float16 on cpu with groups=2, dilation=(1, 2).

Needs numpy and torch. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (torch or the cpu device missing, or another kernel would run here).
Found by convfuzz (finding conv2d.grad_bias-float16-precision-torch-a82d2c29)."""

import signal
import subprocess
import sys

import numpy as np

TIMEOUT = 60
# What chose the kernel where this was found: where one of these differs another kernel runs, and a
# discrepancy that does not show says nothing about the kernel that has it.
FOUND_WITH = {'model': 'AMD EPYC'}


# The inputs, as float64 values that float16 holds exactly.
X = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]).reshape((2, 2, 1, 3))
W = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0]).reshape((6, 1, 1, 1))
B = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0]).reshape((6,))
G = np.array([
    0.70361328125, -0.01270294189453125, -0.2197265625, -0.640625, -0.79833984375, 0.560546875,
    0.57275390625, 0.7421875, -0.355712890625, -0.76220703125, 0.2208251953125, 0.46728515625,
    -0.5595703125, 0.57666015625, -0.44287109375, -0.89111328125, -0.4580078125, -0.99609375, 0.322265625,
    0.52490234375, -0.49169921875, -0.82666015625, -0.94873046875, -0.1070556640625, -0.161865234375,
    -0.94091796875, 0.58251953125, -0.06414794921875, 0.7109375, 0.174560546875, 0.8076171875, 0.5927734375,
    0.405029296875, 0.281005859375, 0.599609375, -0.01155853271484375
]).reshape((2, 6, 1, 3))
# The exact result, computed in float64 from the same values.
EXPECTED = np.array([
    0.8266525268554688, -2.7608642578125, 0.43896484375, 0.74725341796875, 1.379638671875,
    -1.4761581420898438
]).reshape((6,))
# The largest |error| a correct float16 implementation may make, per element (its rounding bound).
BOUND = np.array([
    0.0005266584084323548, 0.00147176824316043, 0.0003378088300862317, 0.0004879414886649272,
    0.0007971341407489586, 0.0008442013996704398
]).reshape((6,))


def run_torch(X: np.ndarray = X, W: np.ndarray = W, B: np.ndarray | None = B, G: np.ndarray | None = G) -> np.ndarray:
    """torch: the bias gradient of F.conv2d."""
    import torch
    import torch.nn.functional as F

    dtype = torch.float16
    x = torch.tensor(X, dtype=dtype, device='cpu')
    w = torch.tensor(W, dtype=torch.float16, device='cpu')
    b = torch.tensor(B, dtype=dtype, device='cpu')
    g = torch.tensor(G, dtype=dtype, device='cpu')

    def conv(x, w, b):
        return F.conv2d(x, w, b, stride=(1, 1), padding='valid', dilation=(1, 2), groups=2)

    # The gradient with respect to b alone at output cotangent g, through autograd.
    b.requires_grad_(True)
    (grad,) = torch.autograd.grad(conv(x, w, b), b, grad_outputs=g)
    return grad.detach().to(device='cpu', dtype=torch.float64).resolve_conj().numpy()


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
