"""Agent files: parsing, validation with paths, layers, hot reload; and mode selection."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from llmos.agents import (
    BUILTIN_FOLDER,
    Agent,
    AgentFormatError,
    AgentLibrary,
    parse_agent,
    render_agent,
    scaffold_agent,
)
from llmos.modes.orchestrator.selection import needs_orchestration
from llmos.tools import default_registry

GOALS = Path(__file__).parent.parent / "data" / "orchestration_goals.jsonl"

GOOD = """---
name: translator
description: Translates text into French.
tools: [Read, Write]
max_turns: 5
---
You translate English into French.
"""


def write(folder: Path, name: str, text: str, *, bump_ns: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    if bump_ns:  # make the change visible even on a coarse file-system clock
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump_ns))
    return path


def test_an_agent_file_round_trips_through_render_and_parse(tmp_path: Path):
    path = write(tmp_path, "translator", GOOD)
    agent = parse_agent(path.read_text(), path=path)
    assert (agent.name, agent.tools, agent.max_turns, agent.model) == (
        "translator",
        ("Read", "Write"),
        5,
        "inherit",
    )
    assert agent.prompt == "You translate English into French."
    again = parse_agent(render_agent(agent), path=path)
    assert again == agent


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("You are nobody.", "no YAML front matter"),
        ("---\nname: [x\n---\nbody", "front matter is not valid YAML"),
        ("---\nname: translator\ndescription: d\n---\n", "the body (the agent's system prompt)"),
        ("---\nname: translator\ndescription: d\ncolour: red\n---\nx", "colour: Extra inputs"),
        ("---\nname: translator\ndescription: d\nmax_turns: 0\n---\nx", "max_turns: Input should"),
        ("---\nname: other\ndescription: d\n---\nx", "name 'other' does not match the file"),
        ("---\nname: translator\n---\nx", "description: Field required"),
    ],
)
def test_broken_agent_files_are_errors_that_name_the_file(tmp_path: Path, text: str, message):
    path = write(tmp_path, "translator", text)
    with pytest.raises(AgentFormatError) as caught:
        parse_agent(text, path=path)
    assert str(caught.value).startswith(f"{path}: {message}")
    assert caught.value.path == path


def test_the_library_skips_a_broken_file_and_reports_it_with_its_path(tmp_path: Path):
    agents = tmp_path / "agents"
    write(agents, "translator", GOOD)
    broken = write(agents, "broken", "---\nname: broken\n---\nx")
    library = AgentLibrary([(agents, "workspace")])
    assert "translator" in library.names() and "broken" not in library.names()
    assert [(p.path, p.message) for p in library.problems] == [
        (broken, "description: Field required")
    ]
    with pytest.raises(AgentFormatError, match=f"^{broken}: description: Field required"):
        library.get("broken")
    with pytest.raises(AgentFormatError, match="no agent named 'nobody'; known agents: coder"):
        library.get("nobody")


def test_shipped_agents_are_available_and_a_workspace_file_overrides_one(tmp_path: Path):
    shipped = {p.stem for p in BUILTIN_FOLDER.glob("*.md")}
    assert shipped == {"researcher", "coder", "writer", "data-analyst", "reviewer"}
    library = AgentLibrary.for_folders(tmp_path / "project", tmp_path / "ws")
    assert library.problems == []  # every shipped file parses
    known_tools = set(default_registry().names())
    for agent in library.agents():
        assert agent.source == "builtin" and set(agent.tools or ()) <= known_tools
        assert len(agent.prompt.split()) > 80  # a real prompt, not a placeholder
    write(tmp_path / "ws", "coder", GOOD.replace("translator", "coder"))
    assert library.get("coder").source == "workspace"
    write(tmp_path / "project", "coder", GOOD.replace("translator", "coder").replace("5", "7"))
    assert (library.get("coder").source, library.get("coder").max_turns) == ("project", 7)
    assert library.folder == tmp_path / "project"
    with pytest.raises(AgentFormatError, match="'writer' is shipped with llmos"):
        library.remove("writer")


def test_an_edited_agent_file_is_reloaded_and_a_deleted_one_disappears(tmp_path: Path):
    agents = tmp_path / "agents"
    path = write(agents, "translator", GOOD)
    library = AgentLibrary([(agents, "workspace")], builtin=False)
    assert library.get("translator").max_turns == 5
    write(agents, "translator", GOOD.replace("max_turns: 5", "max_turns: 9"), bump_ns=10**9)
    assert library.get("translator").max_turns == 9
    write(agents, "translator", GOOD.replace("description: T", "nope: T"), bump_ns=2 * 10**9)
    assert library.names() == [] and library.problems[0].path == path
    path.unlink()
    assert library.names() == [] and library.problems == []


def test_write_scaffold_and_remove(tmp_path: Path):
    library = AgentLibrary([(tmp_path / "agents", "workspace")], builtin=False)
    written = library.write(scaffold_agent("helper"))
    assert written.path == tmp_path / "agents" / "helper.md"
    assert isinstance(library.get("helper"), Agent)
    assert library.remove("helper") == written.path and library.names() == []
    with pytest.raises(AgentFormatError, match="agent name 'Bad' must be"):
        scaffold_agent("Bad")


def test_mode_selection_is_right_on_every_labelled_goal():
    rows = [json.loads(line) for line in GOALS.read_text().splitlines()]
    assert len(rows) >= 40
    assert {r["label"] for r in rows} == {"single", "multi"}
    wrong = [
        (r["goal"], needs_orchestration(r["goal"]).reason)
        for r in rows
        if needs_orchestration(r["goal"]).orchestrate != (r["label"] == "multi")
    ]
    assert wrong == []


def test_mode_selection_explains_its_decision():
    multi = needs_orchestration("Research Rust's history, then write a blog post on it")
    assert multi.orchestrate and multi.kinds == ("research", "writing")
    assert multi.reason == "2 kinds of work: research ('research'), writing ('write a blog post')"
    single = needs_orchestration("Create hello.txt and count its bytes, and then list files")
    assert not single and single.reason == "no specialist work named: one agent"
    script = needs_orchestration("Write a script that analyzes sales.csv and writes a report")
    assert not script and script.kinds == ("code",)
