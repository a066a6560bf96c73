#!/usr/bin/env python3
"""tf.nn.convolution crashes on an invalid configuration for float16 on cpu with stride=(2147483648,), invalid configuration (hostile_stride).

Needs numpy and tensorflow. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (tensorflow or the cpu device missing, or the problem does not show where
another kernel may have run).
Found by convfuzz (finding conv1d-float16-crash-tensorflow-tensorflow-nchw-10e48954)."""

import importlib.util
import signal
import subprocess
import sys

import numpy as np

TIMEOUT = 60
# What chose the kernel where this was found: where one of these differs another kernel runs, and a
# discrepancy that does not show here says nothing about the kernel that has it.
FOUND_WITH = {'vendor': 'GenuineIntel', 'avx': True, 'avx2': True, 'fma': True, 'f16c': True, 'avx512f': True, 'avx512bw': True, 'avx512vl': True, 'avx512dq': True, 'avx512_vnni': True, 'avx512_bf16': True, 'avx512_fp16': True, 'avx_vnni': True, 'amx_tile': True, 'amx_bf16': True, 'amx_int8': True, 'amx_fp16': False}


# The inputs, as float64 values that float16 holds exactly.
X = np.zeros((1, 1, 1))
W = np.zeros((1, 1, 1))


def run_tensorflow(X: np.ndarray = X, W: np.ndarray = W) -> np.ndarray:
    """tensorflow: tf.nn.convolution."""
    import tensorflow as tf

    # TensorFlow's layouts: channels last, the filter's spatial dims first.
    x = tf.constant(np.moveaxis(X, 1, -1), dtype=tf.float16)
    w = tf.constant(np.transpose(W, (2, 1, 0)), dtype=tf.float16)

    def conv(x, w):
        y = tf.nn.convolution(x, w, strides=[2147483648], padding='VALID', data_format='NWC', dilations=[1])
        return y

    out = np.moveaxis(tf.cast(conv(x, w), tf.float64).numpy(), -1, 1)
    return out


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
    if importlib.util.find_spec('tensorflow') is None:
        return 'tensorflow is not installed'
    return None


def call_in_child() -> int:
    """The child process: make the call, and say on the last line of output how it ended."""
    # As convfuzz's worker: at most 8 GiB mapped beyond the loaded framework (Linux; `ulimit -v` too).
    import resource
    import tensorflow as tf
    tf.zeros(1)  # started, as the worker has it
    mapped = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()
    limit = mapped + 8 * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    try:
        run_tensorflow()
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
