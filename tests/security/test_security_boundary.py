"""The state boundary: which paths are llmos's own, for any working directory."""

from __future__ import annotations

from pathlib import Path

from llmos.security import judge_command
from llmos.security.boundary import StateBoundary


def test_the_task_owns_its_folder_and_nothing_else_of_the_workspace(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    b = StateBoundary.of(workspace=ws, workdir=ws / "projects" / "a" / "output")
    state = [
        "llmos.toml",
        "hooks/x.py",
        "memory/index.sqlite",
        "keys/signing",
        "output/x",
        "projects/b/memory/f.md",
        "projects/a/memory/f.md",
        "projects/a/output/.llmos/x",
    ]
    for name in state:
        assert b.is_state(str(ws / name)), name
    assert not b.is_state(str(ws / "projects" / "a" / "output" / "src" / "app.py"))
    assert not b.is_state(str(tmp_path / "elsewhere"))
    assert b.is_secret(str(ws / "keys" / "signing")) and not b.is_secret(str(ws / "hooks"))


def test_working_in_the_workspace_root_protects_each_entry(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    b = StateBoundary.of(workspace=ws, workdir=ws)
    assert b.is_state(str(ws / "hooks" / "x.py")) and b.is_state(str(ws / "llmos.toml"))
    assert not b.is_state(str(ws / "notes.txt"))


def test_a_workspace_and_settings_inside_the_users_folder_stay_state(tmp_path: Path) -> None:
    """Designed for a later issue: the task works where the user is."""
    user = tmp_path / "user"
    (user / "sub").mkdir(parents=True)
    b = StateBoundary.of(workspace=user / ".local" / "llmos", workdir=user / "sub")
    assert b.is_state(str(user / ".llmos" / "config.toml"))  # found above the folder
    assert b.is_state(str(user / "sub" / ".llmos"))  # not there yet: still refused
    assert not b.is_state(str(user / "sub" / "main.py"))
    inside = StateBoundary.of(workspace=user / "ws", workdir=user)
    assert inside.is_state(str(user / "ws" / "memory"))
    assert not inside.is_state(str(user / "main.py"))
    cmd = judge_command("rm -rf ws/memory", cwd=user, workspace=user / "ws", home=tmp_path)
    assert cmd.decision == "deny" and "llmos's own state" in cmd.reason


def test_symlinked_paths_are_judged_where_they_lead(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "output").mkdir(parents=True)
    (ws / "hooks").mkdir()
    (ws / "output" / "h").symlink_to(ws / "hooks", target_is_directory=True)
    verdict = judge_command("echo x > h/pwn.py", cwd=ws / "output", workspace=ws, home=tmp_path)
    assert verdict.decision == "deny"
    assert verdict.reason.startswith(f"writes {ws / 'hooks' / 'pwn.py'}, which is llmos's own")
