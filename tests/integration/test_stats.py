# ruff: noqa: F811 (pytest fixtures imported from test_search_data shadow their parameters)
"""``collect_stats`` over the simulator-built index: every number equals a count made directly."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import timedelta

import pytest
from opensearchpy import OpenSearch

from indexer.stats import MISSING, collect_stats, dead_letter_count, render_stats
from indexer.transform import parse_timestamp
from tests.integration.test_search_data import DEAD_LETTERS, WorldIndex, world_index  # noqa: F401

pytestmark = pytest.mark.integration


def _key(value: str | None) -> str:
    return value.lower() if value else MISSING


def test_counts_and_breakdowns_equal_direct_counts(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    stats = collect_stats(os_client, world_index.names.base, top=500)
    active = world_index.active
    assert (
        stats.active == len(active) == os_client.count(index=world_index.names.read_alias)["count"]
    )
    assert stats.expired == len(world_index.expired_ids)
    assert stats.dead_letters == DEAD_LETTERS
    assert stats.by["source"] == dict(Counter(_key(doc["source"]) for doc in active))
    assert stats.by["workplace_type"] == dict(
        Counter(_key(doc["workplace_type"]) for doc in active)
    )
    assert stats.by["experience_level"] == dict(
        Counter(_key(doc["experience_level"]) for doc in active)
    )
    countries = Counter(c.lower() for doc in active for c in doc["countries"])
    countries[MISSING] = sum(1 for doc in active if not doc["countries"])
    assert stats.by["country"] == dict(countries)
    assert all(other == 0 for other in stats.others.values())


def test_top_n_reports_the_rest_as_other(os_client: OpenSearch, world_index: WorldIndex) -> None:
    stats = collect_stats(os_client, world_index.names.base, top=3)
    assert len(stats.by["source"]) == 3
    assert sum(stats.by["source"].values()) + stats.others["source"] == len(world_index.active)


def _midpoint(doc: dict) -> float | None:
    low, high = doc["salary_usd_min"], doc["salary_usd_max"]
    if low is not None and high is not None:
        return (low + high) / 2
    return low if low is not None else high


def test_salary_percentiles_by_experience_level(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    stats = collect_stats(os_client, world_index.names.base)
    by_level: dict[str, list[float]] = {}
    for doc in world_index.active:
        midpoint = _midpoint(doc)
        if midpoint is not None:
            by_level.setdefault(_key(doc["experience_level"]), []).append(midpoint)
    assert set(by_level) <= set(stats.salary_by_experience)
    for level, values in by_level.items():
        found = stats.salary_by_experience[level]
        assert found.jobs_with_salary == len(values)
        deciles = statistics.quantiles(values, n=20, method="inclusive")  # 5 % steps
        assert deciles[3] <= found.p25 <= deciles[5], level  # p20 <= p25 <= p30
        assert deciles[8] <= found.p50 <= deciles[10], level
        assert deciles[13] <= found.p75 <= deciles[15], level


def test_freshness_is_the_newest_timestamps(os_client: OpenSearch, world_index: WorldIndex) -> None:
    stats = collect_stats(os_client, world_index.names.base)
    newest = max(parse_timestamp(doc["updated_at"]) for doc in world_index.documents)
    assert parse_timestamp(stats.freshness.newest_updated_at) == newest
    assert parse_timestamp(stats.freshness.newest_indexed_at) == world_index.indexed_at.replace(
        microsecond=world_index.indexed_at.microsecond // 1000 * 1000
    )
    assert stats.freshness.lag_seconds is not None
    assert stats.freshness.lag_seconds >= 0
    fixed_now = newest + timedelta(minutes=30)
    later = collect_stats(os_client, world_index.names.base, now=fixed_now)
    assert later.freshness.lag_seconds == 1800.0


def test_render_names_every_section(os_client: OpenSearch, world_index: WorldIndex) -> None:
    lines = render_stats(collect_stats(os_client, world_index.names.base))
    text = "\n".join(lines)
    assert f"{len(world_index.active)} active" in text
    for section in ("by source", "by country", "by workplace_type", "by experience_level"):
        assert section in text
    assert "p25 / p50 / p75" in text


def test_a_missing_dead_letter_index_counts_zero(
    os_client: OpenSearch, world_index: WorldIndex, unique_name
) -> None:
    assert dead_letter_count(os_client, unique_name("nodl")) == 0
