"""A project's memory (traces and facts) is its own, and searched before the workspace's."""

from __future__ import annotations

from pathlib import Path

from llmos import LLMOS
from llmos.backends.scripted import ScriptedBackend
from llmos.config import load_settings
from llmos.memory import TraceStore
from llmos.memory.facts import FactStore
from llmos.projects import Projects
from llmos.workspace import Workspace

WRITE = [
    {"tool_calls": [{"name": "Write", "input": {"file_path": "notes.md", "content": "n\n"}}]},
    {"text": "notes.md written"},
]


async def test_a_project_learns_into_its_own_memory_and_sees_both_layers(workspace: Path):
    space = Workspace(workspace).ensure()
    demo = Projects(space).create("demo")
    FactStore.for_memory(demo.memory).add("Demo notes are written in British English")
    FactStore.for_memory(space.memory).add("Notes always end with a newline")
    backend = ScriptedBackend(WRITE)
    settings = load_settings(workspace=workspace, overrides={"project": "demo"})
    async with LLMOS(settings=settings, backend=backend) as llmos:
        learned = await llmos.execute("Write the notes to notes.md")
        followed = await llmos.execute("Write the notes to notes.md")
    prompt = backend.requests[0].messages[0].content
    assert "British English" in prompt and "end with a newline" in prompt
    assert prompt.index("British English") < prompt.index("end with a newline")
    assert (workspace.parent / "notes.md").read_text() == "n\n"  # the user's folder
    assert TraceStore.for_memory(demo.memory).load(learned.trace_id).goal.startswith("Write")
    assert TraceStore.for_memory(space.memory).entries() == []
    assert followed.mode == "follower" and len(backend.requests) == 2

    # Outside the project the workspace does not follow the project's trace.
    outside = LLMOS(
        settings=load_settings(workspace=workspace, overrides={"project": None}),
        backend=ScriptedBackend(WRITE),
    )
    async with outside:
        assert (await outside.match("Write the notes to notes.md")).decision == "learn"
