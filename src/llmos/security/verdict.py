"""The answer the security policy gives about one command or one path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DecisionName = Literal["allow", "deny", "ask"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision, why, and the simple command (or path) that triggered it.

    ``command`` is ``None`` for an allow, and for a deny that concerns the
    whole command line (it could not be parsed).
    """

    decision: DecisionName
    reason: str
    command: str | None = None

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"


ALLOWED = Verdict("allow", "no rule matched")


def deny(reason: str, command: str | None = None) -> Verdict:
    return Verdict("deny", reason, command)


def ask(reason: str, command: str | None = None) -> Verdict:
    return Verdict("ask", reason, command)


def worst(verdicts: list[Verdict]) -> Verdict:
    """The first deny, else the first ask, else allow: one answer for a whole line."""
    for wanted in ("deny", "ask"):
        for verdict in verdicts:
            if verdict.decision == wanted:
                return verdict
    return ALLOWED
