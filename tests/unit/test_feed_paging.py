"""FeedScan and expired_ids: the cursor rules, against an in-memory feed (no HTTP)."""

from __future__ import annotations

import pytest

from indexer.feed import FeedRequest, FeedScan, JoboCursorError, JoboResponseError, expired_ids
from tests.support.memory_feed import MemoryExpired, MemoryFeed

JOBS = [{"id": f"j{i}"} for i in range(5)]


def ids(pages: list) -> list[str]:
    return [job["id"] for page in pages for job in page.jobs]


def test_a_scan_yields_every_page_once_in_order_and_marks_the_first() -> None:
    feed = MemoryFeed(JOBS)
    scan = FeedScan(feed, FeedRequest())
    firsts = []
    pages = []
    for page in scan:
        pages.append(page)
        firsts.append(scan.first_page)
    assert ids(pages) == [job["id"] for job in JOBS]
    assert firsts == [True, False, False]
    assert feed.calls == [None, "c1", "c2"]


def test_a_resumed_scan_starts_after_its_cursor_and_has_no_first_page() -> None:
    feed = MemoryFeed(JOBS)
    scan = FeedScan(feed, FeedRequest(), cursor="c1")
    pages = list(scan)
    assert ids(pages) == ["j2", "j3", "j4"]
    assert scan.first_page is False


def test_a_cursor_that_does_not_move_fails_instead_of_looping() -> None:
    feed = MemoryFeed(JOBS, stuck={"c1"})
    with pytest.raises(JoboResponseError, match="returned the cursor it was given"):
        list(FeedScan(feed, FeedRequest()))
    assert feed.calls == [None, "c1"]


def test_the_guard_also_holds_on_the_first_page_of_a_resumed_scan() -> None:
    feed = MemoryFeed(JOBS, stuck={"c2"})
    with pytest.raises(JoboResponseError, match="paging would loop"):
        list(FeedScan(feed, FeedRequest(), cursor="c2"))
    assert feed.calls == ["c2"]


def test_a_refused_cursor_restarts_from_the_first_page_with_the_same_filters() -> None:
    feed = MemoryFeed(JOBS, refuse={"c2": 1})
    restarts: list[JoboCursorError] = []
    scan = FeedScan(feed, FeedRequest(), max_cursor_restarts=1, on_restart=restarts.append)
    pages = list(scan)
    assert feed.calls == [None, "c1", "c2", None, "c1", "c2"]
    assert ids(pages) == ["j0", "j1", "j2", "j3", "j0", "j1", "j2", "j3", "j4"]
    assert scan.restarts == 1
    assert len(restarts) == 1


def test_restarts_are_bounded() -> None:
    feed = MemoryFeed(JOBS, refuse={"c1": 5})
    scan = FeedScan(feed, FeedRequest(), max_cursor_restarts=2)
    with pytest.raises(JoboCursorError):
        list(scan)
    assert scan.restarts == 2
    assert feed.calls == [None, "c1", None, "c1", None, "c1"]


def test_a_spent_cursor_409_restarts_too() -> None:
    feed = MemoryFeed(JOBS, spent={"c2"})
    scan = FeedScan(feed, FeedRequest(), max_cursor_restarts=1)
    with pytest.raises(JoboCursorError):
        list(scan)
    assert scan.restarts == 1


def test_may_fetch_is_asked_before_every_page_and_stops_the_scan() -> None:
    feed = MemoryFeed(JOBS)
    allowed = iter([True, True, False])
    pages = list(FeedScan(feed, FeedRequest(), may_fetch=lambda: next(allowed)))
    assert len(pages) == 2
    assert feed.calls == [None, "c1"]


def test_expired_ids_skips_empty_pages_and_guards_the_cursor() -> None:
    source = MemoryExpired([["a", "b"], [], ["c"]])
    assert list(expired_ids(source, None)) == [["a", "b"], ["c"]]
    assert source.calls == [None, "e1", "e2"]
    stuck = MemoryExpired([["a"], ["b"], ["c"]], stuck={"e1"})
    with pytest.raises(JoboResponseError, match="paging would loop"):
        list(expired_ids(stuck, None))
