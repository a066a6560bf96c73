#!/usr/bin/env python3
"""lax.conv_general_dilated (as conv_transpose2d) crashes the process for bfloat16 on cpu with stride=(2, 1), dilation=(1, 2), output_padding=(0, 1).

Needs numpy and jax. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (jax or the cpu device missing, or the problem does not show where
another kernel may have run).
Found by convfuzz (finding conv_transpose2d-bfloat16-crash-jax-def2b97c)."""

import importlib.util
import signal
import subprocess
import sys

import numpy as np

TIMEOUT = 60


# The inputs, as float64 values that bfloat16 holds exactly.
X = np.zeros((1, 1, 3, 1))
W = np.zeros((1, 1, 2, 2))


def run_jax(X: np.ndarray = X, W: np.ndarray = W) -> np.ndarray:
    """jax: lax.conv_general_dilated."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    # Jitted as convfuzz runs it (and as models run it).
    @jax.jit
    def conv(x, w):
        # torch's (C_in, C_out, *kernel) weight as the forward kernel: in and out swapped, flipped.
        kernel = jnp.flip(jnp.swapaxes(w, 0, 1), axis=(2, 3))
        return lax.conv_general_dilated(x, kernel, window_strides=(1, 1), padding=((0, 0), (2, 3)),
            lhs_dilation=(2, 1), rhs_dilation=(1, 2), dimension_numbers=('NCHW', 'OIHW', 'NCHW'),
            feature_group_count=1, precision=lax.Precision.HIGHEST)

    device = jax.devices('cpu')[0]
    x = jax.device_put(np.asarray(X, dtype=jnp.bfloat16), device)
    w = jax.device_put(np.asarray(W, dtype=jnp.bfloat16), device)
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


def call_in_child() -> int:
    """The child process: make the call, and say on the last line of output how it ended."""
    try:
        run_jax()
    except Exception as exc:
        print(f'raised {type(exc).__name__}: {exc}', flush=True)
        return 3
    print('returned', flush=True)
    return 0


def check() -> tuple[bool, str]:
    """Make the call in a child process: whether the problem shows, and what was seen."""
    try:
        done = subprocess.run([sys.executable, __file__, '--call'], stdout=subprocess.PIPE, text=True,
                              timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return True, f'no answer within {TIMEOUT} s'
    if done.returncode < 0:
        return True, f'the process was killed by {signal.Signals(-done.returncode).name}'
    said = (done.stdout.strip().splitlines() or [''])[-1]
    if done.returncode == 0 and said == 'returned':
        return False, 'the call returned'
    if done.returncode == 3 and said.startswith('raised '):
        return True, f'no crash now, but the call {said} on a valid configuration'
    return True, f'the process ended with exit status {done.returncode} before the call returned'


def main() -> int:
    if sys.argv[1:] == ['--call']:
        return call_in_child()
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
