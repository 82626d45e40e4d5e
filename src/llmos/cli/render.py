"""Event subscribers that draw a task for people (rich) or for programs (JSON lines)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.markup import escape

from llmos.backends.factory import select_provider
from llmos.call_summary import summarize_input
from llmos.cli.terminal import visible
from llmos.config import Settings
from llmos.events import (
    TOLD,
    Event,
    HookDecided,
    ModeChosen,
    TaskFailed,
    TaskFinished,
    TextStreamed,
    ToolCallFinished,
    ToolCallStarted,
    UsageUpdated,
    event_to_json,
)
from llmos.memory import MatchResult
from llmos.outcome import FailureKind, hint
from llmos.runtime.task import TaskResult

if TYPE_CHECKING:
    from rich.status import Status  # console.status() imports it, on a terminal only


class JsonRenderer:
    """``--json``: one JSON object per event, one per line, on stdout."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, event: Event) -> None:
        self.stream.write(event_to_json(event) + "\n")
        self.stream.flush()


class HumanRenderer:
    """Live rendering: streamed text, each tool call with its status, a cost line.

    The answer goes to ``console``; progress (the mode, tool calls, streamed
    text, the cost line) to ``progress``, and warnings, hook refusals and the
    failure line to ``err``. ``llmos run`` gives stdout for the first and
    stderr for the others, so ``llmos run … > answer.txt`` keeps only the
    answer in the file and the person still sees the rest; the shell draws
    everything but diagnostics on its one console. With ``explain=False`` the
    failure's message and an unverified run's note are left to the caller
    (``llmos run`` prints them once, with advice, after the run). Without a
    ``console`` the answer is not drawn (``--output-format json`` prints it).
    """

    def __init__(
        self,
        console: Console | None,
        *,
        err: Console | None = None,
        progress: Console | None = None,
        quiet: bool = False,
        explain: bool = True,
    ) -> None:
        self.console = console
        #: Diagnostics (warnings, refusals, the failure line): stderr unless told otherwise.
        self.err = err or Console(stderr=True, highlight=False, soft_wrap=True)
        #: Where progress goes; without an answer console (a JSON result carries
        #: the answer), diagnostics are all that is drawn.
        self.progress = progress or console or self.err
        self.quiet = quiet
        self.explain = explain
        #: Said beside an ``ask`` that was denied: why nobody approved it.
        self.ask_note = ""
        self._line = ""
        self._costs: dict[str, float] = {}
        self._status: Status | None = None
        self._calls: dict[str, str] = {}
        self._streamed = False

    def _spin(self, message: str) -> None:
        if self.quiet or not self.progress.is_terminal:
            return
        message = visible(message)  # a spinner parses its text without the console's check
        if self._status is None:
            self._status = self.progress.status(message, spinner="dots")
            self._status.start()
        else:
            self._status.update(message)

    @property
    def _cost(self) -> float:
        return sum(self._costs.values())

    def reset(self) -> None:
        """Forget the costs shown so far: a new goal starts at $0."""
        self._costs.clear()
        self._streamed = False

    def pause(self) -> None:
        """Stop the spinner (before asking the person something, or printing)."""
        if self._status is not None:
            self._status.stop()
            self._status = None

    def _flush_text(self, final: bool = False) -> None:
        if self._line and (final or "\n" in self._line):
            head, _, tail = self._line.rpartition("\n") if not final else (self._line, "", "")
            if not self.quiet and head.strip():
                self.progress.print(escape(head), style="default")
            self._line = tail

    def __call__(self, event: Event) -> None:
        match event:
            case ModeChosen():
                self._mode_chosen(event)
            case TextStreamed(text=text):
                self._streamed = True
                self._line += text
                self._flush_text()
            case ToolCallStarted(tool=tool, input=tool_input, call_id=call_id, replay=replay):
                self._flush_text(final=True)
                what = summarize_input(tool, tool_input)
                self._calls[call_id] = f"{tool} {what}".strip()
                self._spin(f"{'replaying' if replay else 'running'} {escape(self._calls[call_id])}")
            case ToolCallFinished():
                self._tool_finished(event)
            case UsageUpdated(task_id=task_id, total_cost_usd=total):
                self._costs[task_id] = total  # subtasks of an orchestration add up
                self._spin(f"thinking · ${self._cost:.4f}")
            case HookDecided(decision=decision, hook=hook, reason=reason, event=hook_event) if (
                decision != "allow" and not (hook_event == "PreToolUse" and decision == "deny")
            ):  # a denied tool call is shown with its result
                if not self.quiet or decision == "ask-denied":
                    self.pause()
                    why = f" ({escape(self.ask_note)})" if decision == "ask-denied" else ""
                    self.err.print(
                        f"  [yellow]⚠ {escape(hook)} hook: {decision}[/] {escape(reason)}{why}"
                    )
            case _ if isinstance(event, TOLD) and event.level == "warning":
                self.pause()
                self.err.print(f"  [yellow]{escape(event.message)}[/]")
            case TaskFinished():
                self._finished(event)
            case TaskFailed():
                self._failed(event)

    def _mode_chosen(self, event: ModeChosen) -> None:
        if self.quiet:
            return
        parts = [f"mode [bold]{event.mode}[/]"]
        if event.trace_id:
            parts.append(f"trace {event.trace_id}")
        if event.library == "starter":
            parts.append("from the starter library")
        if event.confidence is not None:
            parts.append(f"confidence {event.confidence:.2f}")
        if event.backend:
            parts.append(f"provider {event.backend}")
        if event.model:
            parts.append(f"model {escape(event.model)}")
        self.progress.print("  " + " · ".join(parts))
        self.progress.print(f"  [dim]{escape(event.reason)}[/]")
        self._spin("thinking")

    def _tool_finished(self, event: ToolCallFinished) -> None:
        label = escape(self._calls.pop(event.call_id, event.tool))
        if self.quiet:
            return
        self.pause()
        exit_note = f" (exit {event.exit_code})" if event.exit_code is not None else ""
        if event.is_error:
            first = (
                escape(event.output.strip().splitlines()[0][:160]) if event.output.strip() else ""
            )
            self.progress.print(f"  ▸ {label}  [red]✗{exit_note}[/] [dim]{first}[/]")
        else:
            self.progress.print(f"  ▸ {label}  [green]✓{exit_note}[/]")
        self._spin(f"thinking · ${self._cost:.4f}")

    def _finished(self, event: TaskFinished) -> None:
        self.pause()
        self._flush_text(final=True)
        shown = self.quiet or not self._streamed or not self._answer_seen
        if event.text and self.console is not None and shown:
            self.console.print(escape(event.text))
        self._streamed = False
        if self.quiet:
            return
        saved = f" · saved ${event.saved_usd:.3f}" if event.saved_usd else ""
        trace = f" · trace {event.trace_id}" if event.trace_id else ""
        if event.library == "starter":
            trace += " (starter library)"
        head = "[green]done[/]" if event.success else "[yellow]finished, unverified[/]"
        self.progress.print(
            f"  {head} in {event.duration_s:.2f} s · {event.mode} · "
            f"${event.cost_usd:.4f}{saved}{trace}"
        )
        if event.note and not event.success and self.explain:
            self.progress.print(f"  [dim]{escape(event.note)}[/]")

    @property
    def _answer_seen(self) -> bool:
        """Whether streamed text reached where the answer goes (one console, or one terminal)."""
        if self.console is None:
            return False
        return self.progress is self.console or (
            self.console.is_terminal and self.progress.is_terminal
        )

    def _failed(self, event: TaskFailed) -> None:
        self.pause()
        self._flush_text(final=True)
        self._streamed = False
        head = f"  [red]failed[/] after {event.duration_s:.2f} s · ${event.cost_usd:.4f}"
        if self.explain:
            self.err.print(f"{head}: {escape(event.error)}")
        elif not self.quiet:
            self.progress.print(head)


