"""L4 semantic memory: facts and insights as Markdown files, with a full-text index.

A fact is one short piece of knowledge worth reusing ("the project uses
pytest", "the API key lives in .env.local"), added by the user or extracted
as an insight after a Learner run. Each is a Markdown file with a small YAML
front matter under ``memory/facts/``; files, index, lock and broken files are
:class:`~llmos.memory.markdown_store.MarkdownStore`'s (shared with the traces).
The index is checked against every file's state before each read, so a hand
edit in place is seen at once: fact folders are small.
"""

from __future__ import annotations

import builtins
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from llmos.errors import ConfigError, LLMOSError
from llmos.memory._fact_index import FactIndex, FactRow, query_words
from llmos.memory.markdown_store import SUFFIX, LayeredStores, MarkdownStore
from llmos.memory.similarity import STOPWORDS
from llmos.workspace import Workspace

if TYPE_CHECKING:
    from llmos.projects import Project

FactSource = Literal["user", "insight"]
FACT_SOURCES: tuple[str, ...] = ("user", "insight")
_ID = re.compile(r"f-[0-9a-f]{8}")
_FRONT_KEYS = ("id", "created", "source", "tags", "task", "trace")


class FactFormatError(LLMOSError):
    """A fact file cannot be read; ``path`` points at it."""

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class FactNotFound(LLMOSError):
    """No fact has the given id (or id prefix)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FactOrigin:
    """The task and trace a fact came from (set for insights)."""

    task_id: str | None = None
    trace_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Fact:
    """One fact or insight; its Markdown file is the truth."""

    id: str
    text: str
    created: str
    source: FactSource = "user"
    tags: tuple[str, ...] = ()
    task_id: str | None = None
    trace_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``llmos memory … --json`` object."""
        return {
            "id": self.id,
            "text": self.text,
            "created": self.created,
            "source": self.source,
            "tags": list(self.tags),
            "task_id": self.task_id,
            "trace_id": self.trace_id,
        }


@dataclass(frozen=True, slots=True)
class ScoredFact:
    """A search hit: the fact and its BM25 relevance (higher is more relevant)."""

    fact: Fact
    score: float


def new_fact_id() -> str:
    return "f-" + secrets.token_hex(4)


# ---------------------------------------------------------------- the file format


def render_fact(fact: Fact) -> str:
    """The Markdown file of a fact: front matter, a blank line, the text."""
    front: dict[str, Any] = {
        "id": fact.id,
        "created": fact.created,
        "source": fact.source,
        "tags": list(fact.tags),
    }
    if fact.task_id:
        front["task"] = fact.task_id
    if fact.trace_id:
        front["trace"] = fact.trace_id
    import yaml  # on first use: a task that writes and reads no fact never needs it

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's when present
    header = yaml.dump(front, Dumper=dumper, sort_keys=False, allow_unicode=True, width=10_000)
    return f"---\n{header}---\n\n{fact.text}\n"


