#!/usr/bin/env python3
"""bias gradient of lax.conv_general_dilated (as conv_transpose1d) loses precision for float16 on cuda.

Needs numpy and jax. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (jax or the cuda device missing, or the problem does not show where
another kernel may have run).
Found by convfuzz (finding conv_transpose1d.grad_bias-float16-precision-jax-662333eb)."""

import importlib.util
import sys

import numpy as np

# What chose the kernel where this was found: where one of these differs another kernel runs, and a
# discrepancy that does not show here says nothing about the kernel that has it.
FOUND_WITH = {'name': 'NVIDIA H200'}


# The inputs, as float64 values that float16 holds exactly.
X = np.zeros((1, 1, 5))
W = np.zeros((1, 1, 1))
B = np.zeros((1,))
G = np.array([
    0.27392578125, -0.46044921875, -0.91796875, -0.966796875, 0.62646484375
]).reshape((1, 1, 5))
# The exact result, computed in float64 from the same values.
EXPECTED = np.full((1,), -1.44482421875)
# The largest |error| a correct float16 implementation may make, per element (its rounding bound).
BOUND = np.full((1,), 0.0008287116074450663)


def run_jax(X: np.ndarray = X, W: np.ndarray = W, B: np.ndarray = B, G: np.ndarray = G) -> np.ndarray:
    """jax: the bias gradient of lax.conv_general_dilated."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def conv(x, w, b):
        # torch's (C_in, C_out, *kernel) weight as the forward kernel: in and out swapped, flipped.
        kernel = jnp.flip(jnp.swapaxes(w, 0, 1), axis=(2,))
        return lax.conv_general_dilated(x, kernel, window_strides=(1,), padding=((0, 0),), lhs_dilation=(1,),
            rhs_dilation=(1,), dimension_numbers=('NCW', 'OIW', 'NCW'), feature_group_count=1,
            precision=lax.Precision.HIGHEST) + b.reshape((1, -1) + (1,) * 1)

    # Jitted as convfuzz runs it (and as models run it): the conv and the bias add compile together.
    @jax.jit
    def gradient(x, w, b, g):
        _, pullback = jax.vjp(conv, x, w, b)
        return pullback(g)[2]  # d/dbias

    device = jax.devices('gpu')[0]
    x = jax.device_put(np.asarray(X, dtype=jnp.float16), device)
    w = jax.device_put(np.asarray(W, dtype=jnp.float16), device)
    b = jax.device_put(np.asarray(B, dtype=jnp.float16), device)
    g = jax.device_put(np.asarray(G, dtype=jnp.float16), device)
    return np.asarray(gradient(x, w, b, g)).astype(np.float64)


def facts_here() -> dict:
    """FOUND_WITH's facts on this machine (None where unknown)."""
    facts: dict = {}
    import jax

    probes = {
        'name': lambda: str(jax.devices()[0].device_kind),
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
    if importlib.util.find_spec('jax') is None:
        return 'jax is not installed'
    import jax

    try:
        jax.devices('gpu')
    except RuntimeError:
        return 'jax sees no GPU here'
    return None


def check() -> tuple[bool, str]:
    """Make the call: whether the problem shows, and what was seen."""
    try:
        out = run_jax()
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
