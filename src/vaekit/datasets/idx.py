"""The IDX format of MNIST and Fashion-MNIST: a magic number, the dimensions, then raw data."""

from __future__ import annotations

import math
import struct

import numpy as np

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(blob: bytes, name: str = "IDX file") -> np.ndarray:
    """Decode an IDX blob into an array of its declared shape.

    Raises ValueError naming ``name`` when the header or length does not add up.
    """
    if len(blob) < 4 or blob[0] != 0 or blob[1] != 0 or blob[2] not in _DTYPES:
        raise ValueError(f"{name}: not an IDX file (bad magic {blob[:4]!r})")
    ndim = blob[3]
    offset = 4 + 4 * ndim
    if ndim == 0 or len(blob) < offset:
        raise ValueError(f"{name}: header declares {ndim} dimensions; the file has {len(blob)} bytes")
    dims = struct.unpack(f">{ndim}I", blob[4:offset])
    dtype = np.dtype(_DTYPES[blob[2]])
    expected = math.prod(dims) * dtype.itemsize  # exact: never wraps around
    if len(blob) - offset != expected:
        raise ValueError(f"{name}: header promises {expected} bytes of data, found {len(blob) - offset}")
    return np.frombuffer(blob, dtype=dtype, offset=offset).reshape(dims).astype(dtype.newbyteorder("="))
