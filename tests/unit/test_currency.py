"""Annual-USD salary conversion: every period, every currency of the table, and the null cases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from indexer.currency import (
    MAX_INDEXED_SALARY,
    PERIOD_MULTIPLIERS,
    FxTable,
    FxTableError,
    SalaryUsd,
    canonical_period,
    default_fx_table,
    load_fx_table,
    salary_usd,
)
from indexer.resources import data_dir

SHIPPED = json.loads((data_dir() / "fx_rates.json").read_text(encoding="utf-8"))


def test_shipped_table_states_its_source_and_date() -> None:
    table = default_fx_table()
    assert table.date == SHIPPED["date"]
    assert "European Central Bank" in table.source
    assert table.per_eur["EUR"] == 1
    assert set(table.per_eur) == {code.upper() for code in SHIPPED["rates"]}


@pytest.mark.parametrize(
    ("period", "multiplier"),
    [
        ("hourly", 2080),
        ("daily", 260),
        ("per_diem", 260),
        ("weekly", 52),
        ("monthly", 12),
        ("yearly", 1),
    ],
)
def test_every_period_uses_its_documented_multiplier(period: str, multiplier: int) -> None:
    assert PERIOD_MULTIPLIERS[period] == multiplier
    assert salary_usd(10, 20, "USD", period) == SalaryUsd(10 * multiplier, 20 * multiplier)


@pytest.mark.parametrize("currency", sorted(SHIPPED["rates"]))
def test_every_currency_of_the_table_converts_through_the_euro(currency: str) -> None:
    rates = SHIPPED["rates"]
    amount = 100_000
    expected = round(amount / rates[currency] * rates["USD"])
    result = salary_usd(amount, None, currency.lower(), "yearly")
    assert result is not None
    assert result.max is None
    assert result.min == pytest.approx(expected, abs=1)


def test_usd_is_unchanged_and_eur_uses_the_usd_rate() -> None:
    assert salary_usd(123_456, None, "USD", "yearly") == SalaryUsd(123_456, None)
    eur = salary_usd(100_000, None, "EUR", "yearly")
    assert eur is not None
    assert eur.min == round(100_000 * SHIPPED["rates"]["USD"])


def test_min_only_and_max_only_give_open_ranges() -> None:
    only_min = salary_usd(50, None, "USD", "hourly")
    only_max = salary_usd(None, 50, "USD", "hourly")
    assert only_min == SalaryUsd(104_000, None)
    assert only_min.as_range() == {"gte": 104_000}
    assert only_max == SalaryUsd(None, 104_000)
    assert only_max.as_range() == {"lte": 104_000}


@pytest.mark.parametrize(
    ("minimum", "maximum", "currency", "period"),
    [
        (None, None, "USD", "yearly"),  # undisclosed
        (0, 0, "USD", "yearly"),  # zeros mean undisclosed
        (0, None, "USD", "yearly"),
        (100, 50, "USD", "yearly"),  # min > max
        (-10, 50, "USD", "yearly"),  # negative
        (10, -5, "USD", "yearly"),
        (10, 20, "XYZ", "yearly"),  # unknown currency
        (10, 20, None, "yearly"),
        (10, 20, "", "yearly"),
        (10, 20, "USD", "fortnightly"),  # unknown period
        (10, 20, "USD", None),
        (math.nan, 20, "USD", "yearly"),
        (10, math.inf, "USD", "yearly"),
        (MAX_INDEXED_SALARY, None, "USD", "hourly"),  # does not fit an integer field
    ],
)
def test_unconvertible_salaries_are_null_never_wrong(
    minimum: float | None, maximum: float | None, currency: str | None, period: str | None
) -> None:
    assert salary_usd(minimum, maximum, currency, period) is None


def test_zero_minimum_with_a_maximum_is_a_real_range() -> None:
    assert salary_usd(0, 90_000, "USD", "yearly") == SalaryUsd(0, 90_000)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("per-diem", "per_diem"),
        ("Per Diem", "per_diem"),
        ("HOURLY", "hourly"),
        ("year", "yearly"),
        ("annual", "yearly"),
        ("month", "monthly"),
        ("fortnightly", "fortnightly"),
    ],
)
def test_canonical_period(raw: str, canonical: str) -> None:
    assert canonical_period(raw) == canonical


def test_a_custom_table_is_used_when_given() -> None:
    table = FxTable(date="2000-01-01", source="test", per_eur={"EUR": 1.0, "USD": 2.0, "ABC": 4.0})
    assert salary_usd(100, 200, "ABC", "yearly", table) == SalaryUsd(50, 100)
    assert salary_usd(100, 200, "GBP", "yearly", table) is None


def test_broken_tables_are_refused_with_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "none.json"
    with pytest.raises(FxTableError, match=r"none\.json"):
        load_fx_table(missing)
    no_usd = tmp_path / "no_usd.json"
    no_usd.write_text(json.dumps({"date": "d", "source": "s", "rates": {"EUR": 1}}))
    with pytest.raises(FxTableError, match="USD"):
        load_fx_table(no_usd)
    negative = tmp_path / "negative.json"
    negative.write_text(json.dumps({"date": "d", "source": "s", "rates": {"USD": -1}}))
    with pytest.raises(FxTableError, match="positive"):
        load_fx_table(negative)
