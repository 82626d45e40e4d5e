"""Hook pipeline per call and a followed ``llmos run``, for the tree on ``PYTHONPATH``.

Run it once per tree, alternating, to compare two commits on one machine::

    PYTHONPATH=/old/src:/old python bench/compare_trees.py 3000
    PYTHONPATH=/new/src:/new python bench/compare_trees.py 3000
"""

import json
import sys

import bench.overheads as overheads

overheads._llmos_command = lambda: [sys.executable, "-m", "llmos"]
hooks = overheads.hooks_overhead(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
cli = overheads.cli_startup(7)
print(json.dumps({"hooks": hooks, "cli": cli}))
