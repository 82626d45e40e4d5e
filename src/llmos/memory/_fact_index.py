"""The SQLite full-text index beside the fact files (``memory/facts.sqlite``).

The Markdown files are the truth; this index only makes search fast and is
rebuilt from them whenever it is missing or any file changed behind its back
(the tables, file states and broken files are
:class:`~llmos.memory.record_index.RecordIndex`'s, shared with the traces).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from llmos.memory.record_index import BrokenFile, IndexSchema, RecordIndex

SCHEMA_VERSION = "2"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS facts (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    file TEXT NOT NULL UNIQUE,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    created TEXT NOT NULL,
    source TEXT NOT NULL,
    tags TEXT NOT NULL,
    task TEXT,
    trace TEXT,
    text TEXT NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS facts_fts USING fts5 (
    text, tags, tokenize = 'porter unicode61'
);
"""
_COLUMNS = ("id", "file", "mtime_ns", "size", "created", "source", "tags", "task", "trace", "text")
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class FactRow:
    """One indexed fact, with the file state it was read at."""

    id: str
    file: str
    mtime_ns: int
    size: int
    created: str
    source: str
    tags: tuple[str, ...]
    task: str | None
    trace: str | None
    text: str


def query_words(text: str, stopwords: frozenset[str]) -> list[str]:
    """The content words of ``text``, lower-cased, without duplicates, in order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.casefold()):
        if word not in stopwords and (len(word) > 1 or word.isdigit()):
            seen.setdefault(word)
    return list(seen)


_FACTS: IndexSchema[FactRow] = IndexSchema(
    version=SCHEMA_VERSION,
    ddl=_SCHEMA,
    table="facts",
    fts="facts_fts",
    tables=("facts_fts", "facts"),
    row_type=FactRow,
    columns=_COLUMNS,
    fts_columns=("text", "tags"),
    fts_values=lambda row: (row.text, " ".join(row.tags)),
    json_columns={"tags": (list, tuple)},
)


class FactIndex(RecordIndex[FactRow]):
    """The facts' index: full-text search over their text and tags."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _FACTS)

    def search(self, words: Iterable[str], limit: int) -> list[tuple[FactRow, float]]:
        """The best ``limit`` facts holding any of ``words``, with a score (higher is better).

        The score sums, over the query words a fact holds (stemmed, in its text or
        tags), a smoothed inverse document frequency: rare words weigh most, and
        unlike FTS5's ``bm25`` no word weighs zero in a small collection.
        """
        conn = self.connection()
        total = conn.execute("SELECT count(*) FROM facts").fetchone()[0]
        scores: dict[int, float] = {}
        for word in words:
            rowids = [
                row[0]
                for row in conn.execute(
                    "SELECT rowid FROM facts_fts WHERE facts_fts MATCH ?", (f'"{word}"',)
                )
            ]
            if rowids:
                weight = math.log(1 + (total - len(rowids) + 0.5) / (len(rowids) + 0.5))
                for rowid in rowids:
                    scores[rowid] = scores.get(rowid, 0.0) + weight
        # Only the best rows are read; among equal scores the later-inserted (newer) wins.
        best = sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)[:limit]
        if not best:
            return []
        marks = ", ".join("?" for _ in best)
        rows = {
            row[0]: self.schema.row(row[1:])
            for row in conn.execute(
                f"SELECT rowid, {', '.join(_COLUMNS)} FROM facts WHERE rowid IN ({marks})",
                [rowid for rowid, _ in best],
            )
        }
        return [(rows[rowid], score) for rowid, score in best]


__all__ = ["BrokenFile", "FactIndex", "FactRow", "query_words"]