def result_json(result: TaskResult) -> dict[str, Any]:
    """``--output-format json``: the one object printed for a finished run.

    ``result`` is the answer; ``outcome`` is ``success``, ``unverified`` or
    ``failed`` (``kind`` and ``message`` say why); ``mode`` is how it ran
    (``follower``, ``learner`` …); costs are in dollars, ``duration_s`` in
    seconds. README's "Output formats" shows it.
    """
    outcome = result.outcome
    return {
        "type": "result",
        "result": result.text,
        "outcome": outcome.status.value,
        "success": result.success,
        "kind": outcome.kind.value if outcome.kind else None,
        "message": outcome.message,
        "mode": result.mode,
        "trace_id": result.trace_id,
        "task_id": result.task_id,
        "goal": result.goal,
        "cost_usd": result.cost_usd,
        "saved_usd": result.saved_usd,
        "duration_s": round(result.duration_s, 3),
        "error_type": result.error_type,
    }


def outcome_line(result: TaskResult, *, embedded: bool = False) -> str:
    """The one line that says how a task ended and what to try (stderr, the shell)."""
    outcome = result.outcome
    trace = f" (trace {result.trace_id})" if result.trace_id else ""
    if outcome.ok:
        return ""
    if not outcome.is_failed:
        promote = (
            f"; if it did the job, `llmos traces promote {result.trace_id}` makes it replayable"
            if result.trace_id
            else ""
        )
        return f"unverified: {outcome.message}{trace}{promote}"
    kind = outcome.kind.value if outcome.kind else "error"
    if embedded and outcome.kind not in (FailureKind.BUDGET, FailureKind.NO_MATCH):
        return (
            f"error: the embedded model could not do this task ({kind}): {outcome.message}"
            f"{trace}; use a real model: set ANTHROPIC_API_KEY, or --provider openai "
            "--base-url URL for a local server (Ollama, vLLM), or --model PATH.gguf"
        )
    return f"error: the task failed ({kind}): {outcome.message}{trace}; {hint(outcome.kind)}"


def report_outcome(console: Console, result: TaskResult, settings: Settings) -> None:
    """Print :func:`outcome_line` on ``console`` (stderr) unless the task succeeded."""
    embedded = select_provider(settings)[0] == "local"
    line = outcome_line(result, embedded=embedded)
    if line:
        style = "red" if result.failed else "yellow"
        head, _, rest = line.partition(":")
        console.print(f"[{style}]{escape(head)}:[/]{escape(rest)}", soft_wrap=True)


def report_untrusted(err: Console, result: MatchResult) -> None:
    """One line on stderr per trace passed over because its seal does not check."""
    for item in result.untrusted:
        err.print(f"[yellow]warning:[/] {escape(item.message())}", soft_wrap=True)


def print_match(console: Console, result: MatchResult) -> None:
    """A match decision for people (``run --dry-run``, ``traces match``)."""
    colour = {"follow": "green", "guide": "yellow", "learn": "cyan"}[result.decision]
    console.print(f"[bold]{escape(result.goal)}[/]")
    trace = f" · trace {result.trace.id}" if result.trace else ""
    console.print(f"  [{colour}]{result.decision}[/]{trace} · confidence {result.confidence:.2f}")
    console.print(f"  [dim]{escape(result.reason)}[/]")
    for name, value in result.bindings.items():
        console.print(f"  {name} = {escape(value)}")
    for step in result.steps:
        console.print(f"  ▸ {step.tool} {escape(summarize_input(step.tool, step.input))}")
