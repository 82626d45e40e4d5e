"""Goal text → tokens: ordinary words (case-folded) and literal values (kept exact).

Matching and slots both work on this one tokenisation, so that "the same goal
up to case, spacing and punctuation" means the same thing everywhere. Literal
values keep their case because a file name, a quoted string or an identifier
is data: ``'Hello'`` and ``'hello'`` are different contents to write.

Sentence punctuation (``. , ; : ! ?``) is dropped; symbols that carry meaning
(``+ - * / = < > % & | ( )`` …) stay as tokens, so that "compute 2 + 3" and
"compute 2 * 3", or "(2 + 3) * 4" and "2 + 3 * 4", never share a signature.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

TokenKind = Literal["word", "symbol", "path", "number", "string", "url", "identifier"]
LITERAL_KINDS: frozenset[str] = frozenset({"path", "number", "string", "url", "identifier"})

#: Words that introduce a name: the word after them is a literal ("a package named inventory").
NAMING_CUES: frozenset[str] = frozenset({"named", "called", "titled", "entitled"})

_QUOTE_PAIRS = {"'": "'", '"': '"', "`": "`", "‘": "’", "“": "”"}

_TOKEN = re.compile(
    r"""
    (?P<url>(?:https?|ftp|file)://[^\s'"`<>]+[^\s'"`<>.,;:!?)\]])
  | (?P<quote>['"`‘“])
  | (?P<path>
        /?(?:[\w\-~]+/)*[\w\-]*\.[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*/?  # a.ext, a/b.ext, .gitignore
      | /?(?:[\w\-~.]+/)+(?:[\w\-]+(?:\.[A-Za-z0-9_]+)*)?           # dir/, dir/sub, dir/file
    )
  | (?P<number>-?\d+(?:[.,]\d+)*)
  | (?P<word>[^\W\d_]+(?:['’\-][^\W\d_]+)*(?![\w]))
  | (?P<identifier>\w+)
  | (?P<symbol>[+\-*/=<>%&|^~\#@$\\()\[\]{}])
  | (?P<skip>\S)
    """,
    re.VERBOSE,
)
_CAMEL = re.compile(r"^[a-z]+[A-Z]")  # isPalindrome, not JavaScript


@dataclass(frozen=True, slots=True)
class Token:
    """One token of a goal; ``text`` is case-folded for words, exact for literals."""

    kind: TokenKind
    text: str

    @property
    def is_literal(self) -> bool:
        return self.kind in LITERAL_KINDS

    @property
    def key(self) -> str:
        """How the token appears in a signature."""
        return f"'{self.text}'" if self.kind == "string" else self.text


def _closing_quote(text: str, start: int, opener: str) -> int:
    """Index of the quote that closes the one at ``start``, or -1 if it is an apostrophe."""
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        return -1  # students' grades, don't
    if start + 1 >= len(text) or text[start + 1].isspace():
        return -1
    closer = _QUOTE_PAIRS[opener]
    position = start + 1
    while True:
        end = text.find(closer, position)
        if end < 0:
            return -1
        after = text[end + 1 : end + 2]
        if not text[end - 1].isspace() and (not after or not (after.isalnum() or after == "_")):
            return end
        position = end + 1


def tokenize(goal: str) -> list[Token]:
    """Split a goal into words, symbols and literal values.

    Example:
        >>> [t.text for t in tokenize("Write 'Hi' to a.txt, then COUNT 2 + 3!")]
        ['write', 'Hi', 'to', 'a.txt', 'then', 'count', '2', '+', '3']
    """
    text = unicodedata.normalize("NFKC", goal)
    tokens: list[Token] = []
    name_next = False
    position = 0
    while position < len(text):
        match = _TOKEN.search(text, position)
        if match is None:
            break
        kind = match.lastgroup
        value = match.group()
        position = match.end()
        if kind == "quote":
            end = _closing_quote(text, match.start(), value)
            if end < 0:
                continue
            tokens.append(Token("string", text[match.end() : end]))
            position = end + 1
        elif kind == "path":
            tokens.append(Token("path", value))
        elif kind in ("url", "number"):
            tokens.append(Token(kind, value))  # type: ignore[arg-type]
        elif kind == "identifier" or (kind == "word" and _CAMEL.match(value)):
            tokens.append(Token("identifier", value))
        elif kind == "word":
            folded = value.casefold().replace("’", "'")
            tokens.append(Token("identifier", value) if name_next else Token("word", folded))
        elif kind == "symbol":
            tokens.append(Token("symbol", value))
        if kind not in ("skip",):
            last = tokens[-1] if tokens else None
            name_next = last is not None and last.kind == "word" and last.text in NAMING_CUES
    return tokens


def signature(goal: str | list[Token]) -> str:
    """The normalised goal (text or its tokens): equal signatures mean the same request."""
    tokens = tokenize(goal) if isinstance(goal, str) else goal
    return " ".join(token.key for token in tokens)


def shape(tokens: list[Token]) -> str:
    """The goal with every literal replaced by its kind: goals that could differ only in values."""
    return " ".join("{" + t.kind + "}" if t.is_literal else t.text for t in tokens)
