"""Does a goal need several agents? A rule over the kinds of work a goal asks for.

A goal needs the orchestrator when it asks for at least two *different kinds of
work* that different specialists do: research, code, data analysis, writing,
review ("research X, then write a report"; "implement Y and have it
reviewed"). Many steps of one kind stay with one agent ("create a.txt and count
its bytes", "write tests and fix the bug"), so conjunctions are not counted at
all. Each kind is recognised by a verb phrase (an action and, for the
ambiguous "write/create/build", its object: a *script* is code, a *report* is
writing). Relative clauses ("a script that reads the CSV and prints the
average") describe the thing being made, not another task, and are masked
first. It is free and deterministic; its accuracy is measured on
``tests/data/orchestration_goals.jsonl``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MAKE = r"\b(?:write|create|build|make|add|develop|produce|prepare|draft)\b(?:\s+[\w-]+){0,3}?\s+"
_CODE_THINGS = (
    r"(?:script|program|function|class|module|cli|api|app|application|scraper|pipeline|"
    r"tests?|unit tests|migrations?|code|library|service|endpoint|parser|page|website|site|"
    r"server|client|bot|game|tool)\b"
)
_PROSE_THINGS = (
    r"(?:report|article|blog post|post|document|documentation|readme|memo|summary|changelog"
    r"(?: entry)?|recommendation|roadmap|essay|email|outline|presentation|guide|tutorial|"
    r"proposal|newsletter)\b"
)

#: Kinds of work, each with the phrases that ask for it (checked on the masked goal).
KINDS: dict[str, re.Pattern[str]] = {
    "research": re.compile(
        r"\b(?:research|investigate|look up|find out|gather|collect|study|survey|compare)\b"
    ),
    "code": re.compile(
        rf"\b(?:implement|refactor|debug|fix|upgrade|migrate)\b|{_MAKE}{_CODE_THINGS}"
        r"|\bdesign the (?:database )?schema\b"
    ),
    "data analysis": re.compile(
        r"\b(?:analy[sz]e|analy[sz]ing|compute|calculate|benchmark|categori[sz]e|plot|"
        r"statistics|spreadsheet)\b"
    ),
    "writing": re.compile(
        rf"{_MAKE}{_PROSE_THINGS}|\b(?:document|summari[sz]e|translate|write up|write-up)\b"
    ),
    "review": re.compile(
        r"\b(?:review|reviewed|audit|proofread|critique)\b"
        r"|\bcheck (?:it |the code )?for (?:bugs|errors|security)"
    ),
}
#: "a script that reads X and prints Y": the clause describes the script (up to , ; or .).
_RELATIVE = re.compile(r"\b(?:that|which|who)\b[^,;.]*")


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether to orchestrate, and why (the kinds of work found, with their words)."""

    orchestrate: bool
    reason: str
    kinds: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.orchestrate


def work_kinds(goal: str) -> dict[str, str]:
    """The kinds of work a goal asks for, each with the phrase that showed it."""
    masked = _RELATIVE.sub(" ", goal.lower())
    found: dict[str, str] = {}
    for kind, pattern in KINDS.items():
        match = pattern.search(masked)
        if match:
            found[kind] = " ".join(match.group(0).split())
    return found


def needs_orchestration(goal: str) -> Decision:
    """Decide whether ``goal`` needs several agents (orchestrator) or one (learner/follower).

    Example:
        >>> needs_orchestration("Research Rust's history, then write a blog post on it")
        Decision(orchestrate=True, reason="2 kinds of work: research ('research'), ...")
    """
    kinds = work_kinds(goal)
    shown = ", ".join(f"{kind} ({phrase!r})" for kind, phrase in kinds.items())
    if len(kinds) >= 2:
        return Decision(True, f"{len(kinds)} kinds of work: {shown}", tuple(kinds))
    if kinds:
        return Decision(False, f"one kind of work, one agent: {shown}", tuple(kinds))
    return Decision(False, "no specialist work named: one agent", ())
