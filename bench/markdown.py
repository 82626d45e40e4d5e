"""Render ``bench/results.json`` into ``BENCHMARKS.md``: figures, what each means, the machine.

    python -m bench.markdown [RESULTS] [BENCHMARKS.md]

Only the part between the ``bench:start`` and ``bench:end`` markers is
replaced, so sections written by hand (or by other suites) stay.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.report import RESULTS

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"

Row = tuple[str, Callable[[Mapping[str, Any]], Any], str]


def _get(*keys: str) -> Callable[[Mapping[str, Any]], Any]:
    def read(results: Mapping[str, Any]) -> Any:
        value: Any = results
        for key in keys:
            value = value[key]
        return value

    return read


def _sizes(figure: str, unit: str) -> Callable[[Mapping[str, Any]], str]:
    def read(results: Mapping[str, Any]) -> str:
        return " / ".join(f"{value} {unit}" for value in results["lookup"][figure].values())

    return read


def _shares(results: Mapping[str, Any]) -> str:
    shares = results["workload"]["share_pct"]
    return ", ".join(
        f"{mode} {shares.get(mode, 0)}%" for mode in ("follower", "guided", "healed", "learner")
    )


def _success_by_mode(results: Mapping[str, Any]) -> str:
    rows = results["workload"]["success_pct_by_mode"]
    return ", ".join(f"{mode} {value}%" for mode, value in sorted(rows.items()))


def _judged(results: Mapping[str, Any]) -> str:
    counts = results["workload"].get("judged", {})
    return ", ".join(f"{status} {count}" for status, count in sorted(counts.items())) or "–"


def _kinds(results: Mapping[str, Any]) -> str:
    kinds = results["workload"]["kinds"]
    return ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))


SECTIONS: dict[str, list[Row]] = {
    "Savings on a realistic workload": [
        (
            "tasks",
            _get("workload", "tasks"),
            "tasks in the sequence, from the task families in bench/data/families.yaml",
        ),
        (
            "task kinds",
            _kinds,
            "first sight of a family (novel), repeats, slot variants, paraphrases, near misses",
        ),
        (
            "cost, always-Learner",
            lambda r: f"${r['workload']['cost_learner_usd']:.2f}",
            "every task learned by the model, priced as claude-sonnet-4-5",
        ),
        (
            "cost, llmos auto",
            lambda r: f"${r['workload']['cost_auto_usd']:.2f}",
            "the same tasks with memory: follow, guide, heal or learn",
        ),
        (
            "**cost reduction**",
            lambda r: f"**{r['workload']['cost_reduction_pct']}%**",
            "1 − auto / always-Learner; published anchor (agentic plan caching): ~50%",
        ),
        ("served by mode", _shares, "share of tasks each mode served in the auto run"),
        (
            "**false follows**",
            _get("workload", "false_follows"),
            "replays that failed their check or replayed another job's trace (must be 0)",
        ),
        (
            "task success, auto",
            lambda r: f"{r['workload']['success_pct']}%",
            "tasks whose files match their reference run",
        ),
        (
            "task success, judged by llmos",
            lambda r: f"{r['workload'].get('judged_success_pct', '–')}% ({_judged(r)})",
            "tasks llmos itself reported as success (acceptance check + judge), auto run",
        ),
        (
            "**judged success, not done**",
            lambda r: f"**{r['workload'].get('judged_success_not_done', '–')}**",
            "tasks reported as success whose files do not match the reference (must be 0)",
        ),
        (
            "task success, always-Learner",
            lambda r: f"{r['workload']['success_learner_pct']}%",
            "the same check on the learn-everything run (the optimum here)",
        ),
        (
            "quality vs optimum",
            lambda r: f"{r['workload']['quality_pct_of_learner']}%",
            "auto success / always-Learner success; published anchor: ~97%",
        ),
        ("success by mode (auto)", _success_by_mode, "task success among the tasks each mode ran"),
        (
            "model turns",
            lambda r: (
                f"{r['workload']['model_turns_learner']} → {r['workload']['model_turns_auto']}"
            ),
            "model calls, always-Learner → auto",
        ),
        (
            "wall time",
            lambda r: f"{r['workload']['wall_s_learner']} s → {r['workload']['wall_s_auto']} s",
            "whole sequence, always-Learner → auto, with the simulated per-turn latency below",
        ),
        (
            "simulated latency per model turn",
            lambda r: f"{r['workload']['simulated_turn_latency_s']} s",
            "real models take seconds a turn; wall times above are therefore a floor",
        ),
    ],
    "Replay versus learning (embedded local model)": [
        (
            "learn, in-process",
            lambda r: f"{r['replay']['learn_s']} s",
            "first run of the goal on the embedded model (model load included), Python API",
        ),
        (
            "follow, in-process",
            lambda r: f"{r['replay']['follow_ms']} ms",
            "the same goal again, replayed by the Follower (median)",
        ),
        (
            "**speed-up**",
            lambda r: f"**{r['replay']['speedup']}×**",
            "learn time / follow time (issue 4 asks ≥ 100×)",
        ),
        (
            "cost learn / follow",
            lambda r: f"${r['replay']['learn_cost_usd']} / ${r['replay']['follow_cost_usd']}",
            "the local model is free; a follow is free with any model",
        ),
        (
            "model succeeded",
            lambda r: (
                f"{r['replay']['learn_success']} "
                f"(hello.txt made: {r['replay']['learn_made_hello_txt']})"
            ),
            "whether the 135M model did the task; its trace is replayed either way",
        ),
        (
            "CLI learn",
            lambda r: f"{r['replay']['cli_learn_ms'] / 1000:.1f} s",
            "`python -m llmos run` end to end on a fresh workspace",
        ),
        (
            "CLI follow",
            lambda r: f"{r['replay']['cli_follow']['median_ms']} ms",
            "the same command again (median), interpreter start-up included",
        ),
    ],
    "Lookup at scale (1k / 10k / 100k traces)": [
        (
            "match p50",
            _sizes("p50_ms", "ms"),
            "median time to match a goal (target < 5 ms at 100k)",
        ),
        ("match p99", _sizes("p99_ms", "ms"), "99th percentile match time"),
        ("index build", _sizes("build_s", "s"), "indexing every trace in one transaction"),
        (
            "memory growth",
            _sizes("rss_growth_mb", "MB"),
            "peak resident memory added by building and querying the library (includes the "
            "synthetic Trace objects the generator holds)",
        ),
    ],
    "Kernel overheads": [
        (
            "hook pipeline",
            lambda r: f"{r['hooks']['overhead_us_per_call']} µs/call",
            "built-in hooks (security first) vs an empty pipeline, per tool call",
        ),
        (
            "bus throughput",
            lambda r: ", ".join(
                f"{v:,} ev/s ({k.split('_')[3]} subs)"
                for k, v in sorted(r["bus"].items(), key=lambda kv: int(kv[0].split("_")[3]))
            ),
            "events published per second to N subscribers",
        ),
        (
            "security, cold",
            lambda r: f"{r['security']['decisions_per_s_cold']:,}/s",
            "judge_command decisions over both corpora, parse cache cleared each time",
        ),
        (
            "security, cached",
            lambda r: f"{r['security']['decisions_per_s_cached']:,}/s",
            "the same lines again (agents repeat themselves)",
        ),
        (
            "`llmos --version`",
            lambda r: f"{r['cli']['startup_ms']} ms",
            "CLI start-up to first output (median)",
        ),
        (
            "followed `llmos run`",
            lambda r: (
                f"{r['cli']['followed_run_first_output']['median_ms']} ms to first output, "
                f"{r['cli']['followed_run_total']['median_ms']} ms total"
            ),
            "a run that replays a trace, end to end (median)",
        ),
        (
            "start-up against `python -c pass`",
            lambda r: (
                f"`--version` {r['startup']['ratio']['version']}x, "
                f"followed run {r['startup']['ratio']['followed_run']}x "
                f"({r['startup']['median_ms']['python']} / {r['startup']['median_ms']['version']}"
                f" / {r['startup']['median_ms']['followed_run']} ms)"
            ),
            "`python bench/startup.py`: the three interleaved in one run, median wall time; "
            "targets 10x and 25x",
        ),
    ],
    "Backends": [
        (
            "local model load",
            lambda r: f"{r['backends']['local']['load_s']} s",
            "embedded model file loaded and ready",
        ),
        (
            "local prompt rate",
            lambda r: f"{r['backends']['local']['prompt_tokens_per_s']} tok/s",
            "prompt processing",
        ),
        (
            "local generation",
            lambda r: f"{r['backends']['local']['generation_tokens_per_s']} tok/s",
            "token generation",
        ),
        (
            "local tool-call turn",
            lambda r: f"{r['backends']['local']['tool_call_turn_s']} s",
            "one constrained tool-call turn through LocalBackend",
        ),
        (
            "claude-sdk cold start",
            lambda r: f"{r['backends']['claude_sdk']['cold_first_task_s']} s",
            "first task on a new backend (starts the Claude Code CLI)",
        ),
        (
            "claude-sdk warm client",
            lambda r: f"{r['backends']['claude_sdk']['warm_second_task_s']} s",
            "second task on the running CLI",
        ),
    ],
    "Goal set (`tests/data/goals_dev.jsonl`)": [
        (
            "should-follow probes that follow",
            lambda r: (
                f"{r['goals']['goals_dev']['should_follow']} "
                f"({r['goals']['goals_dev']['should_follow_share_pct']}%)"
            ),
            "paraphrases served by the right trace",
        ),
        (
            "must-follow missed / must-not-follow followed",
            lambda r: (
                f"{r['goals']['goals_dev']['must_follow_missed']} / "
                f"{r['goals']['goals_dev']['must_not_follow_followed']}"
            ),
            "both must be 0",
        ),
    ],
    "Orchestration": [
        (
            "speed-up",
            lambda r: f"{r['orchestration']['speedup']}×",
            "parallel vs sequential run of the same plan",
        ),
        (
            "plan",
            lambda r: (
                f"{r['orchestration']['subtasks']} independent subtasks, "
                f"{r['orchestration']['model_latency_s']} s per model call"
            ),
            "scripted backend with simulated latency",
        ),
        (
            "sequential / parallel",
            lambda r: (
                f"{r['orchestration']['sequential_s']} s / {r['orchestration']['parallel_s']} s"
            ),
            "wall time of the whole orchestration",
        ),
    ],
}


def render(results: Mapping[str, Any]) -> str:
    """The generated block: the machine, the command, then one table per part."""
    machine = results["machine"]
    runs = results.get("runs", {})
    sources = sorted({(run["command"], run["scale"]) for run in runs.values()})
    dates = sorted(run["date"] for run in runs.values())
    lines = [
        START,
        "",
        "Figures from "
        + "; ".join(f"`{command}` (scale: {scale})" for command, scale in sources)
        + (f", {dates[0]} to {dates[-1]}." if dates else "."),
        "",
        f"Machine: {machine['nproc']} CPUs ({machine['cpu']}), {machine['ram_gb']} GB RAM, "
        f"Python {machine['python']}, {machine['os']}.",
        "",
    ]
    for title, rows in SECTIONS.items():
        table = []
        for label, read, meaning in rows:
            try:
                value = read(results)
            except KeyError:
                continue
            table.append(f"| {label} | {value} | {meaning} |")
        if table:
            lines += [
                f"### {title}",
                "",
                "| Figure | Value | What it means |",
                "|---|---|---|",
                *table,
                "",
            ]
    cases = results.get("workload", {}).get("false_follow_cases")
    if cases:
        lines += [
            "False follows in this run (task, its goal, the trace it replayed, what the "
            "check found):",
            "",
            *(f"- {case}" for case in cases),
            "",
        ]
    lines.append(END)
    return "\n".join(lines)


def write(results_path: Path = RESULTS, target: Path = BENCHMARKS) -> None:
    """Replace the generated block of ``target`` (create the file if needed)."""
    block = render(json.loads(results_path.read_text(encoding="utf-8")))
    text = target.read_text(encoding="utf-8") if target.is_file() else f"{START}\n{END}\n"
    if START not in text or END not in text:
        text = f"{text.rstrip()}\n\n{START}\n{END}\n"
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    target.write_text(before + block + after, encoding="utf-8")


if __name__ == "__main__":
    args = [Path(arg) for arg in sys.argv[1:]]
    write(*args)
