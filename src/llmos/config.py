"""Settings: ``llmos.toml`` in the llmos home, then a project's ``.llmos/llmos.toml``,
then ``LLMOS_*`` variables, then flags.

Each layer overrides the one before it, table by table (pydantic-settings
merges and validates them; each layer is a source of its own). Nested keys are spelled with a dot in
the file (``[tools] bash_timeout = 60``) and with a double underscore in the
environment (``LLMOS_TOOLS__BASH_TIMEOUT=60``). Every value is validated, and
an unknown or bad key is a :class:`~llmos.errors.ConfigError` that names it and
where it came from.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from llmos.errors import ConfigError
from llmos.events import REQUESTED_MODES, RequestedMode
from llmos.workspace import PROJECT_DIR

CONFIG_FILE = "llmos.toml"
ENV_PREFIX = "LLMOS_"
#: LLMOS_* variables that are not settings.
ENV_NOT_SETTINGS = frozenset(
    {"LLMOS_HOME", "LLMOS_WORKSPACE", "LLMOS_API_TOKEN", "LLMOS_DEBUG", "LLMOS_NO_BWRAP"}
)
#: What a project's ``llmos.toml`` may not set: a cloned repository must not be able
#: to run programs (MCP servers, Claude's settings), loosen the sandbox, pass more of
#: the environment on, reprice models or switch off built-in hooks for whoever works
#: in it. These belong to the user's own ``llmos.toml``.
PROJECT_FORBIDDEN = (
    "mcp",
    "hooks",
    "claude",
    "prices",
    "tools.sandbox",
    "tools.sandbox_network",
    "tools.sandbox_network_replay",
    "tools.require_sandbox",
    "tools.env",
    "tools.webfetch_allow",
)

Provider = Literal["claude-sdk", "anthropic", "openai", "ollama", "local", "scripted"]
PROVIDERS: tuple[Provider, ...] = get_args(Provider)
MODES: tuple[RequestedMode, ...] = REQUESTED_MODES

#: The largest amount of money a setting may hold. The ledger keeps integer
#: nanodollars in SQLite's 64-bit integers (at most ~9.2e9 dollars), so a larger
#: amount, ``inf`` or ``nan`` could not be booked: it is refused here, at the edge.
MAX_USD = 1_000_000_000.0
#: Dollars (a budget, a price per million tokens): finite, >= 0, bookable.
Dollars = Annotated[float, Field(ge=0, le=MAX_USD, allow_inf_nan=False)]


class _Section(BaseModel):
    # ``inf`` and ``nan`` are never a meaningful timeout, threshold or amount.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class EnvConfig(_Section):
    """The environment Bash and MCP servers get (``[tools.env]``, after Codex CLI's
    ``shell_environment_policy``)."""

    inherit: Literal["all", "core", "none"] = Field(
        "core", description="start from all variables, a core set (HOME, PATH …), or none"
    )
    ignore_default_excludes: bool = Field(
        False, description="keep names like *KEY*, *TOKEN*, *SECRET*, *PASSWORD*, AWS_*"
    )
    exclude: list[str] = Field(default_factory=list, description="more name globs to drop")
    set: dict[str, str] = Field(default_factory=dict, description="variables to add")
    include_only: list[str] = Field(
        default_factory=list, description="if given, keep only names matching these globs"
    )


class ToolsConfig(_Section):
    bash_timeout: float = Field(120.0, gt=0, description="seconds before a Bash call is killed")
    model_output_chars: int = Field(30_000, gt=0, description="tool output shown to the model")
    trace_output_chars: int = Field(1_000_000, gt=0, description="tool output kept in traces")
    read_max_lines: int = Field(2_000, gt=0, description="lines Read returns without a limit")
    webfetch_timeout: float = Field(30.0, gt=0, description="seconds a WebFetch GET may take")
    webfetch_allow: list[str] = Field(
        default_factory=list, description="domains WebFetch may GET (subdomains included)"
    )
    sandbox: bool = Field(True, description="run Bash inside bubblewrap when it is installed")
    sandbox_network: bool = Field(
        False, description="allow network inside the sandbox while learning"
    )
    sandbox_network_replay: bool = Field(
        False, description="allow network inside the sandbox when replaying a trace"
    )
    require_sandbox: bool = Field(
        False, description="refuse to run Bash where the sandbox cannot be used"
    )
    env: EnvConfig = Field(default_factory=EnvConfig)


class LearnerConfig(_Section):
    max_turns: int = Field(25, gt=0)
    max_tokens: int = Field(4096, gt=0, description="output tokens per model call")
    system_prompt: str = Field("", description="extra instructions appended to the built-in ones")


class FollowerConfig(_Section):
    follow_threshold: float = Field(0.9, ge=0, le=1)
    guide_threshold: float = Field(0.75, ge=0, le=1)
    max_failures: int = Field(3, ge=1, description="replay failures before a trace is retired")


class BudgetConfig(_Section):
    total_usd: Dollars | None = None
    per_task_usd: Dollars | None = None


class HooksConfig(_Section):
    disabled: list[str] = Field(default_factory=list, description="built-in hooks to switch off")


PermissionMode = Literal["default", "deny", "accept"]
PERMISSION_MODES: tuple[PermissionMode, ...] = get_args(PermissionMode)


class SecurityConfig(_Section):
    """What happens to a tool call the policy wants a person to approve (``[security]``)."""

    permission_mode: PermissionMode = Field(
        "default",
        description="default: ask on a terminal, deny elsewhere; deny: never ask; "
        "accept: approve what would be asked (denials stay denials)",
    )


class SchedulerConfig(_Section):
    concurrency: int = Field(4, ge=1, description="tasks that may run at once (daemon, server)")


class WatchdogConfig(_Section):
    """Limits after which a task is cancelled cleanly; leave one out (or null) for off."""

    task_timeout_s: float | None = Field(3600.0, gt=0, description="a task's wall-clock time")
    stall_s: float | None = Field(600.0, gt=0, description="no event from a task for this long")
    llm_call_timeout_s: float | None = Field(
        300.0, gt=0, description="a model call that streams nothing for this long"
    )
    tool_timeout_s: float | None = Field(
        None, gt=0, description="one tool call (Bash has tools.bash_timeout)"
    )
    llm_silence_notice_s: float | None = Field(
        15.0,
        gt=0,
        description="warn (on stderr), and again each time, when a model call "
        "has sent nothing for this long",
    )


class MemoryConfig(_Section):
    """Facts and insights (``[memory]`` table)."""

    insights: bool | None = Field(
        None, description="extract insights after a run (default: on, off for local/scripted)"
    )
    inject_max_tokens: int = Field(600, ge=0, description="bound on memory added to a prompt")


class LibraryConfig(_Section):
    """The trace library's scopes (``[library]`` table)."""

    starter: bool = Field(
        True, description="follow the starter library of verified traces shipped with llmos"
    )


