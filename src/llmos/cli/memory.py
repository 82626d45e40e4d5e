"""``llmos memory``: the facts llmos remembers and injects into prompts (add, search, list, rm)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llmos.cli.common import (
    JsonOption,
    ProjectOption,
    WorkspaceOption,
    open_workspace,
    stderr_console,
    stdout_console,
)
from llmos.memory.facts import Fact, FactLibrary
from llmos.projects import Projects

app = typer.Typer(no_args_is_help=True, add_completion=False)


def _store(workspace: Path | None, project: str | None) -> FactLibrary:
    """The facts a command sees: the current project's first, then the workspace's."""
    settings, space = open_workspace(workspace, project=project)
    return FactLibrary.for_workspace(
        space, Projects(space).resolve(settings.project, settings.project_dir)
    )


def _report_problems(store: FactLibrary, err: Console) -> None:
    for problem in store.problems():
        err.print(f"[yellow]skipped:[/] {escape(str(problem))}")


def _table(facts: list[Fact], scores: list[float] | None = None) -> Table:
    table = Table("id", "source", "text", "tags", "created")
    if scores is not None:
        table.add_column("score", justify="right")
    for number, fact in enumerate(facts):
        row = [
            fact.id,
            fact.source,
            escape(fact.text),
            escape(", ".join(fact.tags)),
            fact.created[:16].replace("T", " "),
        ]
        if scores is not None:
            row.append(f"{scores[number]:.2f}")
        table.add_row(*row)
    return table


@app.command()
def add(
    text: Annotated[str, typer.Argument(help="The fact, in plain words.")],
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="A tag (repeat for several).")
    ] = None,
    workspace: WorkspaceOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remember a fact; it is added to the prompt of later runs it is relevant to."""
    fact = _store(workspace, project).add(text, tags=tag or ())
    if as_json:
        print(json.dumps(fact.to_json(), ensure_ascii=False))
    else:
        stdout_console().print(f"added {fact.id}")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Words to look for.")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 10,
    workspace: WorkspaceOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """The facts most relevant to QUERY, best first."""
    store = _store(workspace, project)
    hits = store.search(query, limit)
    _report_problems(store, stderr_console())
    if as_json:
        for hit in hits:
            print(
                json.dumps({**hit.fact.to_json(), "score": round(hit.score, 4)}, ensure_ascii=False)
            )
        return
    if not hits:
        stderr_console().print(f"no fact matches {query!r}")
        return
    stdout_console().print(_table([h.fact for h in hits], [h.score for h in hits]))


@app.command("list")
def list_facts(
    workspace: WorkspaceOption = None, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """Every fact and insight, oldest first."""
    store = _store(workspace, project)
    facts = store.list()
    _report_problems(store, stderr_console())
    if as_json:
        for fact in facts:
            print(json.dumps(fact.to_json(), ensure_ascii=False))
        return
    if not facts:
        stderr_console().print(
            f'no facts yet in {store.home.root}; add one with llmos memory add "…"'
        )
        return
    stdout_console().print(_table(facts))


@app.command()
def rm(
    fact_id: Annotated[str, typer.Argument(help="The fact's id (or the start of it).")],
    workspace: WorkspaceOption = None,
    project: ProjectOption = None,
) -> None:
    """Forget a fact (its file is deleted)."""
    fact = _store(workspace, project).remove(fact_id)
    stdout_console().print(f"removed {fact.id}: {escape(fact.text)}")
