"""The price table: prefix matching, unknown models, config overrides, money formatting."""

from __future__ import annotations

import re

import pytest

from llmos.economy import (
    DEFAULT_PRICES,
    CostQuote,
    ModelPrice,
    PriceTable,
    cost_usd,
    format_shortfall,
    format_usd,
)
from llmos.errors import ConfigError
from llmos.messages import Usage

MILLION_EACH = Usage(
    input_tokens=1_000_000,
    output_tokens=1_000_000,
    cache_read_tokens=1_000_000,
    cache_write_tokens=1_000_000,
)


@pytest.mark.parametrize(
    ("model", "row"),
    [
        # Dated, tagged and provider-prefixed ids find their family.
        ("claude-sonnet-4-5-20250929", (3.0, 15.0, 0.3, 3.75)),
        ("claude-sonnet-4-20250514", (3.0, 15.0, 0.3, 3.75)),
        ("claude-sonnet-4-5@20250929", (3.0, 15.0, 0.3, 3.75)),
        ("anthropic/claude-sonnet-4-5", (3.0, 15.0, 0.3, 3.75)),
        ("us.anthropic.claude-3-5-haiku-20241022-v1:0", (0.8, 4.0, 0.08, 1.0)),
        ("Claude-Haiku-4-5-20251001", (1.0, 5.0, 0.1, 1.25)),
        # The longest prefix wins: Opus 4.5 is not priced as Opus 4.
        ("claude-opus-4-20250514", (15.0, 75.0, 1.5, 18.75)),
        ("claude-opus-4-1-20250805", (15.0, 75.0, 1.5, 18.75)),
        ("claude-opus-4-5-20251101", (5.0, 25.0, 0.5, 6.25)),
        ("claude-3-haiku-20240307", (0.25, 1.25, 0.03, 0.3)),
        ("gpt-4o-2024-08-06", (2.5, 10.0, 1.25, 2.5)),
        ("gpt-4o-2024-05-13", (5.0, 15.0, 5.0, 5.0)),
        ("gpt-4o-mini-2024-07-18", (0.15, 0.6, 0.075, 0.15)),
        ("gpt-4.1", (2.0, 8.0, 0.5, 2.0)),
        ("gpt-4.1-mini-2025-04-14", (0.4, 1.6, 0.1, 0.4)),
        ("gpt-4.1-nano", (0.1, 0.4, 0.025, 0.1)),
        ("o3-2025-04-16", (2.0, 8.0, 0.5, 2.0)),
        ("o3-mini", (1.1, 4.4, 0.55, 1.1)),
        ("o4-mini-2025-04-16", (1.1, 4.4, 0.275, 1.1)),
        ("scripted", (0.0, 0.0, 0.0, 0.0)),
        ("SmolLM2-135M-Instruct.Q4_1", (0.0, 0.0, 0.0, 0.0)),
    ],
)
def test_models_are_priced_by_their_longest_known_prefix(
    model: str, row: tuple[float, float, float, float]
) -> None:
    price = DEFAULT_PRICES.lookup(model)
    assert price == ModelPrice(input=row[0], output=row[1], cache_read=row[2], cache_write=row[3])
    assert cost_usd(model, MILLION_EACH) == CostQuote(usd=pytest.approx(sum(row)), known=True)


@pytest.mark.parametrize(
    "model",
    ["mystery-7b", "gpt-4", "gpt-4.5-preview", "o3x", "claude-sonnet", "claude-opus-45", ""],
)
def test_unknown_models_cost_nothing_and_say_so(model: str) -> None:
    """A prefix only matches at a separator: gpt-4 is not gpt-4o, o3x is not o3."""
    assert DEFAULT_PRICES.lookup(model) is None
    assert cost_usd(model, MILLION_EACH) == CostQuote(usd=0.0, known=False)


def test_a_call_costs_each_kind_of_token_at_its_own_rate() -> None:
    usage = Usage(
        input_tokens=1_200, output_tokens=300, cache_read_tokens=10_000, cache_write_tokens=2_000
    )
    quote = cost_usd("claude-sonnet-4-5", usage)
    assert quote.known
    assert quote.usd == pytest.approx((1_200 * 3 + 300 * 15 + 10_000 * 0.3 + 2_000 * 3.75) / 1e6)


