"""Word expansion: what a program really receives after bash is done with a word."""

from __future__ import annotations

import pytest

from llmos.security.shell import walk


def argv(line: str, home: str = "/home/u") -> list[str | None]:
    script = walk(line, cwd="/w/p", home=home)
    return script.commands[-1].argv


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("'r'm -rf x", ["rm", "-rf", "x"]),
        ("\\rm x", ["rm", "x"]),
        ("$'\\x72\\x6d' x", ["rm", "x"]),
        ("$'\\162m' x", ["rm", "x"]),
        ("rm${IFS}-rf${IFS}/", ["rm", "-rf", "/"]),
        ("X='-r -f'; rm $X y", ["rm", "-r", "-f", "y"]),
        ('X="-r -f"; rm "$X" y', ["rm", "-r -f", "y"]),
        ("rm ~/a", ["rm", "/home/u/a"]),
        ("rm '~/a'", ["rm", "~/a"]),
        ("rm /{etc,usr}/x", ["rm", "/etc/x", "/usr/x"]),
        ('rm "$HOME"/x', ["rm", "/home/u/x"]),
        ("rm ${HOME:-/}", ["rm", "/home/u"]),
        ("rm $NOPE/x", ["rm", None]),
        ("$(echo rm) -rf y", ["rm", "-rf", "y"]),
        ("for d in a b; do rm $d; done", ["rm", "a", "b"]),
        ("D=~; rm $D", ["rm", "/home/u"]),
    ],
)
def test_words_expand_like_bash(line: str, expected: list[str | None]) -> None:
    assert argv(line) == expected


def test_unknown_value_keeps_its_literal_prefix() -> None:
    script = walk('rm -rf "build/$NAME"', cwd="/w", home="/h")
    arg = script.commands[0].args[2]
    assert arg.text is None
    assert arg.prefix == "build/"


def test_command_substitution_commands_are_walked_too() -> None:
    script = walk("echo $(rm -rf /) `ls`", cwd="/w", home="/h")
    assert [c.name for c in script.commands] == ["rm", "ls", "echo"]


def test_wrappers_are_unwrapped_in_order() -> None:
    script = walk("sudo -u x nice -n 5 timeout 3 env A=1 rm -rf y", cwd="/w", home="/h")
    assert [c.name for c in script.commands] == ["sudo", "nice", "timeout", "env", "rm"]
    assert script.commands[-1].wrapped_by == ("sudo", "nice", "timeout", "env")


def test_cd_moves_the_working_directory_of_later_commands() -> None:
    script = walk("cd sub && ls; cd /etc; cat passwd", cwd="/w", home="/h")
    assert [(c.name, c.cwd) for c in script.commands] == [
        ("cd", "/w"),
        ("ls", "/w/sub"),
        ("cd", "/w/sub"),
        ("cat", "/etc"),
    ]
