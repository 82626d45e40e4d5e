"""Writing a file so that readers see the old version or the new one, never half of one."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: str | bytes, *, durable: bool = True) -> None:
    """Write ``data`` to a temp file beside ``path``, then rename it over ``path``.

    An existing file keeps its permission bits. With ``durable`` the file and
    its folder are fsynced, so a process killed at any point (or a power cut)
    leaves either the old file or the new one; the stores use that, tools don't
    need it.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(payload)
            if durable:
                temp.flush()
                os.fsync(temp.fileno())
        try:
            os.chmod(temp_name, stat.S_IMODE(path.stat().st_mode))
        except FileNotFoundError:
            os.chmod(temp_name, 0o666 & ~_umask())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    if durable:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
