"""How close two goals are in meaning, and the guards that keep near-misses apart.

Goals are reduced to *terms*: content words mapped onto a small vocabulary of
synonyms ("make", "write", "generate" → ``create``; "folder" → ``directory``),
plural endings and hyphens dropped, filler words removed; literal values kept
exact. Two goals whose terms are the same, in the same order, ask for the same
thing in other words. Anything else is scored, and the guards cap the score:

* a negation on one side only ("do not", "without", "don't") → far below follow;
* a different action ("delete" vs "create", "move" vs "copy") → far below follow;
* a different or an extra literal, word or requirement → below the follow
  threshold: at best the trace can guide a Learner run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from llmos.memory.normalize import Token

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "create": (
        "make",
        "write",
        "generate",
        "build",
        "scaffold",
        "produce",
        "compose",
        "draft",
        "put",
        "save",
        "store",
        "implement",
        "author",
    ),
    "delete": ("remove", "erase", "rm", "destroy", "wipe", "unlink", "purge"),
    "copy": ("duplicate", "cp", "clone"),
    "move": ("mv", "relocate"),
    "show": ("print", "display", "output", "list", "echo"),
    "run": ("execute",),
    "test": ("try", "check", "verify", "exercise"),
    "convert": ("turn", "transform"),
    "directory": ("folder", "dir"),
    "script": ("program",),
    "sample": ("example", "dummy"),
    "short": ("brief",),
    "multiplication": ("times",),
    "uppercase": ("upper", "capital", "capitalized", "capitalised"),
    "lowercase": ("lower",),
    "title": ("titled", "entitled"),
    "cli": ("commandline",),
}
#: Two-word phrases read as one term.
_PHRASES: dict[tuple[str, str], str] = {("set", "up"): "create", ("how", "many"): "count"}
_CANONICAL = {word: key for key, words in _SYNONYMS.items() for word in words}
ACTIONS: frozenset[str] = frozenset(
    {
        "create",
        "delete",
        "copy",
        "move",
        "show",
        "run",
        "test",
        "convert",
        "rename",
        "install",
        "uninstall",
        "translate",
        "sort",
        "count",
        "download",
        "upload",
        "send",
        "deploy",
        "train",
        "refactor",
        "explain",
        "summarize",
        "summarise",
        "fix",
        "update",
        "edit",
        "modify",
        "replace",
        "merge",
        "split",
        "compress",
        "extract",
        "encrypt",
        "decrypt",
        "parse",
        "append",
        "read",
        "search",
        "find",
        "kill",
        "stop",
        "start",
        "restart",
    }
)
NEGATIONS: frozenset[str] = frozenset(
    {
        "not",
        "no",
        "don't",
        "dont",
        "never",
        "without",
        "except",
        "excluding",
        "skip",
        "avoid",
        "neither",
        "nor",
        "doesn't",
        "shouldn't",
        "mustn't",
        "can't",
        "cannot",
        "instead",
    }
)
STOPWORDS: frozenset[str] = frozenset(
    {
        "a",
        "an",
        "the",
        "to",
        "in",
        "into",
        "inside",
        "on",
        "of",
        "for",
        "with",
        "and",
        "it",
        "its",
        "that",
        "this",
        "these",
        "those",
        "then",
        "some",
        "each",
        "every",
        "all",
        "me",
        "please",
        "which",
        "where",
        "is",
        "are",
        "be",
        "there",
        "by",
        "at",
        "as",
        "called",
        "named",
        "has",
        "have",
        "containing",
        "contains",
        "holding",
        "their",
        "them",
        "whose",
        "plus",
        "file",
        "files",
        "new",
        "also",
        "so",
        "i",
        "you",
        "can",
        "could",
        "would",
        "just",
    }
)


#: The role a literal plays, from the word before it: "copy a.txt to b.txt" is not
#: "copy a.txt and b.txt", though the content words are the same.
_ROLES: dict[str, str] = {
    **dict.fromkeys(("to", "into", "in", "inside", "onto", "as"), "→"),
    "from": "←",
    **dict.fromkeys(("and", "or", "plus"), "&"),
}
#: Words that do not end a role: "to a new file called x.txt" is "→ x.txt".
_TRANSPARENT = frozenset(
    {
        "a",
        "an",
        "the",
        "its",
        "their",
        "my",
        "our",
        "your",
        "this",
        "that",
        "new",
        "file",
        "folder",
        "directory",
        "called",
        "named",
        "titled",
    }
)


def _term(word: str) -> str:
    word = word.replace("-", "").replace("'", "")
    if word in _CANONICAL:
        return _CANONICAL[word]
    if len(word) > 3 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    return _CANONICAL.get(word, word)


@dataclass(frozen=True, slots=True)
class Terms:
    """A goal reduced for comparison: content words in order, literal values in order."""

    words: tuple[str, ...]
    literals: tuple[str, ...]
    negated: bool

    @property
    def bag(self) -> str:
        """An order-free key: equal bags are candidates for "same request, other words"."""
        return " ".join(sorted(self.words)) + " | " + " ".join(sorted(self.literals))

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(word for word in self.words if word in ACTIONS)

    @property
    def search_terms(self) -> list[str]:
        """Words for full-text retrieval (literals split by the FTS tokenizer anyway)."""
        return [*self.words, *self.literals]


def terms_of(tokens: list[Token]) -> Terms:
    words: list[str] = []
    literals: list[str] = []
    negated = False
    role = ""
    skip_next = False
    for position, token in enumerate(tokens):
        following = tokens[position + 1] if position + 1 < len(tokens) else None
        role_before = role
        if token.kind != "word":
            role = ""
        elif token.text not in _TRANSPARENT:
            role = _ROLES.get(token.text, "")
        if skip_next:
            skip_next = False
            continue
        phrase = _PHRASES.get((token.text, following.text)) if following else None
        if phrase is not None and following is not None and token.kind == following.kind == "word":
            words.append(phrase)
            skip_next = True
        elif token.is_literal:
            literals.append(role_before + token.key)
        elif token.kind == "symbol":
            words.append(token.text)
        elif token.text in NEGATIONS or token.text.endswith("n't"):
            negated = True
            words.append("not")
        elif token.text not in STOPWORDS:
            words.append(_term(token.text))
    return Terms(tuple(words), tuple(literals), negated)


@dataclass(frozen=True, slots=True)
class Similarity:
    """A score in [0, 1] and the guard (if any) that capped it."""

    score: float
    reason: str


#: Same terms in the same order: the same request in other words.
SAME_TERMS = 0.92
#: Same terms in another order: roles may differ ("A to B" vs "B to A").
REORDERED = 0.85
_CAP_NEGATION = 0.5
_CAP_ACTION = 0.6
_CAP_LITERAL = 0.8
_CAP_WORDS = 0.85


def compare(goal: Terms, learned: Terms) -> Similarity:
    """How likely replaying the ``learned`` goal's trace does what ``goal`` asks."""
    if goal.words == learned.words and goal.literals == learned.literals:
        if goal.negated:
            return Similarity(_CAP_NEGATION, "the same words, but with a negation")
        return Similarity(SAME_TERMS, "the same request in other words")
    mine = Counter(goal.words) + Counter({f"\0{lit}": 2 for lit in goal.literals})
    theirs = Counter(learned.words) + Counter({f"\0{lit}": 2 for lit in learned.literals})
    overlap = sum((mine & theirs).values())
    union = sum((mine | theirs).values())
    score = 0.4 + 0.6 * (overlap / union if union else 0.0)
    if mine == theirs:
        return Similarity(min(score, REORDERED), "the same words in another order")
    caps: list[tuple[float, str]] = []
    if goal.negated != learned.negated:
        caps.append((_CAP_NEGATION, "a negation on one side only"))
    new_actions, old_actions = goal.actions - learned.actions, learned.actions - goal.actions
    if new_actions:
        caps.append(
            (
                _CAP_ACTION,
                f"a different action: {', '.join(sorted(new_actions))}"
                + (f" instead of {', '.join(sorted(old_actions))}" if old_actions else ""),
            )
        )
    extra_literals = set(goal.literals) - set(learned.literals)
    missing_literals = set(learned.literals) - set(goal.literals)
    if extra_literals or missing_literals:
        caps.append(
            (
                _CAP_LITERAL,
                "other values: "
                + ", ".join(
                    [f"+{v}" for v in sorted(extra_literals)]
                    + [f"-{v}" for v in sorted(missing_literals)]
                ),
            )
        )
    extra_words = set(goal.words) - set(learned.words)
    missing_words = set(learned.words) - set(goal.words)
    if extra_words or missing_words:
        caps.append(
            (
                _CAP_WORDS,
                "different words: "
                + ", ".join(
                    [f"+{w}" for w in sorted(extra_words)]
                    + [f"-{w}" for w in sorted(missing_words)]
                ),
            )
        )
    if not caps:
        return Similarity(min(score, REORDERED), "the same words in another order")
    cap, reason = min(caps)
    return Similarity(min(score, cap), reason)
