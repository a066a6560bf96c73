#!/usr/bin/env python3
"""bias gradient of F.conv2d loses precision for float16 on cpu with groups=2, dilation=(1, 2).

Needs numpy and torch. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (torch or the cpu device missing, or the problem does not show where
another kernel may have run).
Found by convfuzz (finding conv2d.grad_bias-float16-precision-torch-a82d2c29)."""

import importlib.util
import sys

import numpy as np


# The inputs, as float64 values that float16 holds exactly.
X = np.zeros((2, 2, 1, 3))
W = np.zeros((6, 1, 1, 1))
B = np.zeros((6,))
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
])
# The largest |error| a correct float16 implementation may make, per element (its rounding bound).
BOUND = np.array([
    0.0005266584084323548, 0.00147176824316043, 0.0003378088300862317, 0.0004879414886649272,
    0.0007971341407489586, 0.0008442013996704398
])


def run_torch(X: np.ndarray = X, W: np.ndarray = W, B: np.ndarray = B, G: np.ndarray = G) -> np.ndarray:
    """torch: the bias gradient of F.conv2d."""
    import torch
    import torch.nn.functional as F

    dtype = torch.float16
    x = torch.tensor(X, dtype=dtype, device='cpu')
    w = torch.tensor(W, dtype=torch.float16, device='cpu')
    b = torch.tensor(B, dtype=dtype, device='cpu')
    g = torch.tensor(G, dtype=dtype, device='cpu')

    # The gradient with respect to b alone at output cotangent g, through autograd.
    b.requires_grad_(True)
    (grad,) = torch.autograd.grad(F.conv2d(x, w, b, stride=(1, 1), padding='valid', dilation=(1, 2),
        groups=2), b, grad_outputs=g)
    return grad.detach().to(device='cpu', dtype=torch.float64).numpy()


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
