"""Saved searches matched against what pages wrote, on the real node: the matches equal what
``search`` finds among the jobs written after the search was saved, however the writes are cut
into passes and whatever pass is repeated; the change stream says what each write did; a write
whose recording died with its process is recovered on the replay."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opensearchpy import OpenSearch

from indexer.alerts import WriteRecorder, save
from indexer.alerts.matcher import STATE_KEY, Matcher
from indexer.search import GeoPoint, SearchQuery, match_query
from indexer.store.bulk import BulkWriter, ExpireOp, IndexOp
from indexer.store.layout import IndexNames
from indexer.store.schema import index_names, init_index
from indexer.sync.page_writer import page_operations
from indexer.timestamps import format_timestamp
from tests.integration.test_search_data import world_jobs

pytestmark = pytest.mark.integration


def _writer(client: OpenSearch, names: IndexNames) -> BulkWriter:
    return BulkWriter(client, index=names.write_alias, dead_letter_index=names.dead_letters)


def _index_ops(jobs: list[dict[str, Any]], at: datetime) -> list[IndexOp]:
    ops = page_operations(jobs, at)
    return [op for op in ops if isinstance(op, IndexOp)]


def _searched(client: OpenSearch, names: IndexNames, query: SearchQuery, ids: set[str]) -> set[str]:
    """What ``search`` finds among ``ids`` (the read alias, the search's own match part)."""
    client.indices.refresh(index=names.all_alias)
    body = {
        "size": 10_000,
        "_source": False,
        "query": {"bool": {"filter": [match_query(query), {"ids": {"values": sorted(ids)}}]}},
    }
    return {hit["_id"] for hit in client.search(index=names.read_alias, body=body)["hits"]["hits"]}


def _matches(client: OpenSearch, names: IndexNames) -> dict[str, set[str]]:
    client.indices.refresh(index=names.alert_matches)
    hits = client.search(index=names.alert_matches, body={"size": 10_000})["hits"]["hits"]
    found: dict[str, set[str]] = {}
    for hit in hits:
        found.setdefault(hit["_source"]["search"], set()).add(hit["_source"]["job_id"])
    return found


def _changes(client: OpenSearch, names: IndexNames) -> list[dict[str, Any]]:
    client.indices.refresh(index=names.changes)
    hits = client.search(index=names.changes, body={"size": 10_000})["hits"]["hits"]
    return [hit["_source"] for hit in hits]


@pytest.fixture
def base(os_client: OpenSearch, unique_name: Callable[[str], str]) -> IndexNames:
    name = unique_name("alerts")
    init_index(os_client, name)
    return index_names(name)


def _searches(jobs: list[dict[str, Any]]) -> dict[str, SearchQuery]:
    """Searches of every kind the builder makes: text, nested geo + country, a salary range,
    a posting date window, keyword filters, and a city resolved when saved."""
    places = Counter(
        (loc["city"], loc["country"], loc["latitude"], loc["longitude"])
        for job in jobs
        for loc in job.get("locations") or []
        if loc.get("latitude") is not None and loc.get("city")
    )
    city, country, lat, lon = places.most_common(1)[0][0]
    word = jobs[0]["title"].split()[-1]
    return {
        "text": SearchQuery(text=f"{word} engineer"),
        "geo": SearchQuery(near=GeoPoint(lat, lon), radius="300km"),
        "geo-country": SearchQuery(near=GeoPoint(lat, lon), radius="3000km", country=[country]),
        "salary": SearchQuery(salary_min=120_000, salary_max=180_000),
        "recent-remote": SearchQuery(posted_within_days=20, workplace_type=["remote"]),
        "city": SearchQuery(near_city=city, radius="100km", country=[country]),
    }


def test_matches_are_the_searches_over_jobs_written_after_saving(
    os_client: OpenSearch, base: IndexNames
) -> None:
    jobs = world_jobs(900)
    before, after = jobs[:450], jobs[450:]
    earlier = datetime.now(UTC) - timedelta(minutes=5)
    # Jobs the index holds before the searches exist (and a city to resolve from).
    _writer(os_client, base).write(_index_ops(before, earlier))
    os_client.indices.refresh(index=base.all_alias)
    searches = _searches(jobs)
    saved = {name: save(os_client, base, name, query)[0] for name, query in searches.items()}
    assert saved["city"].query.near is not None  # resolved when saved
    recorder = WriteRecorder(os_client, base, run_kind="sync")
    scan_start = format_timestamp(datetime.now(UTC))
    for start in range(0, len(after), 150):
        ops = _index_ops(after[start : start + 150], datetime.now(UTC))
        recorder.write_page(ops, _writer(os_client, base), scan_started_at=scan_start)
        if start == 300:  # a pass in the middle: the windows cut the writes in two
            recorder.match_written(datetime.now(UTC), wait=True)
    # A replay of the older jobs (versions the index had before the searches): no alert.
    replayed = _index_ops(before, datetime.now(UTC))
    result = recorder.write_page(replayed, _writer(os_client, base), scan_started_at=scan_start)
    assert result.unchanged == len(before)
    recorder.match_written(datetime.now(UTC), wait=True)
    assert recorder.passes is not None
    assert recorder.passes.passes == 2
    assert recorder.passes.error is None
    recorder.close()

    found = _matches(os_client, base)
    after_ids = {job["id"] for job in after}
    for name in searches:
        expected = _searched(os_client, base, saved[name].query, after_ids)
        assert found.get(name, set()) == expected, name
    assert sum(len(ids) for ids in found.values()) > 50  # the searches do match something
    assert {name for name, ids in found.items() if ids} >= {"text", "salary", "geo", "city"}
    # The change stream: each new job once, created; the replay added nothing.
    events = _changes(os_client, base)
    assert sorted(e["job_id"] for e in events) == sorted(after_ids)
    assert {e["kind"] for e in events} == {"created"}


def test_a_write_whose_recording_died_is_recovered_once(
    os_client: OpenSearch, base: IndexNames
) -> None:
    jobs = world_jobs(200)
    save(os_client, base, "all-active", SearchQuery())
    scan_start = format_timestamp(datetime.now(UTC) - timedelta(seconds=1))
    ops = _index_ops(jobs, datetime.now(UTC))
    # The crashed attempt: the page was written, its process died before recording anything.
    _writer(os_client, base).write(ops)
    os_client.indices.refresh(index=base.all_alias)
    recorder = WriteRecorder(os_client, base, run_kind="backfill")
    for _ in range(2):  # the resumed run's replay, then one more overlap: recorded once
        again = _index_ops(jobs, datetime.now(UTC))
        result = recorder.write_page(again, _writer(os_client, base), scan_started_at=scan_start)
        assert result.unchanged == len(jobs)
    # No pass had covered the crashed attempt's write: the resumed run's pass does.
    recorder.match_written(datetime.now(UTC), wait=True)
    recorder.close()
    assert _matches(os_client, base) == {"all-active": {job["id"] for job in jobs}}
    events = _changes(os_client, base)
    assert len(events) == len(jobs)
    assert {e["kind"] for e in events} == {"created"}
    # A scan that started after those writes recovers nothing: they were recorded before.
    later = WriteRecorder(os_client, base)
    later.write_page(
        _index_ops(jobs, datetime.now(UTC)),
        _writer(os_client, base),
        scan_started_at=format_timestamp(datetime.now(UTC)),
    )
    later.close()
    assert later.stats.recovered == 0


def test_the_change_stream_says_created_updated_expired_once(
    os_client: OpenSearch, base: IndexNames
) -> None:
    jobs = world_jobs(20)
    recorder = WriteRecorder(os_client, base, run_kind="sync", alerts=False)
    now = format_timestamp(datetime.now(UTC))
    recorder.write_page(
        _index_ops(jobs, datetime.now(UTC)), _writer(os_client, base), scan_started_at=now
    )
    edited = dict(jobs[0], updated_at=format_timestamp(datetime.now(UTC)), title="Changed")
    recorder.write_page(
        _index_ops([edited], datetime.now(UTC)), _writer(os_client, base), scan_started_at=now
    )
    for _ in range(2):  # an overlapping sweep reports the same expiry again
        recorder.write_expiries([ExpireOp(jobs[1]["id"], now)], _writer(os_client, base))
    recorder.close()
    events = _changes(os_client, base)
    kinds = sorted((e["job_id"], e["kind"]) for e in events)
    expected = sorted(
        [(job["id"], "created") for job in jobs]
        + [(jobs[0]["id"], "updated"), (jobs[1]["id"], "expired")]
    )
    assert kinds == expected
    assert all(e["run_kind"] == "sync" for e in events)


def test_a_pass_repeated_after_a_crash_records_nothing_twice(
    os_client: OpenSearch, base: IndexNames
) -> None:
    jobs = world_jobs(120)
    save(os_client, base, "all-active", SearchQuery())
    _writer(os_client, base).write(_index_ops(jobs[:60], datetime.now(UTC)))
    matcher = Matcher(os_client, base)
    first = matcher.run_pass(datetime.now(UTC))
    assert first is not None
    assert (first.matches, first.recorded) == (60, 60)
    assert matcher.run_pass(datetime.fromisoformat(first.end)) is None  # nothing new to cover
    # A pass that died after writing its matches, before storing its window's end: the state
    # still says where it started, so the next pass covers the window again.
    stored = matcher.state.load(STATE_KEY)
    assert stored is not None
    _writer(os_client, base).write(_index_ops(jobs[60:], datetime.now(UTC)))
    second = matcher.run_pass(datetime.now(UTC))
    assert second is not None
    assert second.recorded == 60
    matcher.state.save(
        STATE_KEY, {"matched_through": first.start}, expected=matcher.state.load(STATE_KEY)
    )
    again = matcher.run_pass(datetime.now(UTC))
    assert again is not None
    assert (again.matches, again.recorded) == (120, 0)
    assert _matches(os_client, base) == {"all-active": {job["id"] for job in jobs}}


def test_a_pass_with_no_saved_search_moves_its_window_and_matches_nothing(
    os_client: OpenSearch, base: IndexNames
) -> None:
    _writer(os_client, base).write(_index_ops(world_jobs(30), datetime.now(UTC)))
    matcher = Matcher(os_client, base)
    end = datetime.now(UTC)
    report = matcher.run_pass(end)
    assert report is not None
    assert (report.searches, report.matches) == (0, 0)
    assert matcher.matched_through() == format_timestamp(end)
    # A search saved now does not alert on what was written before it.
    save(os_client, base, "later", SearchQuery())
    later = matcher.run_pass(datetime.now(UTC))
    assert later is not None
    assert later.matches == 0
    assert _matches(os_client, base) == {}
