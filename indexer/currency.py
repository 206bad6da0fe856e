"""Annual-USD salaries from the feed's raw compensation: dated FX table, documented multipliers.

The rule is "a null, never a wrong number": an unknown currency, an unknown period, a negative
amount, ``min > max``, a non-finite number or a figure that does not fit the index's ``integer``
fields all give ``None`` rather than a guess.

Period multipliers (to a year of full-time work):

=========  ==========  ==========================================
period     multiplier  why
=========  ==========  ==========================================
hourly     2080        40 hours x 52 weeks
daily      260         5 days x 52 weeks
per_diem   260         a day rate, like daily
weekly     52
monthly    12
yearly     1
=========  ==========  ==========================================

FX: ``indexer/data/fx_rates.json`` holds the ECB euro reference rates of one stated date (units of
the currency per 1 EUR); a USD amount is ``amount / rate[currency] * rate["USD"]``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from indexer.errors import IndexerError
from indexer.resources import data_dir

PERIOD_MULTIPLIERS: dict[str, int] = {
    "hourly": 2080,
    "daily": 260,
    "per_diem": 260,
    "weekly": 52,
    "monthly": 12,
    "yearly": 1,
}

# Spellings seen in feeds for the same periods, folded to the canonical names above.
PERIOD_ALIASES: dict[str, str] = {
    "hour": "hourly",
    "per_hour": "hourly",
    "day": "daily",
    "per_day": "daily",
    "perdiem": "per_diem",
    "week": "weekly",
    "per_week": "weekly",
    "month": "monthly",
    "per_month": "monthly",
    "year": "yearly",
    "annual": "yearly",
    "annually": "yearly",
    "per_year": "yearly",
}

# The upper bound of an OpenSearch ``integer`` (salary_usd_* and the integer_range salary_usd).
MAX_INDEXED_SALARY = 2_147_483_647


class FxTableError(IndexerError, ValueError):
    """The shipped FX table is missing or malformed."""


@dataclass(frozen=True)
class FxTable:
    """ECB reference rates of one date: units of each currency per 1 EUR."""

    date: str
    source: str
    per_eur: dict[str, float]

    def usd_factor(self, currency: str) -> float | None:
        """How many USD one unit of ``currency`` buys, or None when the table lacks it."""
        rate = self.per_eur.get(currency)
        if rate is None:
            return None
        return self.per_eur["USD"] / rate


@dataclass(frozen=True)
class SalaryUsd:
    """Annual USD bounds; either may be None (min-only or max-only postings)."""

    min: int | None
    max: int | None

    def as_range(self) -> dict[str, int]:
        """The ``integer_range`` value: gte only for min-only, lte only for max-only."""
        bounds: dict[str, int] = {}
        if self.min is not None:
            bounds["gte"] = self.min
        if self.max is not None:
            bounds["lte"] = self.max
        return bounds


def load_fx_table(path: Path | None = None) -> FxTable:
    """Read an FX table (default: the shipped ``indexer/data/fx_rates.json``)."""
    source = path or data_dir() / "fx_rates.json"
    try:
        raw = json.loads(source.read_text(encoding="utf-8"))
        rates = {str(code).upper(): float(rate) for code, rate in raw["rates"].items()}
        table = FxTable(date=str(raw["date"]), source=str(raw["source"]), per_eur=rates)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise FxTableError(f"cannot read the FX table {source}: {error}") from error
    if "USD" not in rates or any(not rate > 0 for rate in rates.values()):
        raise FxTableError(f"FX table {source} needs a USD rate and only positive rates")
    return table


@lru_cache(maxsize=1)
def default_fx_table() -> FxTable:
    """The shipped table, read once per process."""
    return load_fx_table()


def canonical_period(period: str) -> str:
    """``per-diem`` / ``Per Diem`` -> ``per_diem``; ``year`` -> ``yearly``; unknown kept lower."""
    folded = period.strip().lower().replace("-", "_").replace(" ", "_")
    return PERIOD_ALIASES.get(folded, folded)


def _annual_usd(amount: float | None, factor: float) -> int | None:
    if amount is None:
        return None
    value = amount * factor
    if not math.isfinite(value) or value < 0 or value > MAX_INDEXED_SALARY:
        raise _UnconvertibleError
    return round(value)


class _UnconvertibleError(IndexerError):
    pass


def salary_usd(
    minimum: float | None,
    maximum: float | None,
    currency: str | None,
    period: str | None,
    table: FxTable | None = None,
) -> SalaryUsd | None:
    """Annual USD bounds for a raw compensation, or None when it cannot be converted honestly.

    ``period`` must already be canonical (see :func:`canonical_period`); ``currency`` is an ISO
    4217 code in any case.
    """
    if minimum is None and maximum is None:
        return None
    if not currency or not period:
        return None
    multiplier = PERIOD_MULTIPLIERS.get(period)
    fx = (table or default_fx_table()).usd_factor(currency.strip().upper())
    if multiplier is None or fx is None:
        return None
    for amount in (minimum, maximum):
        if amount is not None and (not math.isfinite(amount) or amount < 0):
            return None
    if minimum is not None and maximum is not None and minimum > maximum:
        return None
    if not minimum and not maximum:  # 0/0 or 0/None: "not disclosed" in practice
        return None
    try:
        low = _annual_usd(minimum, multiplier * fx)
        high = _annual_usd(maximum, multiplier * fx)
    except _UnconvertibleError:
        return None
    return SalaryUsd(min=low, max=high)
