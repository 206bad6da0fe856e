"""The fetch -> queue -> workers pipeline: acknowledgement order, bounded memory, errors, stop."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest

from indexer.sync.pipeline import ByteBoundedQueue, Pipeline


def pages(n: int, size: int = 10) -> Iterator[tuple[int, int]]:
    for i in range(n):
        yield (i, size)


def test_pages_are_acknowledged_in_fetch_order_although_they_finish_out_of_order() -> None:
    acknowledged: list[int] = []

    def process(page: tuple[int, int]) -> int:
        time.sleep(random.uniform(0, 0.01))  # workers finish in a random order
        return page[0] * 10

    def ack(page: tuple[int, int], result: int) -> None:
        assert result == page[0] * 10
        acknowledged.append(page[0])

    stats = Pipeline(
        process=process, on_acknowledged=ack, size_of=lambda p: p[1], concurrency=4
    ).run(pages(200))
    assert acknowledged == list(range(200))
    assert stats.pages_fetched == stats.pages_acknowledged == 200


def test_queue_stays_within_its_byte_budget() -> None:
    release = threading.Event()

    def process(page: tuple[int, int]) -> int:
        release.wait(5)
        return 0

    pipeline = Pipeline(
        process=process,
        on_acknowledged=lambda p, r: None,
        size_of=lambda p: p[1],
        concurrency=1,
        queue_bytes=100,
    )
    timer = threading.Timer(0.3, release.set)
    timer.start()
    stats = pipeline.run(pages(50, size=30))
    # 100 bytes of 30-byte pages: at most 3 wait in the queue (plus one being processed).
    assert stats.peak_queue_bytes <= 100
    assert stats.pages_acknowledged == 50


def test_a_failing_page_stops_the_run_and_nothing_after_it_is_acknowledged() -> None:
    acknowledged: list[int] = []

    def process(page: tuple[int, int]) -> int:
        if page[0] == 7:
            raise RuntimeError("bulk write failed on page 7")
        return 0

    pipeline = Pipeline(
        process=process,
        on_acknowledged=lambda p, r: acknowledged.append(p[0]),
        size_of=lambda p: p[1],
        concurrency=3,
    )
    with pytest.raises(RuntimeError, match="page 7"):
        pipeline.run(pages(100))
    assert 7 not in acknowledged
    assert acknowledged == list(range(len(acknowledged)))  # a contiguous prefix
    assert max(acknowledged, default=-1) < 7


def test_a_fetch_error_is_raised_after_the_fetched_pages_are_settled() -> None:
    def failing_pages() -> Iterator[tuple[int, int]]:
        yield (0, 1)
        yield (1, 1)
        raise ConnectionError("feed unavailable after retries")

    acknowledged: list[int] = []
    pipeline = Pipeline(
        process=lambda p: 0,
        on_acknowledged=lambda p, r: acknowledged.append(p[0]),
        size_of=lambda p: p[1],
        concurrency=2,
    )
    with pytest.raises(ConnectionError):
        pipeline.run(failing_pages())
    assert acknowledged == [0, 1]  # pages fetched (and paid for) before the error are written


def test_stop_finishes_fetched_pages_and_fetches_no_more() -> None:
    stop = threading.Event()
    fetched: list[int] = []

    def source() -> Iterator[tuple[int, int]]:
        for i in range(1000):
            fetched.append(i)
            if i == 5:
                stop.set()  # SIGTERM arrives while page 5 is being fetched
            yield (i, 1)

    acknowledged: list[int] = []
    stats = Pipeline(
        process=lambda p: 0,
        on_acknowledged=lambda p, r: acknowledged.append(p[0]),
        size_of=lambda p: p[1],
        concurrency=2,
        stop=stop,
    ).run(source())
    assert stats.stopped_early
    assert len(fetched) == 6
    assert acknowledged == list(range(6))


def test_byte_bounded_queue_admits_an_oversized_item_when_empty() -> None:
    queue: ByteBoundedQueue[str] = ByteBoundedQueue(10)
    never = threading.Event()
    assert queue.put("big", 50, never)
    assert queue.get() == "big"


def test_collect_rarely_raises_the_gc_threshold_and_restores_it_when_the_last_scan_ends() -> None:
    import gc

    from indexer.sync.pipeline import GC_THRESHOLD, collect_rarely

    before = gc.get_threshold()
    with collect_rarely():
        assert gc.get_threshold()[0] == GC_THRESHOLD
        with collect_rarely():  # a nested or concurrent scan shares the setting
            assert gc.get_threshold()[0] == GC_THRESHOLD
        assert gc.get_threshold()[0] == GC_THRESHOLD
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
