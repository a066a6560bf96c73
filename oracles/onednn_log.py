"""Which oneDNN convolution implementation ran: read from oneDNN's verbose log around one torch call.

torch names the conv backend it picks (Mkldnn, Slow2d, ...), but behind Mkldnn oneDNN picks its own implementation
by shape, data type and the CPU's instruction set (jit_dw:avx512_core_bf16, brgconv:avx512_core_amx, gemm:jit,
ref:any, ...), and real bugs live on some of those paths only. oneDNN says which one it ran when its verbose mode
is on: one line per executed primitive, written with C stdio to file descriptor 1. Around one call, the descriptor
is pointed at a temporary file, verbose mode switched on through torch.backends.mkldnn.verbose, and the
convolution lines read back.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

# The primitive kinds of a convolution in oneDNN's log: forward, backward data and weights alike.
CONVOLUTION_KINDS = ("convolution", "deconvolution")
LOG_PREFIXES = ("onednn_verbose", "dnnl_verbose")


def convolution_implementations(log: str) -> list[str]:
    """The implementation names of the convolution primitives a oneDNN verbose `log` says were executed, in the
    order first seen, each once. Lines look like (oneDNN 3.x; older releases lack the 'v1,primitive' fields)
    onednn_verbose,v1,primitive,exec,cpu,convolution,jit_dw:avx512_core_bf16,forward_training,src:bf16:...."""
    found: list[str] = []
    for line in log.splitlines():
        fields = line.split(",")
        if not fields[0].startswith(LOG_PREFIXES) or "exec" not in fields:
            continue
        for kind in CONVOLUTION_KINDS:
            if kind in fields:
                position = fields.index(kind) + 1
                if position < len(fields) and fields[position] and fields[position] not in found:
                    found.append(fields[position])
    return found


@functools.cache
def _c_library() -> Any:
    """This process's C library (None where it cannot be loaded)."""
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def _flush_c_stdout() -> None:
    """Flush C stdio's buffers (oneDNN writes with printf; a file is block-buffered) before the descriptor moves."""
    with contextlib.suppress(AttributeError, TypeError):
        _c_library().fflush(None)


@contextlib.contextmanager
def onednn_implementations(torch: Any, enabled: bool = True) -> Iterator[list[str]]:
    """Within the block, oneDNN logs what it executes; the list yielded is filled, when the block ends, with the
    convolution implementations it ran (empty where not `enabled`, or torch has no oneDNN or no verbose switch)."""
    implementations: list[str] = []
    mkldnn: Any = getattr(torch.backends, "mkldnn", None)
    verbose = getattr(mkldnn, "verbose", None)
    if not enabled or verbose is None or not mkldnn.is_available():
        yield implementations
        return
    sys.stdout.flush()
    with tempfile.TemporaryFile() as sink:
        saved = os.dup(1)
        os.dup2(sink.fileno(), 1)
        try:
            with verbose(mkldnn.VERBOSE_ON):
                yield implementations
        finally:
            _flush_c_stdout()
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            implementations += convolution_implementations(sink.read().decode("utf-8", errors="replace"))
