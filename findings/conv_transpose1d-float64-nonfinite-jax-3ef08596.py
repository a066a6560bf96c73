#!/usr/bin/env python3
"""lax.conv_general_dilated (as conv_transpose1d) propagates inf/NaN wrongly for float64 on cpu with groups=2.

Needs numpy and jax. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (jax or the cpu device missing, or the problem does not show where
another kernel may have run).
Found by convfuzz (finding conv_transpose1d-float64-nonfinite-jax-3ef08596)."""

import importlib.util
import sys

import numpy as np


# The inputs, as float64 values that float64 holds exactly.
X = np.array([np.nan, 1.0]).reshape((1, 2, 1))
W = np.zeros((2, 1, 1))
# The exact result, computed in float64 from the same values.
EXPECTED = np.array([np.nan, 0.0]).reshape((1, 2, 1))
# The largest |error| a correct float64 implementation may make, per element (its rounding bound).
BOUND = np.array([1.3350443151043208e-307, 2.4475812443579215e-307]).reshape((1, 2, 1))


def run_jax(X: np.ndarray = X, W: np.ndarray = W) -> np.ndarray:
    """jax: lax.conv_general_dilated."""
    import jax

    jax.config.update('jax_enable_x64', True)
    import jax.numpy as jnp
    from jax import lax

    # Jitted as convfuzz runs it (and as models run it).
    @jax.jit
    def conv(x, w):
        # torch's (C_in, C_out/groups, *kernel) weight as the forward kernel: in/out swapped per group,
        # flipped.
        grouped = w.reshape(2, w.shape[0] // 2, *w.shape[1:])
        kernel = jnp.swapaxes(grouped, 1, 2).reshape(-1, w.shape[0] // 2, *w.shape[2:])
        kernel = jnp.flip(kernel, axis=(2,))
        return lax.conv_general_dilated(x, kernel, window_strides=(1,), padding=((0, 0),), lhs_dilation=(1,),
            rhs_dilation=(1,), dimension_numbers=('NCW', 'OIW', 'NCW'), feature_group_count=2,
            precision=lax.Precision.HIGHEST)

    device = jax.devices('cpu')[0]
    x = jax.device_put(np.asarray(X, dtype=jnp.float64), device)
    w = jax.device_put(np.asarray(W, dtype=jnp.float64), device)
    return np.asarray(conv(x, w)).astype(np.float64)


def another_kernel() -> str | None:
    """Why the kernel with the problem may not have run here: the cpu it was found on is known
    only by a name that covers models with other kernels."""
    if '--any-hardware' in sys.argv:
        return None
    return ("it was found on a cpu recorded only as 'AMD EPYC',"
            ' and another kernel may run here; --any-hardware calls it gone anyway')


def missing() -> str | None:
    """What this machine lacks to make the call at all, or None."""
    if importlib.util.find_spec('jax') is None:
        return 'jax is not installed'
    return None


def check() -> tuple[bool, str]:
    """Make the call: whether the problem shows, and what was seen."""
    try:
        out = run_jax()
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
