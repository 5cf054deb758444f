"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from vaekit.errors import VaekitError

# The process's umask, read once at import (reading it means setting it, which is not thread-safe
# later). mkstemp creates files 0600; written files get the mode a plain open() would give them.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write(path: str | Path, write: Callable[[Path], None] | bytes | str,
                 durable: bool = False) -> Path:
    """Write ``path`` via a temporary file in the same folder, then rename it over the old one.

    write: the bytes or text to write, or a function that writes to the temporary path it gets.
    durable: also fsync before the rename, so the new file survives a power cut, not only a
    killed process (about 30 ms for a few MB here; used for checkpoints and weights).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _cannot_write(path, e) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if callable(write):
            write(tmp)
        else:
            tmp.write_bytes(write.encode() if isinstance(write, str) else write)
        os.chmod(tmp, 0o666 & ~_UMASK)
        if durable:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except Exception as e:
        if _os_error(e) is None:
            raise
        raise _cannot_write(path, e) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _os_error(e: Exception) -> int | None:
    """The errno behind a failed write: an OSError's, or the "(os error N)" that libraries
    written in Rust (safetensors) put in their message; None for anything else."""
    if isinstance(e, OSError):
        return e.errno or errno.EIO
    found = re.search(r"\(os error (\d+)\)", str(e))
    return int(found.group(1)) if found else None


def _cannot_write(path: Path, e: Exception) -> VaekitError:
    code = _os_error(e)
    reason = os.strerror(code) if code else str(e)
    kept = f"; the previous {path.name} is unchanged" if path.exists() else ""
    return VaekitError(f"{path}: could not write it ({reason}){kept}")


def write_json(path: str | Path, obj) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return atomic_write(path, json.dumps(obj, indent=2) + "\n")