def parse_fact(text: str, path: Path) -> Fact:
    """Read a fact file back; anything malformed is a :class:`FactFormatError` naming it."""
    if not text.startswith("---\n"):
        raise FactFormatError("does not start with a '---' front matter line", path=path)
    head, sep, body = text[4:].partition("\n---\n")
    if not sep:
        raise FactFormatError("has no closing '---' after its front matter", path=path)
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # rebuilding the index parses all
    try:
        front = yaml.load(head, Loader=loader)
    except yaml.YAMLError as exc:
        raise FactFormatError(f"front matter is not valid YAML: {exc}", path=path) from exc
    if not isinstance(front, dict):
        raise FactFormatError("front matter is not a mapping of keys to values", path=path)
    unknown = sorted(str(key) for key in front if key not in _FRONT_KEYS)
    if unknown:
        raise FactFormatError(
            f"unknown front matter keys {unknown}; known: {', '.join(_FRONT_KEYS)}", path=path
        )
    fact_id, source, tags = front.get("id"), front.get("source", "user"), front.get("tags") or []
    if not isinstance(fact_id, str) or not _ID.fullmatch(fact_id):
        raise FactFormatError(f"id {fact_id!r} is not 'f-' and 8 hex digits", path=path)
    if path.name != f"{fact_id}{SUFFIX}":
        raise FactFormatError(
            f"holds fact {fact_id!r} but is named {path.name!r}; rename it to {fact_id}{SUFFIX}",
            path=path,
        )
    if source not in FACT_SOURCES:
        raise FactFormatError(
            f"source {source!r} is not one of {', '.join(FACT_SOURCES)}", path=path
        )
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise FactFormatError(f"tags should be a list of words, got {tags!r}", path=path)
    created = front.get("created")
    if isinstance(created, datetime | date):  # YAML reads an unquoted timestamp as a date
        created = created.isoformat()
    body = body.strip()
    if not body:
        raise FactFormatError("has no text after its front matter", path=path)
    return Fact(
        id=fact_id,
        text=body,
        created=str(created or ""),
        source=source,
        tags=tuple(tags),
        task_id=_optional(front, "task", path),
        trace_id=_optional(front, "trace", path),
    )


def _optional(front: dict[str, Any], key: str, path: Path) -> str | None:
    value = front.get(key)
    if value is not None and not isinstance(value, str):
        raise FactFormatError(f"{key} should be an id, got {value!r}", path=path)
    return value


def _clean_tags(tags: Iterable[str]) -> tuple[str, ...]:
    cleaned: dict[str, None] = {}
    for tag in tags:
        word = " ".join(str(tag).split())
        if word:
            cleaned.setdefault(word)
    return tuple(cleaned)


def _fact_of(row: FactRow) -> Fact:
    return Fact(
        id=row.id,
        text=row.text,
        created=row.created,
        source=row.source,  # type: ignore[arg-type]
        tags=row.tags,
        task_id=row.task,
        trace_id=row.trace,
    )


# ---------------------------------------------------------------- the store


