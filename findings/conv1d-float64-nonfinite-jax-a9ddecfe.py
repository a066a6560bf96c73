#!/usr/bin/env python3
"""lax.conv_general_dilated propagates inf/NaN wrongly for float64 on cpu with groups=2.

Needs numpy and jax. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (jax or the cpu device missing, or another kernel would run here).
Found by convfuzz (finding conv1d-float64-nonfinite-jax-a9ddecfe)."""

import signal
import subprocess
import sys

import numpy as np

TIMEOUT = 60
# What chose the kernel where this was found: where one of these differs another kernel runs, and a
# discrepancy that does not show says nothing about the kernel that has it.
FOUND_WITH = {'model': 'AMD EPYC'}


# The inputs, as float64 values that float64 holds exactly.
X = np.array([np.nan, 1.0]).reshape((1, 2, 1))
W = np.array([0.0, 0.0]).reshape((2, 1, 1))
B = None
G = None
# The exact result, computed in float64 from the same values.
EXPECTED = np.array([np.nan, 0.0]).reshape((1, 2, 1))
# The largest |error| a correct float64 implementation may make, per element (its rounding bound).
BOUND = np.array([1.3350443151043208e-307, 2.4475812443579215e-307]).reshape((1, 2, 1))


def run_jax(X: np.ndarray = X, W: np.ndarray = W, B: np.ndarray | None = B, G: np.ndarray | None = G) -> np.ndarray:
    """jax: lax.conv_general_dilated."""
    import jax

    jax.config.update('jax_enable_x64', True)
    import jax.numpy as jnp
    from jax import lax

    # Jitted as convfuzz runs it (and as models run it): the conv and the bias add compile together.
    @jax.jit
    def conv(x, w, b):
        return lax.conv_general_dilated(x, w, window_strides=(1,), padding='VALID', rhs_dilation=(1,),
            dimension_numbers=('NCW', 'OIW', 'NCW'), feature_group_count=2, precision=lax.Precision.HIGHEST)

    device = jax.devices('cpu')[0]
    x_values, w_values = X, W
    x = jax.device_put(np.asarray(x_values, dtype=jnp.float64), device)
    w = jax.device_put(np.asarray(w_values, dtype=jnp.float64), device)
    b = None if B is None else jax.device_put(np.asarray(B, dtype=jnp.float64), device)
    return np.asarray(np.asarray(conv(x, w, b))).astype(np.float64)


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
        import jax
    except ImportError:
        return 'jax is not installed'
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
