#!/usr/bin/env python3
"""lax.conv_general_dilated (as conv_transpose2d) crashes the process for bfloat16 on cpu with stride=(2, 2), output_padding=(0, 1).

Needs numpy and jax. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (jax or the cpu device missing, or another kernel would run here).
Found by convfuzz (finding conv_transpose2d-bfloat16-crash-jax-jax-vjp-f94a591e)."""

import signal
import subprocess
import sys

import numpy as np

TIMEOUT = 60
# What chose the kernel where this was found: where one of these differs another kernel runs, and a
# discrepancy that does not show says nothing about the kernel that has it.
FOUND_WITH = {'model': 'AMD EPYC'}


# The inputs, as float64 values that bfloat16 holds exactly.
X = np.array([0.0, 0.0, 0.0]).reshape((1, 1, 3, 1))
W = np.array([0.0, 0.0, 0.0, 0.0]).reshape((1, 1, 2, 2))
B = None
G = None


def run_jax(X: np.ndarray = X, W: np.ndarray = W, B: np.ndarray | None = B, G: np.ndarray | None = G) -> np.ndarray:
    """jax: lax.conv_general_dilated."""
    import jax

    jax.config.update('jax_enable_x64', True)
    import jax.numpy as jnp
    from jax import lax

    # Jitted as convfuzz runs it (and as models run it): the conv and the bias add compile together.
    @jax.jit
    def conv(x, w, b):
        # torch's (C_in, C_out/groups, *kernel) weight as the forward kernel: in/out swapped per group,
        # flipped.
        grouped = w.reshape(1, w.shape[0] // 1, *w.shape[1:])
        kernel = jnp.swapaxes(grouped, 1, 2).reshape(-1, w.shape[0] // 1, *w.shape[2:])
        kernel = jnp.flip(kernel, axis=tuple(range(2, kernel.ndim)))
        return lax.conv_general_dilated(x, kernel, window_strides=(1, 1), padding=((0, 0), (1, 2)),
            lhs_dilation=(2, 2), rhs_dilation=(1, 1), dimension_numbers=('NCHW', 'OIHW', 'NCHW'),
            feature_group_count=1, precision=lax.Precision.HIGHEST)

    device = jax.devices('cpu')[0]
    x_values, w_values = X, W
    x = jax.device_put(np.asarray(x_values, dtype=jnp.bfloat16), device)
    w = jax.device_put(np.asarray(w_values, dtype=jnp.bfloat16), device)
    b = None if B is None else jax.device_put(np.asarray(B, dtype=jnp.bfloat16), device)
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
    if sys.argv[1:2] == ['--call']:  # the child: make the call
        run_jax()
        return 0
    why = cannot_tell()
    if why:
        print(f'CANNOT TELL: {why}')
        return 2
    # The call runs in a child process, so a crash or a hang is reported rather than suffered.
    try:
        done = subprocess.run([sys.executable, __file__, '--call'], timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        print(f'REPRODUCES: no answer within {TIMEOUT} s')
        return 1
    if done.returncode < 0:
        print(f'REPRODUCES: the process was killed by {signal.Signals(-done.returncode).name}')
        return 1
    print(f'GONE: the call returned (exit status {done.returncode})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
