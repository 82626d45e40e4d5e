"""Writing a file so that readers see the old version or the new one, never half of one.

The temp file of a write is named after its writer
(``.NAME.~host~pid~start~XXXX.tmp``), so a process that was killed mid-write
can be told apart from one still writing: :func:`sweep_dead_temp_files`, run
when a store opens its folder, removes the temp files of writers that are gone.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import time
from pathlib import Path

from llmos.owners import current_owner, owner_alive

_TEMP = re.compile(r"^\..+\.~(?P<host>[^~/]*)~(?P<pid>\d+)~(?P<start>\d*)~[^~/]*\.tmp$")
#: A temp file named the old way (no writer in its name) is a dead writer's after this long.
UNNAMED_TEMP_AGE_S = 3600.0


def write_atomic(path: Path, data: str | bytes, *, durable: bool = True) -> None:
    """Write ``data`` to a temp file beside ``path``, then rename it over ``path``.

    An existing file keeps its permission bits. With ``durable`` the file and
    its folder are fsynced, so a process killed at any point (or a power cut)
    leaves either the old file or the new one; the stores use that, tools don't
    need it.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    writer = current_owner().replace(":", "~")
    handle, temp_name = tempfile.mkstemp(
        prefix=f".{path.name}.~{writer}~", suffix=".tmp", dir=path.parent
    )
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


def sweep_dead_temp_files(folder: Path) -> list[Path]:
    """Remove the temp files in ``folder`` whose writer has ended; returns what was removed.

    A writer on another host is taken to be alive (its file stays). A temp file
    without a writer in its name (written before names carried one) goes once
    it is :data:`UNNAMED_TEMP_AGE_S` old.
    """
    removed = []
    now = time.time()
    for path in folder.glob(".*.tmp"):
        found = _TEMP.match(path.name)
        try:
            if found is not None:
                dead = not owner_alive(f"{found['host']}:{found['pid']}:{found['start']}")
            else:
                dead = now - path.stat().st_mtime > UNNAMED_TEMP_AGE_S
            if dead:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:  # its writer finished (renamed it) or another sweep won
            continue
    return removed


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
