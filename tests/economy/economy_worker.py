"""A separate llmos process spending from a shared ledger, for the concurrency tests.

python economy_worker.py spend LEDGER BUDGET SEED ROUNDS
    Reserve, spend the whole reservation in 1 to 3 charges, release; ROUNDS
    times. Prints one JSON line: what this process was charged.
python economy_worker.py drain LEDGER BUDGET SEED
    Reserve once, then charge small amounts forever (until killed),
    printing "charged" after each charge.
python economy_worker.py hold LEDGER BUDGET SEED
    Reserve, then stop in the middle of a charge's transaction (charge
    written, reservation not yet updated) and wait to be killed.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from llmos.economy import TokenEconomy
from llmos.economy.ledger import ChargeRow
from llmos.errors import BudgetExceeded
from llmos.messages import Usage

MODEL = "claude-sonnet-4-5"  # $15 per million output tokens
OUTPUT_PRICE = 15 / 1_000_000


def usage_costing(usd: float) -> Usage:
    """Output tokens worth at most ``usd`` on MODEL."""
    return Usage(output_tokens=int(usd / OUTPUT_PRICE))


def spend(economy: TokenEconomy, rng: random.Random, rounds: int) -> dict[str, int]:
    charged_nano = charges = refusals = 0
    for number in range(rounds):
        try:
            reservation = economy.reserve(
                f"w{rng.random():.6f}-{number}", rng.uniform(0.02, 0.06), mode="learner"
            )
        except BudgetExceeded:
            refusals += 1
            continue
        parts = rng.randint(1, 3)
        for _ in range(parts):
            usd = economy.charge(
                reservation, model=MODEL, usage=usage_costing(reservation.amount_usd / parts)
            )
            charged_nano += round(usd * 1_000_000_000)
            charges += 1
        economy.release(reservation)
    return {"charged_nano": charged_nano, "charges": charges, "refusals": refusals}


def drain(economy: TokenEconomy) -> None:
    reservation = economy.reserve("drain", 0.5, mode="learner")
    while True:
        economy.charge(reservation, model=MODEL, usage=usage_costing(0.0001))
        print("charged", flush=True)


def hold(economy: TokenEconomy) -> None:
    reservation = economy.reserve("hold", 0.5, mode="learner")
    with economy.ledger.transaction() as tx:
        tx.insert_charge(
            ChargeRow(
                ts=time.time(),
                task_id="hold",
                reservation_id=reservation.id,
                mode="learner",
                model=MODEL,
                project=None,
                usage=usage_costing(0.25),
                nano_usd=250_000_000,
                priced=True,
            )
        )
        print("holding", flush=True)
        time.sleep(3600)


def main(argv: list[str]) -> None:
    command, ledger, budget, seed = argv[0], Path(argv[1]), float(argv[2]), int(argv[3])
    economy = TokenEconomy(ledger, budget_usd=budget)
    if command == "spend":
        print(json.dumps(spend(economy, random.Random(seed), int(argv[4]))), flush=True)
    elif command == "drain":
        drain(economy)
    elif command == "hold":
        hold(economy)
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
