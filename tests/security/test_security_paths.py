"""``judge_path``: file tools confined to the workspace, credentials never read."""

from __future__ import annotations

import os

import pytest

from llmos.security import Verdict, judge_path


def judge(layout, path: str, op: str = "read", tool: str = "Read") -> Verdict:
    return judge_path(
        tool, path, op=op, cwd=layout.cwd, workspace=layout.workspace, home=layout.home
    )


@pytest.mark.parametrize(
    "path", ["notes.txt", "./src/app.py", "../project/result.txt", ".env", "sub/../file.txt"]
)
def test_paths_inside_the_workspace_are_allowed(layout, path: str) -> None:
    assert judge(layout, path).decision == "allow"
    assert judge(layout, path, "write", "Write").decision == "allow"


def test_path_outside_the_workspace_is_denied_with_where_it_resolves(layout) -> None:
    verdict = judge(layout, "../../notes.txt")
    assert verdict == Verdict(
        "deny",
        f"../../notes.txt resolves to {layout.home / 'notes.txt'}, outside the working "
        f"directory {layout.cwd}; use a path inside it",
        "Read ../../notes.txt",
    )


@pytest.mark.parametrize(
    "path",
    [
        "~/.ssh/id_rsa",
        "~/.aws/credentials",
        "~/.gnupg/pubring.kbx",
        "~/.netrc",
        "../../.env",
        "/etc/shadow",
    ],
)
def test_credentials_are_never_read(layout, path: str) -> None:
    verdict = judge(layout, path)
    assert verdict.decision == "deny"
    assert "credential" in verdict.reason


def test_symlink_escaping_the_workspace_is_resolved(layout) -> None:
    secret = layout.home / ".ssh"
    secret.mkdir()
    (secret / "id_rsa").write_text("KEY")
    os.symlink(secret / "id_rsa", layout.cwd / "innocent.txt")
    verdict = judge(layout, "innocent.txt")
    assert verdict.decision == "deny"
    assert str(secret / "id_rsa") in verdict.reason


def test_llmos_state_can_be_read_but_not_written_by_file_tools(layout) -> None:
    ledger = str(layout.workspace / "ledger.sqlite")
    assert judge(layout, ledger).decision == "allow"
    verdict = judge(layout, ledger, "write", "Write")
    assert verdict.decision == "deny"
    assert "llmos's own state" in verdict.reason


@pytest.mark.parametrize("path", ["", "a\x00b"])
def test_empty_or_nul_path_is_denied(layout, path: str) -> None:
    assert judge(layout, path).decision == "deny"
