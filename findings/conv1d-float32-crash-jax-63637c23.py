#!/usr/bin/env python3
"""lax.conv_general_dilated crashes on an invalid configuration for float32 on cpu with invalid configuration (hostile_padding).

Needs numpy and jax. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (jax or the cpu device missing, or the problem does not show where
another kernel may have run).
Found by convfuzz (finding conv1d-float32-crash-jax-63637c23)."""

import importlib.util
import signal
import subprocess
import sys

import numpy as np

TIMEOUT = 60
# What chose the kernel where this was found: where one of these differs another kernel runs, and a
# discrepancy that does not show here says nothing about the kernel that has it.
FOUND_WITH = {'vendor': 'GenuineIntel', 'avx': True, 'avx2': True, 'fma': True, 'f16c': True, 'avx512f': True, 'avx512bw': True, 'avx512vl': True, 'avx512dq': True, 'avx512_vnni': True, 'avx512_bf16': True, 'avx512_fp16': True, 'avx_vnni': True, 'amx_tile': True, 'amx_bf16': True, 'amx_int8': True, 'amx_fp16': False}


# The inputs, as float64 values that float32 holds exactly.
X = np.zeros((1, 1, 1))
W = np.zeros((1, 1, 1))
B = np.zeros((1,))


def run_jax(X: np.ndarray = X, W: np.ndarray = W, B: np.ndarray = B) -> np.ndarray:
    """jax: lax.conv_general_dilated."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    # Jitted as convfuzz runs it (and as models run it): the conv and the bias add compile together.
    @jax.jit
    def conv(x, w, b):
        return lax.conv_general_dilated(x, w, window_strides=(1,), padding=((2147483647, 2147483647),),
            rhs_dilation=(1,), dimension_numbers=('NCW', 'OIW', 'NCW'), feature_group_count=1,
            precision=lax.Precision.HIGHEST) + b.reshape((1, -1, 1))

    device = jax.devices('cpu')[0]
    x = jax.device_put(np.asarray(X, dtype=jnp.float32), device)
    w = jax.device_put(np.asarray(W, dtype=jnp.float32), device)
    b = jax.device_put(np.asarray(B, dtype=jnp.float32), device)
    return np.asarray(conv(x, w, b)).astype(np.float64)


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


def call_in_child() -> int:
    """The child process: make the call, and say on the last line of output how it ended."""
    # As convfuzz's worker: at most 8 GiB mapped beyond the loaded framework (Linux; `ulimit -v` too).
    import resource
    import jax
    jax.devices('cpu')
    mapped = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()
    limit = mapped + 8 * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
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
        if said.startswith('raised MemoryError'):
            return True, f'the call {said}: it tried to allocate what an invalid configuration never needs'
        return False, f'refused as it should: {said}'
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
