"""What crosses the pipe to an isolated worker, readable by whatever numpy and Python the worker's environment has.

A plain pickle of a numpy array names numpy's private module that rebuilds it ('numpy._core.multiarray' since numpy
2, 'numpy.core' before), so an array pickled by one major release does not load in the other. Arrays and numpy
scalars travel here as (dtype string, shape, bytes) instead, rebuilt by the functions below, which both ends import
from convfuzz; everything else (convfuzz's own dataclasses, tuples, strings) pickles as usual, at a protocol every
Python convfuzz runs on reads.
"""

from __future__ import annotations

import io
import pickle
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

PROTOCOL = 4


def array_from_wire(dtype: str, shape: tuple[int, ...], data: bytes) -> np.ndarray:
    """The array that (dtype, shape, data) describe (a writable copy, as the sender's was)."""
    return np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape).copy()


def scalar_from_wire(dtype: str, data: bytes) -> np.generic:
    """The numpy scalar that (dtype, data) describe."""
    value: np.generic = np.frombuffer(data, dtype=np.dtype(dtype))[0]
    return value


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        # Only plain numeric dtypes have a portable dtype string; others (structured, object) pickle as usual.
        if isinstance(obj, np.ndarray) and obj.dtype.kind in "biufc":
            return array_from_wire, (obj.dtype.str, obj.shape, np.ascontiguousarray(obj).tobytes())
        if isinstance(obj, np.generic) and obj.dtype.kind in "biufc":
            return scalar_from_wire, (obj.dtype.str, obj.tobytes())
        return NotImplemented


def dumps(obj: Any) -> bytes:
    """`obj` pickled with arrays in the portable form."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=PROTOCOL).dump(obj)
    return buffer.getvalue()


def send(conn: Connection, obj: Any) -> None:
    """Send `obj` over `conn` in the portable form."""
    conn.send_bytes(dumps(obj))


def receive(conn: Connection) -> Any:
    """The next object sent over `conn` by send()."""
    return pickle.loads(conn.recv_bytes())  # our own worker's or our own parent's message, never outside input
