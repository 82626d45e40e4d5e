"""Read, Write and Edit: the contract the model and the Follower rely on."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path

from llmos.config import ToolsConfig
from llmos.tools.base import ToolContext, ToolResult

RunTool = Callable[..., Awaitable[ToolResult]]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- Read ---------------------------------------------------------------------------------


async def test_read_numbers_lines_like_cat_n_and_records_the_file(
    run_tool: RunTool, cwd: Path
) -> None:
    (cwd / "a.txt").write_text("alpha\nbeta\n")
    result = await run_tool("Read", {"file_path": "a.txt"})
    assert not result.is_error
    assert result.content == "     1\talpha\n     2\tbeta"
    assert result.files_read == ("a.txt",)


async def test_read_accepts_an_absolute_path_inside(run_tool: RunTool, cwd: Path) -> None:
    (cwd / "sub").mkdir()
    (cwd / "sub" / "b.txt").write_text("x\n")
    result = await run_tool("Read", {"file_path": str(cwd / "sub" / "b.txt")})
    assert result.content == "     1\tx"
    assert result.files_read == ("sub/b.txt",)


async def test_read_offset_and_limit_page_through_a_file(run_tool: RunTool, cwd: Path) -> None:
    (cwd / "n.txt").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    result = await run_tool("Read", {"file_path": "n.txt", "offset": 4, "limit": 2})
    assert result.content == (
        "     4\tline 4\n     5\tline 5\n\n(Showing lines 4-5 of 10. Use offset=6 to read on.)"
    )


async def test_read_stops_at_the_configured_line_count(cwd: Path, run_tool: RunTool) -> None:
    (cwd / "long.txt").write_text("x\n" * 50)
    ctx = ToolContext(cwd=cwd, workspace=cwd, settings=ToolsConfig(read_max_lines=20))
    result = await run_tool("Read", {"file_path": "long.txt"}, ctx)
    assert result.content.splitlines()[19] == "    20\tx"
    assert result.content.endswith("(Showing lines 1-20 of 50. Use offset=21 to read on.)")


async def test_read_past_the_end_says_how_long_the_file_is(run_tool: RunTool, cwd: Path) -> None:
    (cwd / "s.txt").write_text("a\nb\nc")
    result = await run_tool("Read", {"file_path": "s.txt", "offset": 9})
    assert not result.is_error
    assert (
        result.content
        == "(The file s.txt has 3 lines; offset 9 is past its end. Use a smaller offset.)"
    )


async def test_read_cuts_very_long_lines(run_tool: RunTool, cwd: Path) -> None:
    (cwd / "wide.txt").write_text("y" * 5000 + "\nshort\n")
    result = await run_tool("Read", {"file_path": "wide.txt"})
    first = result.content.splitlines()[0]
    assert first == "     1\t" + "y" * 2000 + " [... line cut, 5,000 characters]"
    assert "1 long line(s) were cut at 2,000 characters." in result.content


async def test_read_missing_file_suggests_similar_names(run_tool: RunTool, cwd: Path) -> None:
    (cwd / "src").mkdir()
    (cwd / "src" / "config.py").write_text("")
    result = await run_tool("Read", {"file_path": "src/conifg.py"})
    assert result.is_error
    assert result.content == "File does not exist: 'src/conifg.py'. Did you mean 'src/config.py'?"


async def test_read_missing_folder_says_so(run_tool: RunTool) -> None:
    result = await run_tool("Read", {"file_path": "nope/x.txt"})
    assert result.is_error
    assert result.content == (
        "File does not exist: 'nope/x.txt'. Its folder 'nope' does not exist either."
    )


async def test_read_a_folder_points_to_ls(run_tool: RunTool, cwd: Path) -> None:
    (cwd / "pkg").mkdir()
    result = await run_tool("Read", {"file_path": "pkg"})
    assert result.is_error
    assert "is a folder, not a file. Use LS" in result.content


async def test_read_refuses_binary_files(run_tool: RunTool, cwd: Path) -> None:
    (cwd / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    result = await run_tool("Read", {"file_path": "img.png"})
    assert result.is_error
    assert result.content.startswith(
        "'img.png' is a binary file (272 bytes); Read shows text only."
    )


async def test_read_non_utf8_is_escaped_with_a_note(run_tool: RunTool, cwd: Path) -> None:
    (cwd / "latin.txt").write_bytes("café\n".encode("latin-1") + b"C:\\dir\n")
    result = await run_tool("Read", {"file_path": "latin.txt"})
    assert not result.is_error
    assert result.content.startswith("     1\tcaf\\xe9\n     2\tC:\\\\dir\n\n")
    assert (
        "(The file is not valid UTF-8: each byte that is not is shown as \\xNN (\\xe9 for "
        "the byte 0xe9) and each backslash of the text is doubled; Edit and Write take this "
        "form back.)"
    ) in result.content


async def test_a_latin1_file_round_trips_through_read_edit_and_write(
    run_tool: RunTool, cwd: Path
) -> None:
    """Issue 15: what Read shows of a Latin-1 file, sent back, keeps its bytes."""
    original = "café = 'naïve'\npath = C:\\x\\xe9\n".encode("latin-1")
    (cwd / "latin.txt").write_bytes(original)
    shown = await run_tool("Read", {"file_path": "latin.txt"})
    lines = [line.partition("\t")[2] for line in shown.content.split("\n\n(")[0].splitlines()]
    assert lines == ["caf\\xe9 = 'na\\xefve'", "path = C:\\\\x\\\\xe9"]

    edit = {"file_path": "latin.txt", "old_string": lines[0], "new_string": "caf\\xe9 = 1"}
    edited = await run_tool("Edit", edit)
    assert not edited.is_error, edited.content
    assert (cwd / "latin.txt").read_bytes() == original.replace("'naïve'".encode("latin-1"), b"1")
    assert "caf\\xe9 = 1" in edited.content  # shown as Read shows it

    written = await run_tool("Write", {"file_path": "latin.txt", "content": "\n".join(lines)})
    assert not written.is_error, written.content
    assert (cwd / "latin.txt").read_bytes() == original.rstrip(b"\n")
    fresh = await run_tool("Write", {"file_path": "new.txt", "content": "C:\\\\x \\xe9"})
    assert not fresh.is_error
    assert (cwd / "new.txt").read_bytes() == b"C:\\\\x \\xe9"  # a UTF-8 file: taken as it is


async def test_read_empty_file_says_it_is_empty(run_tool: RunTool, cwd: Path) -> None:
    (cwd / "empty.txt").write_text("")
    result = await run_tool("Read", {"file_path": "empty.txt"})
    assert not result.is_error
    assert result.content == "(The file empty.txt exists but is empty.)"


async def test_read_huge_file_is_cut_for_the_model_and_kept_for_the_trace(
    cwd: Path, run_tool: RunTool
) -> None:
    (cwd / "big.txt").write_text("z" * 1500 + "\n" * 1 + ("z" * 1500 + "\n") * 99)
    settings = ToolsConfig(model_output_chars=5_000)
    result = await run_tool(
        "Read", {"file_path": "big.txt"}, ToolContext(cwd=cwd, workspace=cwd, settings=settings)
    )
    assert result.output is not None
    assert len(result.output) > 150_000
    assert len(result.content) <= 5_000
    assert "characters cut here" in result.content
    assert result.content.startswith("     1\tzzz")
    assert result.content.rstrip().endswith("z")  # the tail is kept too


# --- Write --------------------------------------------------------------------------------


async def test_write_creates_parent_folders_and_records_the_digest(
    run_tool: RunTool, cwd: Path
) -> None:
    result = await run_tool("Write", {"file_path": "deep/er/new.txt", "content": "héllo\n"})
    assert not result.is_error
    assert result.content == "File created: deep/er/new.txt (6 characters)."
    data = (cwd / "deep" / "er" / "new.txt").read_bytes()
    assert data == "héllo\n".encode()
    assert result.files_written == {"deep/er/new.txt": sha(data)}


async def test_write_overwrites_an_existing_file(run_tool: RunTool, cwd: Path) -> None:
    (cwd / "f.txt").write_text("old content that is longer")
    result = await run_tool("Write", {"file_path": "f.txt", "content": "new"})
    assert result.content == "File updated: f.txt (3 characters)."
    assert (cwd / "f.txt").read_text() == "new"


async def test_write_to_a_folder_is_an_error(run_tool: RunTool, cwd: Path) -> None:
    (cwd / "d").mkdir()
    result = await run_tool("Write", {"file_path": "d", "content": "x"})
    assert result.is_error
    assert result.content == "'d' is a folder; give the path of a file inside it."


async def test_write_through_a_symlink_inside_writes_the_target(
    run_tool: RunTool, cwd: Path
) -> None:
    (cwd / "real.txt").write_text("a")
    (cwd / "link.txt").symlink_to(cwd / "real.txt")
    result = await run_tool("Write", {"file_path": "link.txt", "content": "b"})
    assert result.files_written == {"real.txt": sha(b"b")}
    assert (cwd / "real.txt").read_text() == "b"


# --- Edit ---------------------------------------------------------------------------------


async def test_edit_replaces_a_unique_string_and_shows_the_lines(
    run_tool: RunTool, cwd: Path
) -> None:
    (cwd / "m.py").write_text("a = 1\nb = 2\nc = 3\n")
    result = await run_tool(
        "Edit", {"file_path": "m.py", "old_string": "b = 2", "new_string": "b = 20"}
    )
    assert not result.is_error
    assert (cwd / "m.py").read_text() == "a = 1\nb = 20\nc = 3\n"
    assert result.content == (
        "The file m.py has been updated (1 replacement). The edited part:\n"
        "     1\ta = 1\n     2\tb = 20\n     3\tc = 3"
    )
    assert result.files_written == {"m.py": sha(b"a = 1\nb = 20\nc = 3\n")}


async def test_edit_refuses_a_non_unique_old_string(run_tool: RunTool, cwd: Path) -> None:
    (cwd / "r.txt").write_text("x\nx\nx\n")
    result = await run_tool("Edit", {"file_path": "r.txt", "old_string": "x", "new_string": "y"})
    assert result.is_error
    assert result.content == (
        "old_string occurs 3 times in r.txt. Add surrounding lines to make it unique, "
        "or set replace_all to true to replace all of them."
    )
    assert (cwd / "r.txt").read_text() == "x\nx\nx\n"
    assert result.files_written == {}


async def test_edit_replace_all_replaces_every_occurrence(run_tool: RunTool, cwd: Path) -> None:
    (cwd / "r.txt").write_text("x\nx\nx\n")
    result = await run_tool(
        "Edit", {"file_path": "r.txt", "old_string": "x", "new_string": "y", "replace_all": True}
    )
    assert result.content.startswith("The file r.txt has been updated (3 replacements).")
    assert (cwd / "r.txt").read_text() == "y\ny\ny\n"


async def test_edit_old_string_not_found(run_tool: RunTool, cwd: Path) -> None:
    (cwd / "r.txt").write_text("    indented\n")
    result = await run_tool(
        "Edit", {"file_path": "r.txt", "old_string": "  indented\t", "new_string": "z"}
    )
    assert result.is_error
    assert result.content.startswith("old_string was not found in r.txt.")


async def test_edit_identical_strings_is_an_error(run_tool: RunTool, cwd: Path) -> None:
    (cwd / "r.txt").write_text("same")
    result = await run_tool(
        "Edit", {"file_path": "r.txt", "old_string": "same", "new_string": "same"}
    )
    assert result.is_error
    assert result.content == "old_string and new_string are identical; the edit changes nothing."


async def test_edit_missing_file_suggests_names(run_tool: RunTool, cwd: Path) -> None:
    (cwd / "notes.md").write_text("x")
    result = await run_tool("Edit", {"file_path": "note.md", "old_string": "x", "new_string": "y"})
    assert result.is_error
    assert result.content == "File does not exist: 'note.md'. Did you mean 'notes.md'?"


async def test_edit_with_empty_old_string_creates_a_new_file(run_tool: RunTool, cwd: Path) -> None:
    result = await run_tool(
        "Edit", {"file_path": "fresh/f.txt", "old_string": "", "new_string": "hi\n"}
    )
    assert not result.is_error
    assert (cwd / "fresh" / "f.txt").read_text() == "hi\n"
    assert result.files_written == {"fresh/f.txt": sha(b"hi\n")}


async def test_edit_with_empty_old_string_refuses_a_file_with_content(
    run_tool: RunTool, cwd: Path
) -> None:
    (cwd / "full.txt").write_text("content")
    result = await run_tool("Edit", {"file_path": "full.txt", "old_string": "", "new_string": "x"})
    assert result.is_error
    assert (cwd / "full.txt").read_text() == "content"


async def test_edit_matches_lf_text_in_a_crlf_file(run_tool: RunTool, cwd: Path) -> None:
    (cwd / "win.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    result = await run_tool(
        "Edit", {"file_path": "win.txt", "old_string": "one\ntwo", "new_string": "1\n2"}
    )
    assert not result.is_error
    assert (cwd / "win.txt").read_bytes() == b"1\r\n2\r\nthree\r\n"


async def test_edit_keeps_non_utf8_bytes_and_refuses_binary_files(
    run_tool: RunTool, cwd: Path
) -> None:
    (cwd / "latin.txt").write_bytes("café".encode("latin-1"))
    (cwd / "blob.bin").write_bytes(b"ab\x00cd")
    latin = await run_tool(
        "Edit", {"file_path": "latin.txt", "old_string": "caf", "new_string": "x"}
    )
    blob = await run_tool("Edit", {"file_path": "blob.bin", "old_string": "ab", "new_string": "x"})
    assert not latin.is_error, latin.content
    assert (
        blob.is_error
        and blob.content == "'blob.bin' is a binary file; Edit changes text files only."
    )
    assert (cwd / "latin.txt").read_bytes() == b"x\xe9"  # the other byte is untouched
    assert (cwd / "blob.bin").read_bytes() == b"ab\x00cd"