class LocalConfig(_Section):
    """The embedded model (``[local]`` table)."""

    n_ctx: int = Field(4096, gt=0, description="context window in tokens")
    n_threads: int | None = Field(None, gt=0, description="CPU threads (default: half the cores)")


class ClaudeConfig(_Section):
    """Options passed to the Claude Agent SDK (``[claude]`` table)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    permission_mode: str = "acceptEdits"
    max_turns: int | None = None
    allowed_tools: list[str] | None = None
    cli_path: str | None = None
    env: dict[str, str] = Field(default_factory=dict)


#: A server name becomes part of tool names (``mcp__NAME__TOOL``), so it is kept plain.
SERVER_NAME = re.compile(r"^[A-Za-z0-9-]+(_[A-Za-z0-9-]+)*$")


class McpServerConfig(BaseModel):
    """One MCP server started with ``command args…`` and spoken to over stdio.

    Example (``llmos.toml``)::

        [mcp.servers.notes]
        command = "python"
        args = ["-m", "notes_server"]
        env = { NOTES_DIR = "/srv/notes" }
        replayable = true
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    command: str = Field(min_length=1, description="the program that runs the server")
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(
        default_factory=dict,
        description="variables added to the scrubbed environment of [tools.env] (no secrets)",
    )
    cwd: Path | None = Field(None, description="the server's working directory")
    replayable: bool = Field(
        True, description="false if its tools act outside the workspace (no Follower replay)"
    )
    startup_timeout: float = Field(30.0, gt=0, description="seconds to start and list tools")
    call_timeout: float = Field(120.0, gt=0, description="seconds one tool call may take")


