"""Start llmos from a checkout: `python boot.py interactive` or `python boot.py "GOAL"`.

Any other first word that is an llmos command (`traces`, `budget` …) is passed
through, so `python boot.py traces list` works too.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from llmos.cli.app import app, main


def translate(argv: list[str]) -> list[str]:
    if not argv:
        return ["shell"]
    if argv[0] in ("interactive", "shell"):
        return ["shell", *argv[1:]]
    commands = {command.name for command in app.registered_commands}
    commands |= {group.name for group in app.registered_groups}
    if argv[0] in commands or argv[0] in ("--version", "--help", "-h", "--debug"):
        return argv
    return ["run", *argv]


if __name__ == "__main__":
    sys.exit(main(translate(sys.argv[1:])))
