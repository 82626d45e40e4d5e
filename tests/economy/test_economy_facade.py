"""The façade for programs that embed llmos: ``from llmos import TokenEconomy`` (issue 16).

``check_budget`` answers with a status that is falsy when refused; ``deduct``
records a charge in the same SQLite ledger the runs use, so every process on
the workspace, and ``llmos budget``, sees it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmos import TokenEconomy

#: One process: wait for the go file, then deduct $0.01 ``n`` times.
WORKER = """
import sys, time
from pathlib import Path
from llmos import TokenEconomy
workspace, go, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
economy = TokenEconomy(budget_usd=10.0, workspace=workspace)
while not go.exists():
    time.sleep(0.01)
for i in range(n):
    economy.deduct(0.01, f"worker {sys.argv[4]} step {i}")
"""


def test_check_budget_is_falsy_when_refused_and_deduct_is_charged(tmp_path: Path) -> None:
    economy = TokenEconomy(budget_usd=10.0, workspace=tmp_path)
    status = economy.check_budget(0.50)
    assert status and status.ok and status.reason == ""
    assert status.remaining == pytest.approx(10.0)

    assert economy.deduct(0.45, "Learn: Create script") == pytest.approx(0.45)
    assert economy.check_budget(0.0).remaining == pytest.approx(9.55)
    refused = economy.check_budget(9.60)
    assert not refused
    assert refused.remaining == pytest.approx(9.55)
    assert "budget: $9.55 left" in refused.reason and "needs about $9.60" in refused.reason
    report = economy.report()
    assert report.spent_usd == pytest.approx(0.45) and report.calls == 1
    assert [(g.key, g.spent_usd) for g in report.by_mode] == [("external", pytest.approx(0.45))]
    assert (tmp_path / "ledger.sqlite").is_file()


def test_the_default_ledger_is_the_usual_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMOS_WORKSPACE", str(tmp_path / "ws"))
    TokenEconomy().deduct(0.25, "elsewhere")
    assert TokenEconomy(workspace=tmp_path / "ws").report().spent_usd == pytest.approx(0.25)


def test_two_processes_share_one_ledger_and_llmos_budget_shows_it(tmp_path: Path) -> None:
    workspace, go = tmp_path / "ws", tmp_path / "go"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOS_")}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(workspace), str(go), "20", str(n)], env=env
        )
        for n in (1, 2)
    ]
    go.touch()
    assert [w.wait(timeout=120) for w in workers] == [0, 0]

    economy = TokenEconomy(budget_usd=10.0, workspace=workspace)
    assert economy.report().calls == 40
    assert economy.check_budget(0.0).remaining == pytest.approx(10.0 - 0.40)
    economy.deduct(0.45, "Learn: Create script")

    shown = subprocess.run(
        [sys.executable, "-m", "llmos", "budget", "--json"],
        env=env | {"LLMOS_WORKSPACE": str(workspace)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["spent_usd"] == pytest.approx(0.85)
    assert report["calls"] == 41
    (external,) = [g for g in report["by_mode"] if g["key"] == "external"]
    assert external["spent_usd"] == pytest.approx(0.85)