class McpConfig(BaseModel):
    """The ``[mcp]`` table: servers by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    servers: dict[str, McpServerConfig] = Field(default_factory=dict)

    @field_validator("servers")
    @classmethod
    def _plain_names(cls, servers: dict[str, McpServerConfig]) -> dict[str, McpServerConfig]:
        for name in servers:
            if not SERVER_NAME.match(name):
                raise ValueError(
                    f"MCP server name {name!r} must be letters, digits, '-' and single '_' "
                    "(it becomes part of the tool names mcp__NAME__TOOL)"
                )
        return servers


class Settings(BaseSettings):
    """All of llmos's settings, validated; :func:`load_settings` reads them from their layers.

    Built directly (``Settings(model="m")``) it holds the given values and the
    defaults, without reading any file or variable.
    """

    model_config = SettingsConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    #: The state folder (the llmos home, or ``--workspace``): traces, ledger, config …
    workspace: Path = Path("workspace")
    #: Where tasks work: the folder the user is in, or ``--cwd``.
    cwd: Path = Field(default_factory=Path.cwd)
    #: The project folder (``.llmos/``) found upward from ``cwd``, if any.
    project_dir: Path | None = None
    provider: Provider | None = Field(None, description="None picks one (see `llmos providers`)")
    model: str | None = None
    base_url: str | None = None
    script: Path | None = Field(None, description="JSON script for the scripted provider")
    mode: RequestedMode = "auto"
    project: str | None = Field(None, description="project to work in (default: the current)")
    timeout: float = Field(600.0, gt=0, description="seconds an LLM call may take")
    connect_timeout: float = Field(
        8.0, gt=0, description="seconds to reach the model server (the Claude CLI: from its start)"
    )
    tools: ToolsConfig = Field(default_factory=ToolsConfig)
    learner: LearnerConfig = Field(default_factory=LearnerConfig)
    follower: FollowerConfig = Field(default_factory=FollowerConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    hooks: HooksConfig = Field(default_factory=HooksConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    prices: dict[str, dict[str, Dollars]] = Field(
        default_factory=dict,
        description='price overrides, dollars per million tokens: [prices."MODEL"] input = 3',
    )
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    library: LibraryConfig = Field(default_factory=LibraryConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    watchdog: WatchdogConfig = Field(default_factory=WatchdogConfig)
    local: LocalConfig = Field(default_factory=LocalConfig)
    claude: ClaudeConfig = Field(default_factory=ClaudeConfig)
    mcp: McpConfig = Field(default_factory=McpConfig)

    @field_validator("workspace", "cwd")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The given values, then the layers of :func:`load_settings` (none otherwise).

        pydantic-settings merges them table by table, highest first; its own
        environment source is not used: ours reads a given mapping, parses TOML
        lists and tables, and names unknown ``LLMOS_*`` variables.
        """
        layers = _LAYERS.get()
        if (seen := _SEEN.get()) is not None:
            seen.append(layers)
        return (init_settings, *layers)


class _Layer(PydanticBaseSettingsSource):
    """One layer's values, read and nested already, and what an error calls its source."""

    def __init__(self, values: dict[str, Any], where: Callable[[str], str]) -> None:
        super().__init__(Settings)
        self.values = values
        self.where = where

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self.values

    def holds(self, loc: tuple[Any, ...]) -> bool:
        """Whether this layer set the value at ``loc`` (or the table that holds it)."""
        return bool(loc) and _holds(self.values, [str(part) for part in loc])


#: The layers of the :func:`load_settings` call in progress, highest first.
_LAYERS: ContextVar[tuple[_Layer, ...]] = ContextVar("llmos_settings_layers", default=())
#: Where :func:`settings_with_sources` collects the layers a load used.
_SEEN: ContextVar[list[tuple[_Layer, ...]] | None] = ContextVar("llmos_seen_layers", default=None)


