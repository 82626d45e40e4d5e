"""Absolute paths inside the working folder are kept relative, so traces replay elsewhere."""

from __future__ import annotations

from pathlib import Path

from llmos.memory.portable import portable_input

HERE = Path("/home/ann/site")


def test_path_fields_inside_the_folder_become_relative_and_content_is_kept() -> None:
    given = {"file_path": "/home/ann/site/docs/a.md", "content": "see /home/ann/site/docs/a.md"}
    assert portable_input(given, HERE) == {
        "file_path": "docs/a.md",
        "content": "see /home/ann/site/docs/a.md",  # what the file says is never changed
    }
    assert portable_input({"path": "/home/ann/site"}, HERE) == {"path": "."}


def test_paths_outside_or_only_sharing_a_prefix_are_left_alone() -> None:
    for path in ("/home/ann/sites/x", "/home/ann/site-old/x", "/etc/hosts", "notes.md"):
        assert portable_input({"file_path": path}, HERE) == {"file_path": path}


def test_a_command_line_names_the_folder_as_dot() -> None:
    command = 'cd /home/ann/site && cat "/home/ann/site/a b.txt" /home/ann/site-old/x'
    assert portable_input({"command": command}, HERE) == {
        "command": 'cd . && cat "./a b.txt" /home/ann/site-old/x'
    }


def test_the_real_path_of_a_symlinked_folder_is_recognised_too(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    given = {"file_path": f"{real}/x.txt", "command": f"ls {link}/sub"}
    assert portable_input(given, link) == {"file_path": "x.txt", "command": "ls ./sub"}
