#!/usr/bin/env python3
"""tf.nn.convolution accepts an invalid configuration for float64 on cpu with invalid configuration (hostile_padding).

Needs numpy and tensorflow. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (tensorflow or the cpu device missing, or the problem does not show where
another kernel may have run).
Found by convfuzz (finding conv1d-float64-error-mismatch-tensorflow-7260e99e)."""

import importlib.util
import sys

import numpy as np

# What chose the kernel where this was found: where one of these differs another kernel runs, and a
# discrepancy that does not show here says nothing about the kernel that has it.
FOUND_WITH = {'vendor': 'GenuineIntel', 'avx': True, 'avx2': True, 'fma': True, 'f16c': True, 'avx512f': True, 'avx512bw': True, 'avx512vl': True, 'avx512dq': True, 'avx512_vnni': True, 'avx512_bf16': True, 'avx512_fp16': True, 'avx_vnni': True, 'amx_tile': True, 'amx_bf16': True, 'amx_int8': True, 'amx_fp16': False}


# The inputs, as float64 values that float64 holds exactly.
X = np.zeros((1, 1, 3))
W = np.zeros((1, 1, 1))


def run_tensorflow(X: np.ndarray = X, W: np.ndarray = W) -> np.ndarray:
    """tensorflow: tf.nn.convolution."""
    import tensorflow as tf

    # TensorFlow's layouts: channels last, the filter's spatial dims first.
    x = tf.constant(np.moveaxis(X, 1, -1), dtype=tf.float64)
    w = tf.constant(np.transpose(W, (2, 1, 0)), dtype=tf.float64)

    def conv(x, w):
        x = tf.pad(x, [[0, 0], [9223372036854775807, 9223372036854775807], [0, 0]], mode='CONSTANT')
        y = tf.nn.convolution(x, w, strides=[1], padding='VALID', data_format='NWC', dilations=[1])
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


def check() -> tuple[bool, str]:
    """Make the call: whether the problem shows, and what was seen."""
    try:
        out = run_tensorflow()
    except Exception as exc:  # refusing is right
        return False, f'refused as it should: {type(exc).__name__}: {exc}'
    if out.size == 0:
        return False, 'an empty output, no numbers'
    return True, f'an output of shape {out.shape} for an invalid configuration (hostile_padding) instead of an error'


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
