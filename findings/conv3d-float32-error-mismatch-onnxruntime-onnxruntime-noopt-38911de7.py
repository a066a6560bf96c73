#!/usr/bin/env python3
"""ONNX Conv (conv3d) raises an error on a valid case for float32 on cpu with padding_mode=circular.

Needs numpy, onnxruntime and onnx. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this
machine cannot tell (onnxruntime or onnx or the cpu device missing, or the problem does not show where
another kernel may have run).
Found by convfuzz (finding conv3d-float32-error-mismatch-onnxruntime-onnxruntime-noopt-38911de7)."""

import importlib.util
import sys

import numpy as np

# What chose the kernel where this was found: where one of these differs another kernel runs, and a
# discrepancy that does not show here says nothing about the kernel that has it.
FOUND_WITH = {'vendor': 'GenuineIntel', 'avx': True, 'avx2': True, 'fma': True, 'f16c': True, 'avx512f': True, 'avx512bw': True, 'avx512vl': True, 'avx512dq': True, 'avx512_vnni': True, 'avx512_bf16': True, 'avx512_fp16': True, 'avx_vnni': True, 'amx_tile': True, 'amx_bf16': True, 'amx_int8': True, 'amx_fp16': False}


# The inputs, as float64 values that float32 holds exactly.
X = np.zeros((0, 1, 1, 1, 1))
W = np.zeros((1, 1, 1, 1, 1))
# The exact result, computed in float64 from the same values.
EXPECTED = np.zeros((0, 1, 1, 1, 3))
# The largest |error| a correct float32 implementation may make, per element (its rounding bound).
BOUND = np.zeros((0, 1, 1, 1, 3))


def run_onnxruntime(X: np.ndarray = X, W: np.ndarray = W) -> np.ndarray:
    """onnxruntime: Conv in ONNX Runtime."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.asarray(W, dtype=np.float32), 'w')
    pads = numpy_helper.from_array(np.array([0, 0, 0, 0, 1, 0, 0, 0, 0, 1], dtype=np.int64), 'pads')
    pad = helper.make_node('Pad', ['x', 'pads'], ['padded'], mode='wrap')
    conv = helper.make_node('Conv', ['padded', 'w'], ['y'], kernel_shape=[1, 1, 1], strides=[1, 1, 1],
        dilations=[1, 1, 1], group=1)
    graph = helper.make_graph([pad, conv], 'conv', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [0,
        1, 1, 1, 1])], [helper.make_tensor_value_info('y', TensorProto.FLOAT, None)], initializer=[w, pads])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 21)])
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=['CPUExecutionProvider'])
    (out,) = session.run(None, {'x': np.asarray(X, dtype=np.float32)})
    return out.astype(np.float64)


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
    if importlib.util.find_spec('onnxruntime') is None:
        return 'onnxruntime is not installed'
    if importlib.util.find_spec('onnx') is None:
        return 'onnx is not installed'
    return None


def check() -> tuple[bool, str]:
    """Make the call: whether the problem shows, and what was seen."""
    try:
        out = run_onnxruntime()
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
