"""Open a file inside the working directory without ever following a link out of it.

Resolving a path first and opening it later leaves a gap: a Bash step (or a
process it left behind) can swap a folder for a symlink in between, and the
write lands outside. So the file tools walk the path one component at a time
from a descriptor of the working directory, with ``O_NOFOLLOW``: a symlink
met on the way is read and followed only while it stays inside, and the
file is then read through the descriptor it was opened with, or written as a
temp file in the same folder descriptor and renamed over the name (a rename
replaces a symlink, it never writes through one). llmos's own state inside
the working directory (a ``.llmos/`` folder, a workspace kept there) is
refused for writing, whatever the path says (:mod:`llmos.security.boundary`).

Example:
    >>> with ConfinedFile.locate(ctx, "src/app.py", create_dirs=True) as target:
    ...     target.write_bytes(b"print(1)\\n")
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from llmos.security.boundary import StateBoundary
from llmos.tools._fs import missing_file_message, os_error_message
from llmos.tools.base import ToolContext, ToolError

#: As many links as the kernel follows before ELOOP.
MAX_LINKS = 40
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _denied(given: str, where: str, root: str) -> ToolError:
    return ToolError(
        f"Access denied: {given!r} resolves to {where}, outside the working directory {root}. "
        "Use a path inside it."
    )


@dataclass(slots=True)
class ConfinedFile:
    """A name in a folder opened (as a descriptor) inside the working directory.

    ``relative`` is the real path from the working directory, links
    resolved: what traces record. Use as a context manager; the folder
    descriptor is closed on exit.
    """

    given: str
    root: str
    folder_fd: int
    name: str
    relative: str
    _closed: bool = field(default=False, repr=False)

    # -- finding it ---------------------------------------------------------------

    @classmethod
    def locate(
        cls, ctx: ToolContext, given: str, *, create_dirs: bool = False, write: bool = False
    ) -> ConfinedFile:
        """Walk ``given`` from the working directory; refuse any way out.

        Raises:
            ToolError: the path is empty, leads outside, or names llmos state (writes).
        """
        if not given:
            raise ToolError("The path is empty.")
        if "\x00" in given:
            raise ToolError("The path contains a NUL byte.")
        root = os.path.realpath(ctx.cwd)
        parts = _relative_parts(given, root, ctx.cwd)
        if parts is None:
            shown = os.path.realpath(os.path.join(root, os.path.expanduser(given)))
            raise _denied(given, shown, root)
        boundary = StateBoundary.of(workspace=ctx.workspace, workdir=Path(root))

        def refuse(relative: str) -> None:
            absolute = os.path.join(root, relative) if relative != "." else root
            if (write and boundary.is_state(absolute)) or boundary.is_secret(absolute):
                raise ToolError(
                    f"Access denied: {given!r} is llmos's own state ({absolute}); a task cannot "
                    "change it. Change settings, hooks and memory through llmos itself."
                )

        target = cls._walk(ctx, given, root, parts, create_dirs=create_dirs, refuse=refuse)
        try:
            refuse(target.relative)
        except ToolError:
            target.close()
            raise
        return target

    @classmethod
    def _walk(
        cls,
        ctx: ToolContext,
        given: str,
        root: str,
        parts: list[str],
        *,
        create_dirs: bool,
        refuse: Callable[[str], None],
    ) -> ConfinedFile:
        try:
            root_fd = os.open(root, _DIR_FLAGS)
        except OSError as exc:
            raise ToolError(
                f"The working directory {root} cannot be opened: {exc.strerror}."
            ) from exc
        stack: list[tuple[int, str]] = [(root_fd, "")]  # (descriptor, name) from the root down
        pending = deque(parts)
        links = 0
        try:
            while pending:
                part = pending.popleft()
                if part in ("", "."):
                    continue
                if part == "..":
                    if len(stack) == 1:
                        raise _denied(given, os.path.dirname(root) or "/", root)
                    os.close(stack.pop()[0])
                    continue
                fd = stack[-1][0]
                last = not pending
                try:
                    info = os.stat(part, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    info = None
                if info is not None and stat.S_ISLNK(info.st_mode):
                    links += 1
                    if links > MAX_LINKS:
                        raise ToolError(f"{given!r} goes through too many symlinks.")
                    link = os.readlink(part, dir_fd=fd)
                    if os.path.isabs(link):
                        inside = _inside_parts(link, root)
                        if inside is None:
                            raise _denied(given, os.path.realpath(link), root)
                        while len(stack) > 1:
                            os.close(stack.pop()[0])
                        pending.extendleft(reversed(inside))
                    else:
                        pending.extendleft(reversed(link.split("/")))
                    continue
                if last:
                    relative = "/".join([*(name for _, name in stack[1:]), part]) or "."
                    folder_fd = os.dup(fd)
                    return cls(given, root, folder_fd, part, relative)
                if info is None:
                    if not create_dirs:
                        names = [name for _, name in stack[1:]]
                        missing = Path(root, *names, part, *pending)
                        raise ToolError(missing_file_message(ctx, missing, given))
                    refuse("/".join([*(name for _, name in stack[1:]), part]))  # before mkdir
                    os.mkdir(part, dir_fd=fd)
                stack.append((os.open(part, _DIR_FLAGS, dir_fd=fd), part))
            if len(stack) == 1:  # the path named the working directory itself (".", "a/..")
                return cls(given, root, os.dup(stack[0][0]), ".", ".")
            relative = "/".join(name for _, name in stack[1:])
            return cls(given, root, os.dup(stack[-2][0]), stack[-1][1], relative)
        except NotADirectoryError as exc:
            raise ToolError(f"{given!r}: a part of the path is a file, not a folder.") from exc
        except ToolError:
            raise
        except OSError as exc:
            raise ToolError(os_error_message("open", given, exc)) from exc
        finally:
            for fd, _ in stack:
                os.close(fd)

    # -- using it -------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The real path (for messages and hints; never opened by name)."""
        return Path(self.root) / self.relative

    def lstat(self) -> os.stat_result | None:
        try:
            return os.stat(self.name, dir_fd=self.folder_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def read_bytes(self) -> bytes:
        """The whole file, read through a no-follow descriptor."""
        fd = self.open_read()
        with os.fdopen(fd, "rb") as handle:
            return handle.read()

    def open_read(self) -> int:
        """A descriptor on the regular file, opened without following a link.

        Raises:
            ToolError: not a regular file, or a file with other hard links (one
                may be a credential outside the working directory).
        """
        fd = os.open(self.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.folder_fd)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise ToolError(f"{self.given!r} is not a regular file (a device or a pipe).")
        if info.st_nlink > 1:
            os.close(fd)
            raise ToolError(
                f"Access denied: {self.given!r} has {info.st_nlink} hard links, and another one "
                "may be a file outside the working directory. Read a copy made inside it."
            )
        return fd

    def write_bytes(self, data: bytes) -> None:
        """Replace the file: temp file in the same folder descriptor, then rename over it.

        An existing file keeps its permission bits; a symlink or a hard link at
        the name is replaced, never written through.
        """
        existing = self.lstat()
        mode = (
            stat.S_IMODE(existing.st_mode)
            if existing and stat.S_ISREG(existing.st_mode)
            else (0o666 & ~_umask())
        )
        temp = f".{self.name}.{secrets.token_hex(6)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temp, flags, 0o600, dir_fd=self.folder_fd)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                os.fchmod(handle.fileno(), mode)
            os.rename(temp, self.name, src_dir_fd=self.folder_fd, dst_dir_fd=self.folder_fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp, dir_fd=self.folder_fd)
            raise

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self.folder_fd)

    def __enter__(self) -> ConfinedFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _relative_parts(given: str, root: str, cwd: Path) -> list[str] | None:
    """The components of ``given`` below the working directory, or None if it starts outside."""
    text = os.path.expanduser(given)
    if not os.path.isabs(text):
        return text.split("/")
    for base in dict.fromkeys((root, os.path.abspath(cwd))):
        parts = _inside_parts(text, base)
        if parts is not None:
            return parts
    return None


def _inside_parts(absolute: str, root: str) -> list[str] | None:
    normal = os.path.normpath(absolute)
    if normal == root:
        return []
    if normal.startswith(root.rstrip("/") + "/"):
        return normal[len(root.rstrip("/")) + 1 :].split("/")
    return None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
