"""The scan flow (feed -> pipeline -> page writer -> checkpoint) with an in-memory feed and
recording doubles of the store: what is written, what is dead-lettered, where the checkpoint
stands after a failure, and that a resumed scan loses nothing."""

from __future__ import annotations

import threading
from typing import Any

import orjson
import pytest

from indexer.feed import FeedRequest
from indexer.simulator.world import FeedQuery, World, wall_clock_ms
from indexer.store.bulk import DeadLetter
from indexer.store.schema import index_names
from indexer.sync.context import RunSummary, Services, SyncSettings
from indexer.sync.feed_scan import scan_feed
from indexer.timestamps import format_timestamp
from tests.support.memory_feed import MemoryFeed
from tests.support.memory_store import MemoryState, RecordingWriter

PAGE = 5


def jobs(count: int) -> list[dict[str, Any]]:
    world = World(seed=11, jobs=count, anchor_ms=wall_clock_ms(), expired_jobs=0)
    page = world.feed_page(FeedQuery(), None, count, with_total=False)
    return [orjson.loads(encoded) for encoded in page.jobs]


def services(feed: MemoryFeed, state: MemoryState, writer: RecordingWriter) -> Services:
    return Services(
        client=None,  # type: ignore[arg-type] (nothing reaches OpenSearch: the doubles stand in)
        jobo=feed,  # type: ignore[arg-type]
        names=index_names("unit"),
        state=state,  # type: ignore[arg-type]
        runs=None,  # type: ignore[arg-type]
        stop=threading.Event(),
        bulk_writer=lambda: writer,  # type: ignore[arg-type,return-value]
    )


def scan(svc: Services, summary: RunSummary) -> Any:
    settings = SyncSettings(batch_size=PAGE, bulk_concurrency=2)
    request = FeedRequest(batch_size=PAGE)
    return scan_feed(svc, settings, summary, key="backfill", request=request, label="backfill")


def test_every_valid_job_is_written_and_a_malformed_one_is_set_aside_with_its_reason() -> None:
    feed_jobs = jobs(23)
    del feed_jobs[7]["updated_at"]  # page 2 of 5: its other four jobs must still be written
    writer, state = RecordingWriter(), MemoryState()
    summary = RunSummary(kind="backfill")
    checkpoint = scan(services(MemoryFeed(feed_jobs, batch_size=PAGE), state, writer), summary)

    assert checkpoint.completed
    assert sorted(writer.ids()) == sorted(j["id"] for i, j in enumerate(feed_jobs) if i != 7)
    letters = [op for op in writer.written if isinstance(op, DeadLetter)]
    assert len(letters) == 1
    assert letters[0].id == feed_jobs[7]["id"]
    assert "updated_at" in letters[0].reason
    assert (summary.indexed, summary.dead_lettered, summary.rejected) == (22, 1, 1)
    assert (summary.pages, summary.fetched) == (5, 23)
    stored = state.docs["backfill"].doc
    assert stored["completed"] is True
    assert (stored["jobs"], stored["pages"], stored["cursor"]) == (23, 5, None)


def test_after_a_failed_write_the_checkpoint_is_behind_the_data_and_a_resume_loses_nothing() -> (
    None
):
    feed_jobs = jobs(40)  # 8 pages
    state = MemoryState()
    failing = RecordingWriter(fail_on_call=4)
    with pytest.raises(ConnectionError):
        scan(services(MemoryFeed(feed_jobs, batch_size=PAGE), state, failing), RunSummary("b"))

    stored = state.docs["backfill"].doc
    assert stored["completed"] is False
    # Every checkpoint ever stored counts only jobs of pages the writer had taken in full.
    assert all(doc["jobs"] <= len(failing.ids()) for key, doc in state.saves if key == "backfill")
    assert stored["jobs"] % PAGE == 0
    assert stored["jobs"] < len(feed_jobs)

    feed = MemoryFeed(feed_jobs, batch_size=PAGE)
    resumed = RecordingWriter()
    summary = RunSummary(kind="backfill")
    checkpoint = scan(services(feed, state, resumed), summary)
    assert checkpoint.completed
    assert feed.calls[0] == stored["cursor"]  # it resumed where the checkpoint stood
    assert {*failing.ids(), *resumed.ids()} == {j["id"] for j in feed_jobs}
    assert len(resumed.ids()) == len(feed_jobs) - stored["jobs"]


def test_a_stop_request_ends_the_scan_short_and_keeps_it_resumable() -> None:
    feed_jobs = jobs(30)
    state, writer = MemoryState(), RecordingWriter()
    svc = services(MemoryFeed(feed_jobs, batch_size=PAGE), state, writer)
    svc.stop.set()  # SIGTERM before the first page
    checkpoint = scan(svc, RunSummary(kind="backfill"))
    assert not checkpoint.completed
    assert writer.ids() == []
    assert state.docs["backfill"].doc["cursor"] is None  # the next run starts at page one


class RecordingRecorder:
    """Stands in for the alerts' recorder: writes through, and records the matching passes
    asked for next to what had been written (every document's ``indexed_at``) at that moment."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stamps: list[str] = []
        self.passes: list[tuple[str, bool, list[str]]] = []

    def write_page(self, ops: Any, writer: Any, *, scan_started_at: Any, known: Any = ()) -> Any:
        result = writer.write(ops)
        with self.lock:
            self.stamps += [op.document["indexed_at"] for op in ops if hasattr(op, "document")]
        return result

    def write_expiries(self, ops: Any, writer: Any) -> Any:
        return writer.write(ops)

    records_changes = False

    def match_written(self, end: Any, *, wait: bool) -> None:
        with self.lock:
            self.passes.append((format_timestamp(end), wait, list(self.stamps)))


def test_matching_passes_are_asked_for_every_n_new_versions_and_at_the_end() -> None:
    feed_jobs = jobs(60)  # 12 pages of 5
    writer, state, recorder = RecordingWriter(), MemoryState(), RecordingRecorder()
    svc = services(MemoryFeed(feed_jobs, batch_size=PAGE), state, writer)
    svc.recorder = recorder  # type: ignore[assignment]
    settings = SyncSettings(batch_size=PAGE, bulk_concurrency=2, alerts_pass_jobs=20)
    request = FeedRequest(batch_size=PAGE)
    scan_feed(svc, settings, RunSummary("backfill"), key="backfill", request=request, label="b")

    waits = [wait for _end, wait, _stamps in recorder.passes]
    assert waits == [False, False, False, True]  # after 20, 40 and 60 new versions; the end
    for end, _wait, written_then in recorder.passes:
        # Every job stamped before a pass's end had been written when it was asked for ...
        assert sorted(s for s in recorder.stamps if s < end) == sorted(
            s for s in written_then if s < end
        )
    final_end = recorder.passes[-1][0]
    assert all(stamp < final_end for stamp in recorder.stamps)  # ... and the last covers all
