"""Start llmos from a checkout: `python boot.py interactive` or `python boot.py "GOAL"`.

With no argument it opens the shell; anything else is the `llmos` command line
(`python boot.py traces list`, `python boot.py "Create hello.txt"`).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from llmos.cli.app import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["shell"]))