def test_overrides_change_known_rows_and_add_new_models() -> None:
    table = DEFAULT_PRICES.with_overrides(
        {
            "gpt-4o": {"input": 2.0},
            "qwen2.5": {"input": 0.1, "output": 0.2},
            "my-proxy/Claude-Special": {"input": 1, "output": 2, "cache_read": 0.5},
        }
    )
    assert table.lookup("gpt-4o-2024-11-20") == ModelPrice(
        input=2.0, output=10.0, cache_read=1.25, cache_write=2.5
    )
    # gpt-4o-mini keeps its own row: the override touched only gpt-4o.
    assert table.lookup("gpt-4o-mini") == DEFAULT_PRICES.lookup("gpt-4o-mini")
    assert table.lookup("qwen2.5:7b") == ModelPrice(
        input=0.1, output=0.2, cache_read=0.1, cache_write=0.1
    )
    assert table.lookup("claude-special") == ModelPrice(
        input=1.0, output=2.0, cache_read=0.5, cache_write=1.0
    )
    # The original table is unchanged.
    assert DEFAULT_PRICES.lookup("gpt-4o") == ModelPrice(
        input=2.5, output=10.0, cache_read=1.25, cache_write=2.5
    )
    assert DEFAULT_PRICES.lookup("qwen2.5") is None


@pytest.mark.parametrize(
    ("overrides", "message", "key"),
    [
        (
            {"gpt-4o": {"inptu": 1.0}},
            "prices.\"gpt-4o\": unknown price 'inptu'; known: input, output, cache_read, "
            "cache_write (dollars per million tokens)",
            'prices."gpt-4o".inptu',
        ),
        (
            {"gpt-4o": {"input": -1}},
            'prices."gpt-4o".input must be a number of dollars per million tokens >= 0, got -1',
            'prices."gpt-4o".input',
        ),
        (
            {"gpt-4o": {"output": "cheap"}},
            'prices."gpt-4o".output must be a number of dollars per million tokens >= 0, '
            "got 'cheap'",
            'prices."gpt-4o".output',
        ),
        (
            {"llama3": {"input": 0.1}},
            "prices.\"llama3\": 'llama3' is not in the built-in table, so it needs output "
            "(dollars per million tokens)",
            'prices."llama3".output',
        ),
        (
            {"llama3": 0.1},
            'prices."llama3" must be a table of prices, got 0.1',
            'prices."llama3"',
        ),
    ],
)
def test_bad_overrides_are_config_errors_naming_the_key(
    overrides: dict, message: str, key: str
) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$") as caught:
        DEFAULT_PRICES.with_overrides(overrides)
    assert caught.value.key == key


def test_a_table_can_be_built_from_scratch() -> None:
    table = PriceTable({"House-Model": ModelPrice(input=1, output=1, cache_read=1, cache_write=1)})
    assert table.cost_usd("house-model-v2", Usage(input_tokens=500_000)) == CostQuote(0.5, True)
    assert table.cost_usd("claude-sonnet-4-5", MILLION_EACH) == CostQuote(0.0, False)


@pytest.mark.parametrize(
    ("usd", "text"),
    [(0, "$0.00"), (0.5, "$0.50"), (1234.5, "$1,234.50"), (0.0035, "$0.0035"), (-0.25, "$-0.25")],
)
def test_dollars_are_shown_in_cents_or_four_decimals(usd: float, text: str) -> None:
    assert format_usd(usd) == text


@pytest.mark.parametrize(
    ("needed", "left", "texts"),
    [
        (0.62, 0.5, ("$0.62", "$0.50")),
        (0.0603, 0.0539, ("$0.06", "$0.05")),
        (0.03, 0.025, ("$0.0300", "$0.0250")),  # both would print as $0.03
        (0.62001, 0.62, ("$0.620010", "$0.620000")),
        (0.004, 0.0, ("$0.0040", "$0.0000")),
    ],
)
def test_a_shortfall_always_reads_as_one(needed: float, left: float, texts: tuple) -> None:
    assert format_shortfall(needed, left) == texts