def _set_nested(target: dict[str, Any], dotted: list[str], value: Any) -> None:
    for part in dotted[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise ConfigError(f"{'.'.join(dotted)}: {part} is not a table", key=".".join(dotted))
    target[dotted[-1]] = value


def _file_layer(path: Path, *, forbidden: tuple[str, ...] = ()) -> _Layer:
    """The settings in ``path``; ``forbidden`` keys there are an error naming the key."""
    values: dict[str, Any] = {}
    try:
        text = path.read_text(encoding="utf-8") if path.is_file() else None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}", key=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", key=str(path)) from exc
    if text is not None:
        try:
            values = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}", key=str(path)) from exc
        for where in ("workspace", "cwd", "project_dir"):  # places are not settings of a file
            values.pop(where, None)
        for key in forbidden:
            if _holds(values, key.split(".")):
                raise ConfigError(
                    f"{path}: a project's settings may not set {key!r} (it would run or "
                    "loosen things for whoever works in this folder); set it in your own "
                    f"llmos.toml in the llmos home instead",
                    key=key,
                )
    return _Layer(values, lambda _top: str(path))


def _holds(values: Mapping[str, Any], dotted: list[str]) -> bool:
    node: Any = values
    for part in dotted:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _env_layer(env: Mapping[str, str]) -> _Layer:
    values: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name in ENV_NOT_SETTINGS:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        value: Any = raw
        if raw.startswith("[") or raw.startswith("{"):
            try:
                value = tomllib.loads(f"v = {raw}")["v"]
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{name}: not a valid list or table: {exc}", key=name) from exc
        _set_nested(values, path, value)
    return _Layer(values, lambda top: f"environment (LLMOS_{top.upper()}…)")


def _flag_layer(overrides: Mapping[str, Any]) -> _Layer:
    values: dict[str, Any] = {}
    for dotted, value in overrides.items():
        if value is not None:
            _set_nested(values, dotted.split("."), value)
    return _Layer(values, lambda _top: "command line")


def _config_error(exc: ValidationError, layers: tuple[_Layer, ...]) -> ConfigError:
    """The first problem, naming the key and the highest layer that set it."""
    first = exc.errors()[0]
    loc = tuple(first["loc"])
    key = ".".join(str(p) for p in loc)
    top = str(loc[0]) if loc else ""
    layer = next((x for x in layers if x.holds(loc)), None) or next(
        (x for x in layers if x.holds(loc[:1])), None
    )
    where = layer.where(top) if layer is not None else "settings"
    if first["type"] == "extra_forbidden":
        known = ", ".join(sorted(_known_keys(loc[:-1])))
        message = f"{where}: unknown setting {key!r}. Known here: {known}."
    else:
        message = f"{where}: {key}: {first['msg']} (got {first.get('input')!r})"
    return ConfigError(message, key=key)


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = Settings
    for part in loc:
        annotation = model.model_fields[str(part)].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def default_home(env: Mapping[str, str] | None = None) -> Path:
    """The llmos home: ``LLMOS_HOME``, else the platform's user data folder
    (``$XDG_DATA_HOME/llmos``, by default ``~/.local/share/llmos`` on Linux)."""
    env = os.environ if env is None else env
    if env.get("LLMOS_HOME"):
        return Path(env["LLMOS_HOME"]).expanduser().absolute()
    import platformdirs  # only here: most commands are given their folder

    return Path(platformdirs.user_data_dir("llmos", appauthor=False)).absolute()


