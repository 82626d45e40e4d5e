"""A minimal interactive prompt; every line is a goal, slash commands steer."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.markup import escape

from llmos.api import LLMOS
from llmos.cli.render import HumanRenderer
from llmos.config import MODES, Settings
from llmos.errors import LLMOSError

HELP = """\
Type a goal to run it. Commands:
  /mode auto|learner|follower               how goals run
  /help                                      this text
  /exit                                      leave (or Ctrl-D)"""


def run_shell(settings: Settings, console: Console) -> int:
    return asyncio.run(_loop(settings, console))


async def _loop(settings: Settings, console: Console) -> int:
    mode = settings.mode
    console.print(f"llmos shell · workspace {escape(str(settings.workspace))} · /help for help")
    async with LLMOS(settings=settings) as llmos:
        llmos.subscribe(HumanRenderer(console))
        while True:
            try:
                line = await asyncio.to_thread(input, "llmos> ")
            except EOFError:
                console.print()
                return 0
            except KeyboardInterrupt:
                console.print()
                continue
            line = line.strip()
            if not line:
                continue
            if line in ("/exit", "/quit"):
                return 0
            if line == "/help":
                console.print(HELP)
                continue
            if line.startswith("/mode"):
                wanted = line.removeprefix("/mode").strip()
                if wanted in MODES:
                    mode = wanted
                    console.print(f"mode {mode}")
                else:
                    console.print(f"[red]error:[/] /mode takes one of {', '.join(MODES)}")
                continue
            if line.startswith("/"):
                console.print(
                    f"[red]error:[/] unknown command {escape(line.split()[0])}; /help lists them"
                )
                continue
            try:
                await llmos.execute(line, mode=mode)
            except LLMOSError as exc:
                console.print(f"[red]error:[/] {escape(str(exc))}")
