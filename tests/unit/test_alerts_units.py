"""The pure parts of the alerts: signatures, batch keys, a matching pass's query, how passes
run beside the pipeline, the page writer's clock, the status lines."""

from __future__ import annotations

import hashlib
import hmac
import threading
from datetime import UTC, datetime, timedelta

from indexer.alerts.delivery import DeliveryConfig, batch_key, sign, verify
from indexer.alerts.matcher import Passes, PassReport, window_query
from indexer.alerts.matches import MatchIds, match_id
from indexer.alerts.saved import SavedSearch, query_from_spec
from indexer.cli.status_view import alerts_lines
from indexer.search import GeoPoint, SearchQuery, match_query
from indexer.sync.page_writer import WriteClock


def test_the_signature_is_the_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"search":"x","matches":[]}'
    expected = hmac.new(b"s3cret-value", body, hashlib.sha256).hexdigest()
    assert sign("s3cret-value", body) == f"sha256={expected}"
    assert verify("s3cret-value", body, sign("s3cret-value", body))
    assert not verify("s3cret-value", body + b" ", sign("s3cret-value", body))
    assert not verify("s3cret-value", body, None)


def test_a_batch_key_names_the_search_and_its_matches_in_order() -> None:
    assert batch_key("a", ["1", "2"]) == batch_key("a", ["1", "2"])
    assert batch_key("a", ["1", "2"]) != batch_key("b", ["1", "2"])
    assert batch_key("a", ["1", "2"]) != batch_key("a", ["2", "1"])


def test_the_secret_is_never_in_the_config_repr() -> None:
    assert "hush-hush-123" not in repr(DeliveryConfig(secret="hush-hush-123"))


def test_a_pass_runs_the_search_itself_on_active_jobs_written_in_the_window() -> None:
    query = SearchQuery(text="python", country=["US"])
    search = SavedSearch("n", query, "2026-12-01T10:00:00.000Z")
    early = window_query(search, "2026-12-01T09:00:00.000Z", "2026-12-01T11:00:00.000Z")
    assert early["bool"]["filter"] == [
        {"term": {"status": "active"}},
        # not before the search was saved: jobs that matched before it existed do not alert
        {
            "range": {
                "indexed_at": {"gte": "2026-12-01T10:00:00.000Z", "lt": "2026-12-01T11:00:00.000Z"}
            }
        },
        match_query(query),
    ]
    late = window_query(search, "2026-12-01T10:30:00.000Z", "2026-12-01T11:00:00.000Z")
    assert late["bool"]["filter"][1]["range"]["indexed_at"]["gte"] == "2026-12-01T10:30:00.000Z"


class _SlowMatcher:
    """Records the passes asked of it; the first one waits for ``release``."""

    def __init__(self, fail_first: bool = False) -> None:
        self.ends: list[datetime] = []
        self.release = threading.Event()
        self.fail_first = fail_first

    def run_pass(self, end: datetime) -> PassReport:
        self.ends.append(end)
        if len(self.ends) == 1:
            self.release.wait(5)
            if self.fail_first:
                raise ConnectionError("node gone")
        return PassReport("s", "e", searches=1, matches=2, recorded=1)


def test_passes_run_one_at_a_time_and_the_last_one_waits_for_the_running_one() -> None:
    matcher = _SlowMatcher()
    passes = Passes(matcher)  # type: ignore[arg-type]
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    passes.request(t0)
    passes.request(t0 + timedelta(seconds=1))  # one is running: this one is covered later
    matcher.release.set()
    passes.finish(t0 + timedelta(seconds=2))
    passes.close()
    assert matcher.ends == [t0, t0 + timedelta(seconds=2)]
    assert (passes.passes, passes.matches, passes.recorded, passes.error) == (2, 4, 2, None)


def test_a_failed_pass_is_reported_not_raised_and_the_next_one_covers_its_window() -> None:
    matcher = _SlowMatcher(fail_first=True)
    passes = Passes(matcher)  # type: ignore[arg-type]
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    passes.request(t0)
    matcher.release.set()
    passes.finish(t0 + timedelta(seconds=5))  # does not raise
    passes.close()
    assert matcher.ends == [t0, t0 + timedelta(seconds=5)]
    assert passes.passes == 1
    assert passes.error is None


def test_the_horizon_never_passes_a_page_still_being_written() -> None:
    ticks = iter(
        datetime(2026, 12, 1, 0, 0, 0, micro, tzinfo=UTC)
        for micro in (1_500, 9_999, 5_000, 20_000, 30_000, 40_000)
    )
    clock = WriteClock(now=lambda: next(ticks))
    first = clock.start()
    second = clock.start()
    assert first == datetime(2026, 12, 1, 0, 0, 0, 1_000, tzinfo=UTC)  # stored precision (ms)
    assert second == datetime(2026, 12, 1, 0, 0, 0, 9_000, tzinfo=UTC)
    clock.written(second)
    assert clock.horizon() == first  # the first page is still being written
    third = clock.start()  # the wall clock stepped back (5 ms): never before an earlier stamp
    assert third == second
    clock.written(first)
    clock.written(third)
    horizon = clock.horizon()
    assert horizon == datetime(2026, 12, 1, 0, 0, 0, 20_000, tzinfo=UTC)
    assert clock.start() >= horizon  # a page stamped after a horizon is not before it


def test_a_spec_round_trips_to_the_same_query() -> None:
    query = SearchQuery(text="go", near=GeoPoint(52.5, 13.4), radius="10km", salary_min=5)
    spec = SavedSearch("n", query, "2026-12-01T00:00:00.000Z").spec()
    assert spec == {
        "text": "go",
        "near": {"lat": 52.5, "lon": 13.4},
        "radius": "10km",
        "salary_min": 5,
    }
    assert match_query(query_from_spec(spec)) == match_query(query)


def test_status_lines_name_failing_deliveries() -> None:
    lines = alerts_lines(
        {
            "saved_searches": 2,
            "matches": 5,
            "undelivered": 3,
            "change_events": None,
            "failing_deliveries": {
                "x": {"failing": 3, "failed_at": "2026-12-01T00:00:00Z", "last_error": "HTTP 503"}
            },
        }
    )
    assert lines[0] == "alerts: 2 saved searches, 5 matches, 3 undelivered; change stream: off"
    assert "'x'" in lines[1]
    assert "HTTP 503" in lines[1]
    assert alerts_lines(None) == []
    later = alerts_lines(
        {
            "saved_searches": 1,
            "matches": 1,
            "undelivered": 0,
            "change_events": 4,
            "failing_deliveries": {},
            "matched_through": "2026-12-01T10:00:00.000Z",
        }
    )
    assert later == [
        "alerts: 1 saved search, 1 match, 0 undelivered, jobs written before "
        "2026-12-01T10:00:00.000Z matched; change stream: 4 events"
    ]


def test_a_pass_names_each_match_as_every_other_writer_of_it_would() -> None:
    ids = MatchIds("remote python", "2026-12-01T10:00:00.000Z")
    for job_id in ("j1", "0c5e-ünïcode", ""):
        assert ids(job_id) == match_id("remote python", "2026-12-01T10:00:00.000Z", job_id)
    assert ids("j1") != MatchIds("remote python", "2026-12-01T10:00:00.001Z")("j1")
