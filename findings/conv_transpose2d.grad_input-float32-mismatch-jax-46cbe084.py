#!/usr/bin/env python3
"""input gradient of lax.conv_general_dilated (as conv_transpose2d) returns wrong values for float32 on cpu with groups=3, stride=(3, 1), output_padding=(2, 0).

Needs numpy and jax. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (jax or the cpu device missing, or the problem does not show where
another kernel may have run).
Found by convfuzz (finding conv_transpose2d.grad_input-float32-mismatch-jax-46cbe084)."""

import importlib.util
import sys

import numpy as np

# What chose the kernel where this was found: where one of these differs another kernel runs, and a
# discrepancy that does not show here says nothing about the kernel that has it.
FOUND_WITH = {'vendor': 'GenuineIntel', 'avx': True, 'avx2': True, 'fma': True, 'f16c': True, 'avx512f': True, 'avx512bw': True, 'avx512vl': True, 'avx512dq': True, 'avx512_vnni': True, 'avx512_bf16': True, 'avx512_fp16': True, 'avx_vnni': True, 'amx_tile': True, 'amx_bf16': True, 'amx_int8': True, 'amx_fp16': False}


# The inputs, as float64 values that float32 holds exactly.
X = np.zeros((1, 3, 1, 1))
W = np.ones((3, 6, 1, 1))
G = np.ones((1, 18, 1, 1))
# The exact result, computed in float64 from the same values.
EXPECTED = np.zeros((1, 3, 1, 1))
# The largest |error| a correct float32 implementation may make, per element (its rounding bound).
BOUND = np.zeros((1, 3, 1, 1))


def run_jax(X: np.ndarray = X, W: np.ndarray = W, G: np.ndarray = G) -> np.ndarray:
    """jax: the input gradient of lax.conv_general_dilated."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def conv(x, w):
        # torch's (C_in, C_out/groups, *kernel) weight as the forward kernel: in/out swapped per group,
        # flipped.
        grouped = w.reshape(3, w.shape[0] // 3, *w.shape[1:])
        kernel = jnp.swapaxes(grouped, 1, 2).reshape(-1, w.shape[0] // 3, *w.shape[2:])
        kernel = jnp.flip(kernel, axis=(2, 3))
        return lax.conv_general_dilated(x, kernel, window_strides=(1, 1), padding=((-1, 1), (0, 0)),
            lhs_dilation=(3, 1), rhs_dilation=(1, 1), dimension_numbers=('NCHW', 'OIHW', 'NCHW'),
            feature_group_count=3, precision=lax.Precision.HIGHEST)

    # Jitted as convfuzz runs it (and as models run it).
    @jax.jit
    def gradient(x, w, g):
        _, pullback = jax.vjp(conv, x, w)
        return pullback(g)[0]  # d/dinput

    device = jax.devices('cpu')[0]
    x = jax.device_put(np.asarray(X, dtype=jnp.float32), device)
    w = jax.device_put(np.asarray(W, dtype=jnp.float32), device)
    g = jax.device_put(np.asarray(G, dtype=jnp.float32), device)
    return np.asarray(gradient(x, w, g)).astype(np.float64)


def cpu_identity(flags: tuple[str, ...]) -> dict[str, object]:
    """The CPU as convfuzz reads it (the same function: oracles/kernel_facts.py)."""
    import platform

    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if not line.strip():
                    if fields:
                        break  # the end of the first processor's block
                    continue
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    machine = platform.machine()
    listed = fields.get("flags") or fields.get("Features")  # x86 names them flags, ARM Features
    present = set(listed.split()) if listed else None
    return {
        "vendor": fields.get("vendor_id") or fields.get("CPU implementer") or None,
        "model": fields.get("model name") or platform.processor() or machine,
        "machine": machine,
        "isa": {} if present is None else {flag: flag in present for flag in flags},
    }


def facts_here() -> dict:
    """FOUND_WITH's facts on this machine (None where unknown)."""
    cpu = cpu_identity(('avx', 'avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512_vnni', 'avx512_bf16', 'avx512_fp16', 'avx_vnni', 'amx_tile', 'amx_bf16', 'amx_int8', 'amx_fp16'))
    return {'vendor': cpu['vendor'], 'model': cpu['model'], **cpu['isa']}


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
