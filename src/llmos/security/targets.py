"""Whether deleting, writing or reading what an argument names is allowed.

An argument names one path (``build``), every entry of a folder (``~/*``,
``find ~ -delete``) or some entries of it (``*.pyc``). Deleting all of a
folder's entries is judged like deleting the folder; deleting some is
judged by the folder, except at the workspace root, where the pattern must
not reach llmos's own state. An argument whose value cannot be known
(``"$DIR"/``) is refused for deletion unless a literal prefix pins its
folder (``build/$NAME``, ``/tmp/lock.$$``), which is then judged: an agent can always
spell the path, and an unknown target is how ``rm -rf "$STEAMROOT"/*``
emptied home folders.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from typing import Literal

from llmos.security.paths import Operation, Places, Zone, why_not
from llmos.security.words import Arg

Scope = Literal["exact", "all", "some"]


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved path, and whether it means the path itself or entries inside it."""

    path: str
    scope: Scope = "exact"
    pattern: str = "*"


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _has_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def resolve_target(places: Places, text: str, cwd: str, *, glob: bool) -> Target:
    """Place ``text`` (already expanded) relative to ``cwd``; globs give a folder scope."""
    if not glob or not _has_glob(text):
        return Target(places.resolve(text, cwd))
    absolute = os.path.normpath(os.path.join(cwd, text))
    parts = absolute.split("/")
    first = next(i for i, part in enumerate(parts) if _has_glob(part))
    base = "/".join(parts[:first]) or "/"
    pattern = parts[first]
    only_stars = set(pattern) <= {"*"} and first == len(parts) - 1
    return Target(places.resolve(base, "/"), "all" if only_stars else "some", pattern)


def check(places: Places, arg: Arg, cwd: str | None, op: Operation) -> str | None:
    """Why ``op`` on what ``arg`` names is refused, or ``None``."""
    if arg.text is None:
        return _check_unknown(places, arg, cwd, op)
    if cwd is None and not arg.text.startswith("/"):
        if op != "read":
            verb = "deletes" if op == "delete" else "writes"
            return (
                f"{verb} {arg.text!r} relative to a folder that cannot be known here "
                "(after `cd` to a variable, in a function or an alias); use a path "
                "inside the working directory"
            )
        return None
    return check_target(places, resolve_target(places, arg.text, cwd or "/", glob=arg.glob), op)


def check_target(places: Places, target: Target, op: Operation) -> str | None:
    base = target.path
    if op == "read" and target.scope != "exact" and _under(places.home, base):
        return f"reads every file under {base}, the home folder's credentials included"
    if target.scope == "exact" or op == "read":
        return why_not(places, target.path, op)
    zone = places.zone(base)
    if base == places.workdir or zone is Zone.INSIDE:
        hits = places.kernel_entries_matching(base, target.pattern)
        if hits:
            verb = "deletes" if op == "delete" else "writes"
            return (
                f"{verb} {base}/{target.pattern}, which reaches llmos's own state "
                f"({', '.join(hits)})"
            )
        return None
    if zone is Zone.CONTAINS_WORKSPACE and target.scope == "some":
        steps = [
            inner[len(base) :].lstrip("/").split("/")[0]
            for inner in (places.workdir, places.boundary.workspace)
            if _under(inner, base)
        ]
        if not any(fnmatch.fnmatchcase(step, target.pattern) for step in steps):
            zone = places.zone(base, containing=False)  # the pattern misses both
    if zone is Zone.TEMP or (zone is Zone.TEMP_ROOT and target.scope == "some"):
        return None
    reason = why_not(places, base, op, zone)
    return None if reason is None else f"{reason} (every entry matching {target.pattern!r})"


def _check_unknown(places: Places, arg: Arg, cwd: str | None, op: Operation) -> str | None:
    prefix = arg.prefix
    if cwd is None and not prefix.startswith("/"):
        return (
            None
            if op == "read"
            else (
                "changes a path relative to a folder that cannot be known here; spell it literally"
            )
        )
    if op == "read" and prefix.startswith("/proc/") and prefix.count("/") <= 2:
        return (
            f"reads {prefix}… for a process that cannot be known here; a process's "
            "environment and memory hold secrets"
        )
    pinned = bool(prefix) and ".." not in prefix.split("/")
    if op == "delete" and not pinned:
        shown = f" ({prefix}…)" if prefix else ""
        return (
            f"deletes a path that depends on a value unknown here{shown}; if it were empty "
            "or wrong this would delete outside the workspace. Spell the path literally, "
            "inside the workspace"
        )
    if not prefix:
        return (
            None
            if op == "read"
            else (
                "writes a path that depends on a value known only at run time (a variable, `$(…)`, "
                "`read`); it could be outside the working directory. Spell the path literally, "
                "inside the working directory"
            )
        )
    folder, start = os.path.split(prefix)
    target = Target(places.resolve(folder or ".", cwd or "/"), "some", start + "*")
    return check_target(places, target, op)
