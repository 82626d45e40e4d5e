"""What a model's tokens cost: a price table per model, in dollars per million tokens.

Names are matched by the longest known prefix that ends at a separator, so
dated or tagged ids (``claude-sonnet-4-5-20250929``, ``gpt-4o-2024-08-06``,
``claude-sonnet-4-5@20250929``) find their family without a row each. Provider
prefixes (``anthropic/…``, Bedrock's ``us.anthropic.…``) are stripped first. A
model the table does not know costs nothing and is quoted with
``known=False``: the caller warns, the run goes on.

``Usage`` fields are disjoint, as Anthropic reports them: ``input_tokens``
excludes the cached tokens, which are priced on their own (a backend for an
API that folds cached tokens into the prompt count splits them first).

List prices, standard tier, checked in November 2026: Anthropic's from its
pricing page (platform.claude.com/docs/en/about-claude/pricing), OpenAI's as
published at developers.openai.com/api/docs/pricing, cross-checked against
several independent price lists. Cache writes are Anthropic's 5-minute
writes (1.25 x input); OpenAI does not charge for cache writes, so they cost
the input price. Batch, long-context and regional surcharges are
not modelled. Config overrides any row with a ``[prices."MODEL"]`` table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType

from llmos.errors import ConfigError
from llmos.messages import Usage

PER_MILLION = 1_000_000
#: A prefix matches when the model name ends there or continues with one of these.
_SEPARATORS = frozenset("-:@")
#: ``[region.]anthropic.`` in Bedrock model ids (``provider/`` in router ids is cut apart).
_BEDROCK_PREFIX = re.compile(r"^(?:[a-z]{2,4}\.)?anthropic\.")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelPrice:
    """Dollars per million tokens of each kind."""

    input: float
    output: float
    cache_read: float
    cache_write: float

    def cost(self, usage: Usage) -> float:
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_read_tokens * self.cache_read
            + usage.cache_write_tokens * self.cache_write
        ) / PER_MILLION


@dataclass(frozen=True, slots=True)
class CostQuote:
    """A price for some usage; ``known`` is False when the model has no row (cost 0)."""

    usd: float
    known: bool


FREE = ModelPrice(input=0.0, output=0.0, cache_read=0.0, cache_write=0.0)


def _anthropic(input_usd: float, output_usd: float) -> ModelPrice:
    """Anthropic's cache multipliers: reads 0.1 x input, 5-minute writes 1.25 x input."""
    return ModelPrice(
        input=input_usd,
        output=output_usd,
        cache_read=round(input_usd * 0.1, 6),
        cache_write=round(input_usd * 1.25, 6),
    )


def _openai(input_usd: float, output_usd: float, cached_usd: float | None) -> ModelPrice:
    """OpenAI bills cached input at its own rate and cache writes as plain input."""
    return ModelPrice(
        input=input_usd,
        output=output_usd,
        cache_read=input_usd if cached_usd is None else cached_usd,
        cache_write=input_usd,
    )


BUILTIN_PRICES: Mapping[str, ModelPrice] = MappingProxyType(
    {
        # Anthropic. Opus 4 / 4.1 kept the old $15 rate; 4.5 onwards is $5.
        "claude-opus-5": _anthropic(5.0, 25.0),
        "claude-opus-4": _anthropic(15.0, 75.0),
        "claude-opus-4-1": _anthropic(15.0, 75.0),
        "claude-opus-4-5": _anthropic(5.0, 25.0),
        "claude-opus-4-6": _anthropic(5.0, 25.0),
        "claude-opus-4-7": _anthropic(5.0, 25.0),
        "claude-opus-4-8": _anthropic(5.0, 25.0),
        "claude-sonnet-4": _anthropic(3.0, 15.0),  # 4, 4.5 and 4.6 share the rate
        "claude-haiku-4": _anthropic(1.0, 5.0),
        "claude-3-7-sonnet": _anthropic(3.0, 15.0),
        "claude-3-5-sonnet": _anthropic(3.0, 15.0),
        "claude-3-5-haiku": _anthropic(0.8, 4.0),
        "claude-3-opus": _anthropic(15.0, 75.0),
        "claude-3-haiku": ModelPrice(input=0.25, output=1.25, cache_read=0.03, cache_write=0.30),
        # Claude Code's aliases, as the Agent SDK may report them.
        "opus": _anthropic(5.0, 25.0),
        "sonnet": _anthropic(3.0, 15.0),
        "haiku": _anthropic(1.0, 5.0),
        # OpenAI.
        "gpt-4o": _openai(2.5, 10.0, 1.25),
        "gpt-4o-2024-05-13": _openai(5.0, 15.0, None),
        "gpt-4o-mini": _openai(0.15, 0.6, 0.075),
        "gpt-4.1": _openai(2.0, 8.0, 0.5),
        "gpt-4.1-mini": _openai(0.4, 1.6, 0.1),
        "gpt-4.1-nano": _openai(0.1, 0.4, 0.025),
        "gpt-5": _openai(1.25, 10.0, 0.125),
        "gpt-5-mini": _openai(0.25, 2.0, 0.025),
        "gpt-5-nano": _openai(0.05, 0.4, 0.005),
        "gpt-5-pro": _openai(15.0, 120.0, None),
        "o1": _openai(15.0, 60.0, 7.5),
        "o1-mini": _openai(1.1, 4.4, 0.55),
        "o1-pro": _openai(150.0, 600.0, None),
        "o3": _openai(2.0, 8.0, 0.5),
        "o3-mini": _openai(1.1, 4.4, 0.55),
        "o3-pro": _openai(20.0, 80.0, None),
        "o4-mini": _openai(1.1, 4.4, 0.275),
        # Free: the embedded model, the scripted and function backends.
        "local": FREE,
        "smollm2": FREE,
        "scripted": FREE,
        "function": FREE,
    }
)