class FactStore(MarkdownStore[Fact, FactRow]):
    """The fact files under ``root`` and their index.

    Example:
        >>> facts = FactStore.for_memory(workspace.memory)
        >>> facts.add("The project runs its tests with pytest -q", tags=("python",))
        >>> [hit.fact.text for hit in facts.search("run the tests")]
    """

    noun = "fact"
    list_command = "llmos memory list"
    not_found = FactNotFound
    format_error = FactFormatError
    watch_edits = True
    resolve_broken = False

    def __init__(self, root: Path, index_path: Path) -> None:
        super().__init__(root, FactIndex(index_path))
        self.index: FactIndex

    @classmethod
    def for_memory(cls, memory: Path) -> FactStore:
        """The store of a workspace's ``memory/`` folder (``facts/`` and ``facts.sqlite``)."""
        return cls(memory / "facts", memory / "facts.sqlite")

    # ------------------------------------------------------------ writing

    def add(
        self,
        text: str,
        *,
        source: FactSource = "user",
        tags: Iterable[str] = (),
        origin: FactOrigin | None = None,
    ) -> Fact:
        """Write a new fact atomically and index it; returns it as saved."""
        text = text.strip()
        if not text:
            raise ConfigError(
                "the fact is empty; say what to remember, e.g. "
                'llmos memory add "tests run with pytest -q"',
                key="text",
            )
        if source not in FACT_SOURCES:
            raise ConfigError(
                f"fact source {source!r} is not one of {', '.join(FACT_SOURCES)}", key="source"
            )
        origin = origin or FactOrigin()
        fact = Fact(
            id=new_fact_id(),
            text=text,
            created=_utc_now(),
            source=source,
            tags=_clean_tags(tags),
            task_id=origin.task_id,
            trace_id=origin.trace_id,
        )
        with self._lock:
            while self.path_for(fact.id).exists():  # 2^32 ids: a clash is rare, not impossible
                fact = replace(fact, id=new_fact_id())
            self._write(fact, render_fact(fact))
        return fact

    def remove(self, id_or_prefix: str) -> Fact:
        """Delete a fact by id or unique id prefix; returns what was deleted."""
        with self._lock:
            fact = self.get(id_or_prefix)
            self._unlink(fact.id)
        return fact

    def read(self, path: Path) -> Fact:
        try:
            return parse_fact(path.read_text(encoding="utf-8"), path)
        except UnicodeDecodeError as exc:
            raise FactFormatError(str(exc), path=path) from exc

    def row_for(self, record: Fact, path: Path, info: os.stat_result) -> FactRow:
        return FactRow(
            id=record.id,
            file=path.name,
            mtime_ns=info.st_mtime_ns,
            size=info.st_size,
            created=record.created,
            source=record.source,
            tags=record.tags,
            task=record.task_id,
            trace=record.trace_id,
            text=record.text,
        )

    # ------------------------------------------------------------ reading

    def search(self, query: str, limit: int = 5) -> list[ScoredFact]:
        """The facts most relevant to ``query`` (any of its content words), best first."""
        self.ensure_fresh()
        words = query_words(query, STOPWORDS)
        return [ScoredFact(_fact_of(row), score) for row, score in self.index.search(words, limit)]

    def list(self) -> list[Fact]:
        """Every readable fact, oldest first."""
        self.ensure_fresh()
        return [_fact_of(row) for row in self.index.all()]

    def get(self, id_or_prefix: str) -> Fact:
        """One fact by id or unique id prefix.

        Raises:
            FactNotFound: no fact has it, or several do (the message lists them).
        """
        found = self.index.get(self.resolve(id_or_prefix))
        if found is None:  # removed by another process since
            raise FactNotFound(f"fact {id_or_prefix!r} was just removed from {self.root}")
        return _fact_of(found)

    def problems(self) -> builtins.list[FactFormatError]:
        """The fact files that cannot be read (skipped by search and list), with the reason."""
        self.ensure_fresh()
        return [FactFormatError(b.reason, path=self.root / b.file) for b in self._broken_now()]

    def reindex(self) -> int:
        """Rebuild the index from the files; returns how many facts it holds."""
        return self._rebuild().indexed


def _utc_now() -> str:
    """Creation time to the millisecond: facts added in a burst still list in order."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class FactLibrary(LayeredStores[FactStore]):
    """The fact stores a task searches: its project's first, then the workspace's.

    New facts go to the first store (the project's when one is current).
    """

    noun = "fact"

    @classmethod
    def for_workspace(cls, workspace: Workspace, project: Project | None = None) -> FactLibrary:
        stores = [FactStore.for_memory(workspace.memory)]
        if project is not None:
            stores.insert(0, FactStore.for_memory(project.memory))
        return cls(stores)

    def add(
        self,
        text: str,
        *,
        source: FactSource = "user",
        tags: Iterable[str] = (),
        origin: FactOrigin | None = None,
    ) -> Fact:
        return self.home.add(text, source=source, tags=tags, origin=origin)

    def search(self, query: str, limit: int = 5) -> list[ScoredFact]:
        """The project's relevant facts first, then the workspace's; no text twice."""
        found: list[ScoredFact] = []
        seen: set[str] = set()
        for store in self.stores:
            for hit in store.search(query, limit):
                if hit.fact.text.casefold() not in seen:
                    seen.add(hit.fact.text.casefold())
                    found.append(hit)
        return found[:limit]

    def list(self) -> list[Fact]:
        return [fact for store in self.stores for fact in store.list()]

    def remove(self, id_or_prefix: str) -> Fact:
        """Forget a fact from whichever store holds it (the project's first)."""
        return self.store_of(id_or_prefix).remove(id_or_prefix)
