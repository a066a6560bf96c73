#!/usr/bin/env python3
"""lax.conv_general_dilated propagates inf/NaN wrongly for float16 on cuda with groups=2, dilation=(1, 2).

Needs numpy and jax. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (jax or the cuda device missing, or another kernel would run here).
Found by convfuzz (finding conv2d-float16-nonfinite-jax-85894d34)."""

import signal
import subprocess
import sys

import numpy as np

TIMEOUT = 60
# What chose the kernel where this was found: where one of these differs another kernel runs, and a
# discrepancy that does not show says nothing about the kernel that has it.
FOUND_WITH = {'name': 'NVIDIA H200'}


# The inputs, as float64 values that float16 holds exactly.
X = np.array([
    np.nan, 1.0, 0.0, -2.0, -1.0, -3.0, -3.0, -3.0, -2.0, 2.0, 1.0, 3.0, 0.0, 1.0, 3.0, 2.0, 1.0, 0.0, 0.0,
    3.0, -2.0, 2.0, 1.0, -3.0, -1.0, 3.0, 0.0, -3.0, 2.0, 2.0, 2.0, -2.0, -3.0, 3.0, -3.0, 0.0, -3.0, -1.0,
    0.0, -1.0, -1.0, -3.0, -3.0, -3.0, -3.0, 1.0, 0.0, 1.0, -2.0, 1.0, 2.0, -1.0, 0.0, 3.0, 2.0, 3.0, -1.0,
    1.0, 3.0, 1.0, 2.0, 1.0, 1.0, -1.0, 3.0, -3.0, 1.0, 2.0, 2.0, 0.0, -1.0, -1.0, -1.0, 0.0, 2.0, 3.0,
    -3.0, 3.0, 0.0, -1.0, 1.0, 1.0, -2.0, -1.0
]).reshape((1, 6, 2, 7))
W = np.array([
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
]).reshape((4, 3, 2, 4))
B = np.array([0.0, 0.0, 0.0, 0.0]).reshape((4,))
G = None
# The exact result, computed in float64 from the same values.
EXPECTED = np.array([np.nan, np.nan, 0.0, 0.0]).reshape((1, 4, 1, 1))
# The largest |error| a correct float16 implementation may make, per element (its rounding bound).
BOUND = np.array([
    1.1570384064237447e-306, 1.1570384064237447e-306, 0.0001220703125, 0.0001220703125
]).reshape((1, 4, 1, 1))


def run_jax(X: np.ndarray = X, W: np.ndarray = W, B: np.ndarray | None = B, G: np.ndarray | None = G) -> np.ndarray:
    """jax: lax.conv_general_dilated."""
    import jax

    jax.config.update('jax_enable_x64', True)
    import jax.numpy as jnp
    from jax import lax

    # Jitted as convfuzz runs it (and as models run it): the conv and the bias add compile together.
    @jax.jit
    def conv(x, w, b):
        return lax.conv_general_dilated(x, w, window_strides=(1, 1), padding='VALID', rhs_dilation=(1, 2),
            dimension_numbers=('NCHW', 'OIHW', 'NCHW'), feature_group_count=2,
            precision=lax.Precision.HIGHEST) + b.reshape((1, -1, 1, 1))

    device = jax.devices('gpu')[0]
    x_values, w_values = X, W
    x = jax.device_put(np.asarray(x_values, dtype=jnp.float16), device)
    w = jax.device_put(np.asarray(w_values, dtype=jnp.float16), device)
    b = None if B is None else jax.device_put(np.asarray(B, dtype=jnp.float16), device)
    return np.asarray(np.asarray(conv(x, w, b))).astype(np.float64)


def facts_here() -> dict:
    """FOUND_WITH's facts on this machine (None where unknown)."""
    facts: dict = {}
    import jax

    try:
        facts['name'] = str(jax.devices()[0].device_kind)
    except Exception:  # an older or leaner build: unknown
        pass
    return facts


def cannot_tell() -> str | None:
    """Why this machine cannot tell whether the problem is still there, or None."""
    try:
        import jax
    except ImportError:
        return 'jax is not installed'
    try:
        jax.devices('gpu')
    except RuntimeError:
        return 'jax sees no GPU here'
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
        out = run_jax()
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
