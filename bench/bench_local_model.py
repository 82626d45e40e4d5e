"""Benchmark the embedded local model: load time, token rates, one tool-call turn.

Run with ``python bench/bench_local_model.py [--model PATH.gguf] [--threads N]``.
Prints a table and writes the figures to ``bench/results_local.json``.

Token rates come from the engine's own timings (prompt processing over a
prompt the KV cache has not seen; generation over free text). The tool-call
turn is timed end to end through :class:`LocalBackend`, schema constraint included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
import uuid
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from llmos.backends.base import BackendRequest, ToolCallReady, TurnFinished
from llmos.backends.local import LocalBackend, engine_cache
from llmos.messages import UserMessage
from llmos.tools.base import ToolSpec

RESULTS = Path(__file__).with_name("results_local.json")
WRITE = ToolSpec(
    name="Write",
    description="Writes a file to the local filesystem.",
    input_schema={
        "type": "object",
        "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["file_path", "content"],
    },
)
SYSTEM = "You are an agent working in a directory. Use the tools to do the work."
FILLER = "The kernel replays recorded traces so that a task learned once runs again for free. "


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default=None, help="a GGUF file (default: embedded SmolLM2)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: half)")
    parser.add_argument("--repeats", type=int, default=3)
    return parser.parse_args()


def engine_timings(engine: Any, body: dict[str, Any]) -> dict[str, float]:
    reply = engine.handle_chat_completions({**body, "temperature": 0.3, "seed": 7})
    if "timings" not in reply:
        raise SystemExit(f"the engine returned no timings: {reply}")
    return reply["timings"]


def prompt_rate(engine: Any) -> dict[str, float]:
    """Prompt processing over about 500 fresh tokens (a unique prefix defeats the cache)."""
    prompt = f"{uuid.uuid4()} " + FILLER * 30 + "\nSummarise this in one word."
    timings = engine_timings(
        engine, {"messages": [{"role": "user", "content": prompt}], "max_tokens": 1}
    )
    return {"tokens": timings["prompt_n"], "per_second": timings["prompt_per_second"]}


def generation_rate(engine: Any) -> dict[str, float]:
    timings = engine_timings(
        engine,
        {
            "messages": [{"role": "user", "content": f"{uuid.uuid4()} Tell a long story."}],
            "max_tokens": 128,
        },
    )
    return {"tokens": timings["predicted_n"], "per_second": timings["predicted_per_second"]}


async def tool_call_turn(backend: LocalBackend) -> dict[str, float]:
    request = BackendRequest(
        system=SYSTEM,
        messages=[UserMessage(content="Create a file hello.txt that says hello")],
        tools=[WRITE],
        max_tokens=256,
    )
    started = time.perf_counter()
    calls = 0
    finished: TurnFinished | None = None
    async for event in backend.stream(request):
        if isinstance(event, ToolCallReady):
            calls += 1
        elif isinstance(event, TurnFinished):
            finished = event
    seconds = time.perf_counter() - started
    assert finished is not None
    return {
        "seconds": seconds,
        "tool_calls": calls,
        "prompt_tokens": finished.usage.input_tokens + finished.usage.cache_read_tokens,
        "output_tokens": finished.usage.output_tokens,
    }


async def main() -> None:
    args = parse_args()
    backend = LocalBackend(args.model, n_threads=args.threads)
    started = time.perf_counter()
    await backend.load()
    load_s = time.perf_counter() - started
    engine = engine_cache.get(backend.engine_key)

    prompts = [prompt_rate(engine) for _ in range(args.repeats)]
    generations = [generation_rate(engine) for _ in range(args.repeats)]
    turns = [await tool_call_turn(backend) for _ in range(args.repeats)]

    results = {
        "model": backend.model,
        "model_file_mb": round(backend.model_path.stat().st_size / 2**20, 1),
        "xllamacpp": version("xllamacpp"),
        "threads": backend.engine_key.n_threads,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "repeats": args.repeats,
        "load_s": round(load_s, 3),
        "prompt_tokens": prompts[0]["tokens"],
        "prompt_tokens_per_s": round(statistics.median(p["per_second"] for p in prompts), 1),
        "generation_tokens_per_s": round(
            statistics.median(g["per_second"] for g in generations), 1
        ),
        "tool_call_turn_s": round(statistics.median(t["seconds"] for t in turns), 3),
        "tool_call_turns_with_a_call": sum(t["tool_calls"] == 1 for t in turns),
        "tool_call_turn_output_tokens": statistics.median(t["output_tokens"] for t in turns),
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)


def print_table(results: dict[str, Any]) -> None:
    rows = [
        ("model", f"{results['model']} ({results['model_file_mb']} MB)"),
        ("engine", f"xllamacpp {results['xllamacpp']}, threads {results['threads']}"),
        ("load time", f"{results['load_s']:.2f} s"),
        (
            "prompt processing",
            f"{results['prompt_tokens_per_s']:.0f} tokens/s ({results['prompt_tokens']} tokens)",
        ),
        ("generation", f"{results['generation_tokens_per_s']:.0f} tokens/s"),
        (
            "constrained tool-call turn",
            f"{results['tool_call_turn_s']:.2f} s "
            f"({results['tool_call_turns_with_a_call']}/{results['repeats']} gave a call, "
            f"{results['tool_call_turn_output_tokens']:.0f} output tokens)",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    asyncio.run(main())
