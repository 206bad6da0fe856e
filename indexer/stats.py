"""What is in the index right now: counts, breakdowns, salary percentiles, freshness.

One search over ``<base>-all`` (every document, expired ones too) answers everything but the
dead-letter count: the active/expired split is a ``terms`` aggregation on ``status``, and the
breakdowns sit under a ``filter`` on ``status: active`` so they describe what readers see.

Salary percentiles are over the annual-USD midpoint of each job: ``(salary_usd_min +
salary_usd_max) / 2`` when both are known, else whichever one is. They are estimates (t-digest);
on the few thousand salaries of a level they are close to exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from opensearchpy import NotFoundError, OpenSearch

from indexer.store.schema import index_names
from indexer.transform import STATUS_ACTIVE, STATUS_EXPIRED, parse_timestamp

BREAKDOWNS: dict[str, str] = {
    "source": "source",
    "country": "countries",
    "workplace_type": "workplace_type",
    "experience_level": "experience_level",
}
PERCENTILES = (25.0, 50.0, 75.0)
MISSING = "(none)"

SALARY_MIDPOINT_SCRIPT = """
boolean hasMin = doc.containsKey('salary_usd_min') && doc['salary_usd_min'].size() > 0;
boolean hasMax = doc.containsKey('salary_usd_max') && doc['salary_usd_max'].size() > 0;
if (hasMin && hasMax) { return (doc['salary_usd_min'].value + doc['salary_usd_max'].value) / 2.0; }
if (hasMin) { return doc['salary_usd_min'].value; }
return doc['salary_usd_max'].value;
""".strip()


@dataclass
class SalaryPercentiles:
    jobs_with_salary: int
    p25: float | None
    p50: float | None
    p75: float | None


@dataclass
class Freshness:
    newest_updated_at: str | None
    newest_indexed_at: str | None
    lag_seconds: float | None  # now - newest updated_at


@dataclass
class IndexStats:
    base: str
    active: int
    expired: int
    by: dict[str, dict[str, int]] = field(default_factory=dict)  # breakdown -> value -> count
    others: dict[str, int] = field(default_factory=dict)  # breakdown -> count beyond the top N
    salary_by_experience: dict[str, SalaryPercentiles] = field(default_factory=dict)
    freshness: Freshness = field(default_factory=lambda: Freshness(None, None, None))
    dead_letters: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_stats_body(top: int = 20) -> dict[str, Any]:
    breakdowns = {
        name: {"terms": {"field": field_name, "size": top, "missing": MISSING}}
        for name, field_name in BREAKDOWNS.items()
    }
    has_salary = {
        "bool": {
            "should": [
                {"exists": {"field": "salary_usd_min"}},
                {"exists": {"field": "salary_usd_max"}},
            ],
            "minimum_should_match": 1,
        }
    }
    salary = {
        "terms": {"field": "experience_level", "size": 50, "missing": MISSING},
        "aggs": {
            "with_salary": {
                "filter": has_salary,
                "aggs": {
                    "midpoint": {
                        "percentiles": {
                            "script": {"source": SALARY_MIDPOINT_SCRIPT, "lang": "painless"},
                            "percents": list(PERCENTILES),
                            "tdigest": {"compression": 500},
                        }
                    }
                },
            }
        },
    }
    return {
        "size": 0,
        "track_total_hits": True,
        "aggs": {
            "status": {"terms": {"field": "status", "size": 10}},
            "active": {
                "filter": {"term": {"status": STATUS_ACTIVE}},
                "aggs": {**breakdowns, "salary_by_experience": salary},
            },
            "newest_updated_at": {"max": {"field": "updated_at"}},
            "newest_indexed_at": {"max": {"field": "indexed_at"}},
        },
    }


def _buckets(agg: Mapping[str, Any]) -> dict[str, int]:
    return {str(b.get("key_as_string", b["key"])): int(b["doc_count"]) for b in agg["buckets"]}


def _percentiles(bucket: Mapping[str, Any]) -> SalaryPercentiles:
    with_salary = bucket["with_salary"]
    values = with_salary["midpoint"]["values"]

    def value(percent: float) -> float | None:
        found = values.get(str(percent), values.get(f"{percent:g}"))
        return None if found is None else round(float(found), 2)

    return SalaryPercentiles(
        jobs_with_salary=int(with_salary["doc_count"]),
        p25=value(25.0),
        p50=value(50.0),
        p75=value(75.0),
    )


def _freshness(aggs: Mapping[str, Any], now: datetime) -> Freshness:
    newest_updated = aggs["newest_updated_at"].get("value_as_string")
    newest_indexed = aggs["newest_indexed_at"].get("value_as_string")
    lag = None
    if newest_updated:
        lag = round((now - parse_timestamp(newest_updated)).total_seconds(), 3)
    return Freshness(newest_updated, newest_indexed, lag)


def dead_letter_count(client: OpenSearch, index: str) -> int:
    try:
        return int(client.count(index=index)["count"])
    except NotFoundError:
        return 0


def collect_stats(
    client: OpenSearch, base: str = "jobs", *, top: int = 20, now: datetime | None = None
) -> IndexStats:
    """Counts and breakdowns of ``base`` (one search over ``<base>-all`` plus one count)."""
    names = index_names(base)
    answer = client.search(index=names.all_alias, body=build_stats_body(top))
    aggs = answer["aggregations"]
    status = _buckets(aggs["status"])
    active = aggs["active"]
    stats = IndexStats(
        base=base,
        active=status.get(STATUS_ACTIVE, 0),
        expired=status.get(STATUS_EXPIRED, 0),
    )
    for name in BREAKDOWNS:
        stats.by[name] = _buckets(active[name])
        stats.others[name] = int(active[name].get("sum_other_doc_count", 0))
    for bucket in active["salary_by_experience"]["buckets"]:
        stats.salary_by_experience[str(bucket["key"])] = _percentiles(bucket)
    stats.freshness = _freshness(aggs, now or datetime.now(UTC))
    stats.dead_letters = dead_letter_count(client, names.dead_letters)
    return stats


def render_stats(stats: IndexStats) -> list[str]:
    """Readable lines for a terminal."""
    lines = [
        f"index {stats.base}: {stats.active} active, {stats.expired} expired, "
        f"{stats.dead_letters} dead letters",
    ]
    fresh = stats.freshness
    lag = "n/a" if fresh.lag_seconds is None else f"{fresh.lag_seconds / 60:.1f} min"
    lines.append(
        f"freshness: newest updated_at {fresh.newest_updated_at or '-'}, newest indexed_at "
        f"{fresh.newest_indexed_at or '-'}, lag {lag}"
    )
    for name, counts in stats.by.items():
        shown = ", ".join(f"{value} {number}" for value, number in counts.items())
        other = stats.others.get(name, 0)
        lines.append(f"by {name}: {shown}" + (f", other {other}" if other else ""))
    lines.append("salary (annual USD midpoint) by experience level: p25 / p50 / p75 (jobs)")
    for level, pct in sorted(stats.salary_by_experience.items()):
        if pct.jobs_with_salary:
            lines.append(
                f"  {level:<12} {pct.p25:>10,.0f} {pct.p50:>10,.0f} {pct.p75:>10,.0f}"
                f"  ({pct.jobs_with_salary})"
            )
    return lines