_PRICE_KEYS = tuple(f.name for f in fields(ModelPrice))


def normalize_model(model: str) -> str:
    """Lower case, without a ``provider/`` or Bedrock ``[region.]anthropic.`` prefix."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    return _BEDROCK_PREFIX.sub("", name)


def _places(usd: float) -> int:
    return 2 if usd == 0 or abs(usd) >= 0.01 else 4


def _rounded(usd: float, places: int) -> Decimal:
    """Half up on the printed value (0.075 is $0.08), not on the float's binary digits."""
    return Decimal(repr(usd)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def format_usd(usd: float, places: int | None = None) -> str:
    """Dollars for people: cents, or four decimals below a cent."""
    places = _places(usd) if places is None else places
    return f"${_rounded(usd, places):,.{places}f}"


def format_shortfall(needed: float, left: float) -> tuple[str, str]:
    """``needed`` and ``left`` printed precisely enough that the first reads larger."""
    places = max(_places(needed), _places(left))
    while places < 9 and _rounded(needed, places) <= _rounded(left, places):
        places += 2
    return format_usd(needed, places), format_usd(left, places)


class PriceTable:
    """Prices by model-name prefix; immutable, overrides make a new table.

    Example:
        >>> quote = DEFAULT_PRICES.cost_usd("claude-sonnet-4-5-20250929",
        ...                                 Usage(input_tokens=1000, output_tokens=100))
        >>> round(quote.usd, 6), quote.known
        (0.0045, True)
    """

    def __init__(self, prices: Mapping[str, ModelPrice]) -> None:
        self._prices = MappingProxyType({normalize_model(k): v for k, v in prices.items()})
        # Longest first, so the first prefix that matches is the most specific one.
        self._prefixes = sorted(self._prices, key=len, reverse=True)

    @property
    def prices(self) -> Mapping[str, ModelPrice]:
        return self._prices

    def lookup(self, model: str) -> ModelPrice | None:
        """The row for ``model`` by longest prefix, or None when no row matches."""
        name = normalize_model(model)
        for prefix in self._prefixes:
            if name.startswith(prefix) and (
                len(name) == len(prefix) or name[len(prefix)] in _SEPARATORS
            ):
                return self._prices[prefix]
        return None

    def cost_usd(self, model: str, usage: Usage) -> CostQuote:
        """What ``usage`` on ``model`` costs; an unknown model costs 0 with ``known=False``."""
        price = self.lookup(model)
        if price is None:
            return CostQuote(usd=0.0, known=False)
        return CostQuote(usd=price.cost(usage), known=True)

    def with_overrides(self, overrides: Mapping[str, Mapping[str, float]]) -> PriceTable:
        """A new table with config's ``[prices."MODEL"]`` rows applied.

        A row for a known model may give only the fields that change. A new
        model needs ``input`` and ``output``; its cache prices default to the
        input price (no discount assumed).

        Raises:
            ConfigError: a key is unknown, a value is not a number >= 0, or a
                new model lacks input or output.
        """
        merged = dict(self._prices)
        for model, row in overrides.items():
            key = f'prices."{model}"'
            if not isinstance(row, Mapping):
                raise ConfigError(f"{key} must be a table of prices, got {row!r}", key=key)
            unknown = sorted(set(row) - set(_PRICE_KEYS))
            if unknown:
                raise ConfigError(
                    f"{key}: unknown price {unknown[0]!r}; known: {', '.join(_PRICE_KEYS)} "
                    "(dollars per million tokens)",
                    key=f"{key}.{unknown[0]}",
                )
            for name, value in row.items():
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ConfigError(
                        f"{key}.{name} must be a number of dollars per million tokens >= 0, "
                        f"got {value!r}",
                        key=f"{key}.{name}",
                    )
            values = {name: float(value) for name, value in row.items()}
            base = self._prices.get(normalize_model(model))
            if base is None:
                missing = [name for name in ("input", "output") if name not in values]
                if missing:
                    raise ConfigError(
                        f"{key}: {model!r} is not in the built-in table, so it needs "
                        f"{' and '.join(missing)} (dollars per million tokens)",
                        key=f"{key}.{missing[0]}",
                    )
                values.setdefault("cache_read", values["input"])
                values.setdefault("cache_write", values["input"])
                merged[normalize_model(model)] = ModelPrice(**values)
            else:
                merged[normalize_model(model)] = replace(base, **values)
        return PriceTable(merged)


DEFAULT_PRICES = PriceTable(BUILTIN_PRICES)


def cost_usd(model: str, usage: Usage, prices: PriceTable = DEFAULT_PRICES) -> CostQuote:
    """What ``usage`` on ``model`` costs with the built-in (or the given) prices."""
    return prices.cost_usd(model, usage)
