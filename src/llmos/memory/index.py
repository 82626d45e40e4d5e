"""The SQLite index beside the trace files: fast lookup at 100k traces.

The Markdown files are the truth; this index only makes lookup fast and can
be rebuilt from them at any time. It holds, per trace, the keys the matcher
looks up exactly (normalised signature, template shape, order-free bag of
terms), the counters shown by ``llmos traces list``, and a full-text table
for retrieval. The tables, the file states and the broken files are
:class:`~llmos.memory.record_index.RecordIndex`'s, shared with the facts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from llmos.memory.normalize import shape, signature, tokenize
from llmos.memory.record_index import BrokenFile, IndexSchema, RecordIndex
from llmos.memory.similarity import terms_of
from llmos.memory.trace import Slot, Trace

SCHEMA_VERSION = "4"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS traces (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    file TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    goal TEXT NOT NULL,
    signature TEXT NOT NULL,
    shape TEXT NOT NULL,
    bag TEXT NOT NULL,
    slots TEXT NOT NULL,
    status TEXT NOT NULL,
    created TEXT NOT NULL,
    last_used TEXT,
    parent TEXT,
    use_count INTEGER NOT NULL DEFAULT 0,
    replay_successes INTEGER NOT NULL DEFAULT 0,
    replay_failures INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    saved_usd REAL NOT NULL DEFAULT 0,
    backend TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    failure TEXT
);
CREATE INDEX IF NOT EXISTS traces_signature ON traces (signature);
CREATE INDEX IF NOT EXISTS traces_shape ON traces (shape);
CREATE INDEX IF NOT EXISTS traces_bag ON traces (bag);
CREATE VIRTUAL TABLE IF NOT EXISTS traces_fts USING fts5 (terms, tokenize = 'unicode61');
CREATE VIRTUAL TABLE IF NOT EXISTS traces_vocab USING fts5vocab (traces_fts, 'row');
"""
#: Retrieval reads at most about this many postings, rarest words first: it bounds the
#: time of a full-text lookup at any library size (about 1 ms per 1,000 postings).
POSTINGS_BUDGET = 3_000
_COLUMNS = (
    "id",
    "file",
    "mtime_ns",
    "size",
    "goal",
    "signature",
    "shape",
    "bag",
    "slots",
    "status",
    "created",
    "last_used",
    "parent",
    "use_count",
    "replay_successes",
    "replay_failures",
    "cost_usd",
    "saved_usd",
    "backend",
    "model",
    "failure",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexEntry:
    """What the index knows about one trace (enough to match and list it)."""

    id: str
    file: str
    goal: str
    signature: str
    shape: str
    bag: str
    slots: tuple[Slot, ...]
    status: str
    created: str
    last_used: str | None
    parent: str | None
    use_count: int
    replay_successes: int
    replay_failures: int
    cost_usd: float
    saved_usd: float
    backend: str = ""
    model: str = ""
    failure: str | None = None  # the failure kind of a failed trace
    mtime_ns: int = 0
    size: int = 0
    terms: str = ""


def entry_for(trace: Trace, file: str, *, mtime_ns: int = 0, size: int = 0) -> IndexEntry:
    """The index row of a trace; keys are derived from its goal, so old files index alike."""
    tokens = tokenize(trace.goal)
    terms = terms_of(tokens)
    return IndexEntry(
        id=trace.id,
        file=file,
        goal=trace.goal,
        signature=signature(tokens),
        shape=shape(tokens),
        bag=terms.bag,
        slots=trace.slots,
        status=trace.status,
        created=trace.created,
        last_used=trace.last_used,
        parent=trace.parent,
        use_count=trace.use_count,
        replay_successes=trace.replay_successes,
        replay_failures=trace.replay_failures,
        cost_usd=trace.cost_usd,
        saved_usd=trace.saved_usd,
        backend=trace.backend,
        model=trace.model,
        failure=trace.failure.value if trace.failure else None,
        mtime_ns=mtime_ns,
        size=size,
        terms=" ".join(terms.search_terms),
    )


_TRACES: IndexSchema[IndexEntry] = IndexSchema(
    version=SCHEMA_VERSION,
    ddl=_SCHEMA,
    table="traces",
    fts="traces_fts",
    tables=("traces_vocab", "traces_fts", "traces"),
    row_type=IndexEntry,
    columns=_COLUMNS,
    fts_columns=("terms",),
    fts_values=lambda entry: (entry.terms,),
    json_columns={
        "slots": (
            lambda slots: [[s.name, s.type, s.value] for s in slots],
            lambda data: tuple(
                Slot(name=name, type=kind, value=value) for name, kind, value in data
            ),
        )
    },
)

_FTS_WORD = re.compile(r"[^\W_]+")


def fts_query(words: Iterable[str]) -> str:
    """An FTS5 OR-query of the given words, each quoted so no word is read as syntax."""
    return " OR ".join(f'"{word}"' for word in sorted(set(words)) if word)


class TraceIndex(RecordIndex[IndexEntry]):
    """The traces' index: exact keys for the matcher and full-text retrieval."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _TRACES)

    def by_signature(self, value: str) -> list[IndexEntry]:
        return self.select("signature = ?", (value,))

    def by_shape(self, value: str) -> list[IndexEntry]:
        return self.select("shape = ?", (value,))

    def by_bag(self, value: str) -> list[IndexEntry]:
        return self.select("bag = ?", (value,))

    def search(self, terms: Iterable[str], limit: int = 20) -> list[IndexEntry]:
        """The best ``limit`` rows by BM25 over the rarer of the given words.

        Words are taken rarest first while their postings fit :data:`POSTINGS_BUDGET`;
        words found in a large share of the library carry little signal and cost the most.
        """
        query = fts_query(self._rare_words(terms))
        if not query:
            return []
        sql = (
            f"SELECT {', '.join('t.' + c for c in _COLUMNS)} FROM traces_fts f "
            "JOIN traces t ON t.rowid = f.rowid WHERE traces_fts MATCH ? "
            "ORDER BY f.rank LIMIT ?"
        )
        return [self.schema.row(row) for row in self.connection().execute(sql, (query, limit))]

    def _rare_words(self, terms: Iterable[str]) -> list[str]:
        words = sorted({w.casefold() for term in terms for w in _FTS_WORD.findall(term)})
        if not words:
            return []
        marks = ", ".join("?" for _ in words)
        counts = (
            self.connection()
            .execute(f"SELECT term, doc FROM traces_vocab WHERE term IN ({marks})", words)
            .fetchall()
        )
        chosen, spent = [], 0
        for word, documents in sorted(counts, key=lambda item: item[1]):
            if spent + documents > POSTINGS_BUDGET:
                break
            chosen.append(word)
            spent += documents
        return chosen


__all__ = ["BrokenFile", "IndexEntry", "TraceIndex", "entry_for", "fts_query"]