def resolve_workspace(flag: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The state folder: ``--workspace``, else ``LLMOS_WORKSPACE``, else the llmos home."""
    env = os.environ if env is None else env
    chosen = flag or env.get("LLMOS_WORKSPACE")
    return Path(chosen).expanduser().absolute() if chosen else default_home(env)


def find_project_dir(cwd: Path, *, home: Path | None = None) -> Path | None:
    """The nearest ``.llmos/`` folder in ``cwd`` or above it, as ``git`` finds ``.git``
    (never ``home`` itself, should the llmos home be called ``.llmos``)."""
    for folder in (cwd, *cwd.parents):
        candidate = folder / PROJECT_DIR
        if candidate.is_dir() and candidate != home:
            return candidate
    return None


def current_directory(cwd: str | Path | None = None) -> Path:
    """``cwd`` (``--cwd``) or the folder the user is in, checked to be a folder."""
    try:
        here = Path(cwd).expanduser() if cwd is not None else Path.cwd()
    except FileNotFoundError as exc:
        raise ConfigError(
            "the current folder no longer exists; cd to an existing folder", key="cwd"
        ) from exc
    if not here.is_dir():
        what = "does not exist" if not here.exists() else "is not a folder"
        raise ConfigError(f"--cwd {here}: {what}", key="cwd")
    return here.absolute()


def load_settings(
    *,
    workspace: str | Path | None = None,
    cwd: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Read the layers and validate them.

    ``overrides`` holds flag values with dotted keys (``{"tools.bash_timeout": 5}``);
    ``None`` values are skipped so unset flags do not mask lower layers.
    """
    env = os.environ if env is None else env
    root = resolve_workspace(workspace, env)
    here = current_directory(cwd)
    project_dir = find_project_dir(here, home=root)
    layers = [_flag_layer(overrides or {}), _env_layer(env)]
    if project_dir is not None:
        layers.append(_file_layer(project_dir / CONFIG_FILE, forbidden=PROJECT_FORBIDDEN))
    layers.append(_file_layer(root / CONFIG_FILE))
    token = _LAYERS.set(tuple(layers))
    try:
        return Settings(workspace=root, cwd=here, project_dir=project_dir)
    except ValidationError as exc:
        raise _config_error(exc, tuple(layers)) from exc
    finally:
        _LAYERS.reset(token)


# ------------------------------------------------------------------ provenance


@dataclass(frozen=True, slots=True)
class SettingSource:
    """One effective setting, its value, and where it came from.

    ``source`` is ``default``, the config file's path, the environment
    variable's name (``LLMOS_TOOLS__BASH_TIMEOUT``) or ``command line``.
    """

    key: str
    value: Any
    source: str


#: Names whose values ``llmos config`` does not print (an env table may hold a token).
_SECRET = re.compile(r"KEY|TOKEN|SECRET|PASSWORD", re.IGNORECASE)


def settings_with_sources(
    *,
    workspace: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[Settings, list[SettingSource]]:
    """:func:`load_settings`, and for every setting the layer that set it (``llmos config``)."""
    env = os.environ if env is None else env
    seen: list[tuple[_Layer, ...]] = []
    token = _SEEN.set(seen)
    try:
        settings = load_settings(workspace=workspace, overrides=overrides, env=env)
    finally:
        _SEEN.reset(token)
    layers = seen[-1] if seen else ()
    rows = [
        SettingSource(
            ".".join(loc),
            _shown(loc, value),
            _place(loc, workspace, env) or _source(loc, layers, env),
        )
        for loc, value in _leaves(settings, ())
    ]
    return settings, rows


def _leaves(model: BaseModel, loc: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    found: list[tuple[tuple[str, ...], Any]] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            found.extend(_leaves(value, (*loc, name)))
        else:
            found.append(((*loc, name), value))
    return found


def _shown(loc: tuple[str, ...], value: Any) -> Any:
    """A JSON-ready value; a table's secret-looking entries are hidden."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {
            str(k): "***" if _SECRET.search(str(k)) else _shown((*loc, str(k)), v)
            for k, v in value.items()
        }
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_shown(loc, v) for v in value]
    return value


def _place(loc: tuple[str, ...], flag: str | Path | None, env: Mapping[str, str]) -> str | None:
    """Where the folders came from: they are not any layer's values (the layers are read
    from them)."""
    if loc == ("workspace",):
        if flag is not None:
            return "--workspace"
        if env.get("LLMOS_WORKSPACE"):
            return "LLMOS_WORKSPACE"
        return "LLMOS_HOME" if env.get("LLMOS_HOME") else "the platform's user data folder"
    if loc == ("cwd",):
        return "the current folder (or --cwd)"
    if loc == ("project_dir",):
        return "found upward from the current folder"
    return None


def _source(loc: tuple[str, ...], layers: tuple[_Layer, ...], env: Mapping[str, str]) -> str:
    """The highest layer that holds ``loc``, named for people (a variable by its name)."""
    for layer in layers:
        if not layer.holds(loc):
            continue
        where = layer.where(loc[0])
        if where.startswith("environment"):
            names = (ENV_PREFIX + "__".join(loc[:n]).upper() for n in range(len(loc), 0, -1))
            return next((name for name in names if name in env), where)
        return where
    return "default"
