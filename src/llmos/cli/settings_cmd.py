"""``llmos config``: the effective settings, and where each one came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from llmos.cli.common import JsonOption, WorkspaceOption, stderr_console, stdout_console
from llmos.config import SettingSource, settings_with_sources

ChangedOption = Annotated[
    bool, typer.Option("--changed", help="Show only settings that are not defaults.")
]
KeyArgument = Annotated[
    str | None,
    typer.Argument(
        help="Show one setting or table (e.g. tools, tools.bash_timeout).", metavar="KEY"
    ),
]


def config_command(
    key: KeyArgument = None,
    workspace: WorkspaceOption = None,
    changed: ChangedOption = False,
    json_output: JsonOption = False,
) -> None:
    """The effective settings: each value and where it came from (default, file, variable, flag)."""
    _, rows = settings_with_sources(workspace=workspace)
    if workspace is not None:
        rows = [_from_flag(row) if row.key == "workspace" else row for row in rows]
    if key is not None:
        rows = [row for row in rows if row.key == key or row.key.startswith(key + ".")]
        if not rows:
            raise typer.BadParameter(f"no setting {key!r}; `llmos config` lists them all")
    if changed:
        rows = [row for row in rows if row.source != "default"]
    if json_output:
        for r in rows:
            print(
                json.dumps({"key": r.key, "value": r.value, "source": r.source}, ensure_ascii=False)
            )
        return
    console = stdout_console()
    if not rows:
        stderr_console().print("every setting has its default value")
    width = max((len(row.key) for row in rows), default=0)
    for row in rows:
        value = json.dumps(row.value, ensure_ascii=False)
        source = f"[dim]{escape(row.source)}[/]" if row.source == "default" else escape(row.source)
        console.print(f"{escape(row.key.ljust(width))}  {escape(value)}  [dim]·[/] {source}")


def _from_flag(row: SettingSource) -> SettingSource:
    return SettingSource(row.key, str(Path(str(row.value))), "command line (--workspace)")
