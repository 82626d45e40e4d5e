"""A stand-in for the Claude Code CLI that goes quiet, for the claude-sdk backend's time-outs.

The real CLI is driven over stream-json on stdin/stdout: the SDK sends a
``control_request`` (``initialize``) and waits for its ``control_response``,
then sends user messages and reads the answers. This fake speaks just enough
of that protocol to hang at a chosen point, as a broken or stuck CLI would:

- ``silent``: reads everything and never writes (a CLI stuck at start-up);
- ``mute``: answers ``initialize``, then never answers a user message.

It is given to the SDK as ``cli_path`` through :func:`write_fake_cli`, which
writes an executable wrapper (the SDK runs ``cli_path ARGS…``).

Example:
    cli = write_fake_cli(tmp_path, "mute")
    backend = ClaudeSDKBackend(options={"cli_path": str(cli)}, connect_timeout=2)
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Literal

Mode = Literal["silent", "mute"]
MODE_ENV = "FAKE_CLAUDE_CLI_MODE"


def write_fake_cli(folder: Path, mode: Mode) -> Path:
    """An executable in ``folder`` that runs this fake in ``mode`` with this Python."""
    path = folder / f"fake-claude-{mode}"
    command = shlex.join([sys.executable, "-m", "llmos.testing.fake_claude_cli"])
    path.write_text(f'#!/bin/sh\n{MODE_ENV}={mode} exec {command} "$@"\n', encoding="utf-8")
    path.chmod(0o755)
    return path


def _answer_initialize(request: dict[str, object]) -> None:
    response = {
        "type": "control_response",
        "response": {
            "subtype": "success",
            "request_id": request.get("request_id"),
            "response": {"commands": [], "models": [], "hook_on_failure_supported": True},
        },
    }
    sys.stdout.write(json.dumps(response) + "\n")
    sys.stdout.flush()


def main() -> int:
    """Read stream-json from stdin until it closes; answer only what the mode allows."""
    mode = os.environ.get(MODE_ENV, "silent")
    for line in sys.stdin:
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        request = message.get("request") if isinstance(message, dict) else None
        if mode == "mute" and isinstance(request, dict) and request.get("subtype") == "initialize":
            _answer_initialize(message)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
