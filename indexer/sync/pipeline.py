"""fetch -> bounded queue -> N page workers, with in-order acknowledgement.

One thread fetches feed pages and puts them on a queue bounded in *bytes*; ``concurrency`` worker
threads each take a page, transform and bulk-write it. Pages may finish out of order, but
``on_acknowledged`` is called strictly in fetch order, only for pages whose every item OpenSearch
has answered for: that is where the caller moves its checkpoint, so a checkpoint never runs
ahead of durable data. Memory is bounded by the queue's byte budget plus the pages in flight.

A stop request (SIGTERM) stops fetching; pages already fetched (and paid for) are still written
and acknowledged before ``run`` returns.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger("indexer.pipeline")

P = TypeVar("P")
R = TypeVar("R")


def _malloc_trim() -> None:
    """Give freed page memory back to the OS (glibc only; a no-op elsewhere).

    Pages are decoded in the fetch thread and freed in the writer threads, and their large
    strings live in per-thread malloc arenas: without a trim, the process keeps the high-water
    mark of every arena and its RSS creeps up with the length of the scan.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _fix_mmap_threshold() -> None:
    """Keep big buffers (page bodies, bulk bodies: megabytes each) in mmap'd memory.

    glibc raises its mmap threshold each time such a buffer is freed, after which the next ones
    come from the heap and leave it fragmented. A fixed 1 MiB threshold gives every big buffer
    back to the OS as soon as it is freed (glibc only; a no-op elsewhere).
    """
    if _LIBC is not None and hasattr(_LIBC, "mallopt"):
        _LIBC.mallopt(_M_MMAP_THRESHOLD, 1024 * 1024)


_M_MMAP_THRESHOLD = -3


def _load_libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _load_libc()


# Container allocations (net) between two runs of the cyclic garbage collector during a scan.
GC_THRESHOLD = 200_000
_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, int, int] = (700, 10, 10)


@contextlib.contextmanager
def collect_rarely() -> Iterator[None]:
    """Run the cyclic garbage collector rarely while pages stream through.

    A decoded page is ~35,000 dicts and lists, freed by reference counting when the page is
    written; they hold no cycles, but at the default threshold (a collection per 700 net
    allocations) the collector re-walks every live page many times: measured on a 20,000-job
    backfill, 1,300 collections took 0.9 s, 23% of the indexer's CPU. Here the objects alive
    before the scan (modules, clients) are frozen out of collections and the first generation
    is collected every 200,000 net allocations (more than the pages in flight hold, so a scan
    rarely triggers one; cyclic garbage is still collected). Nested and concurrent scans share
    one setting; the last one out restores the process's own.
    """
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(GC_THRESHOLD, *_gc_saved[1:])
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0:
                gc.set_threshold(*_gc_saved)
                gc.unfreeze()


class ByteBoundedQueue(Generic[P]):
    """A FIFO whose total size in bytes stays under ``capacity`` (one oversized item may pass)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque[tuple[P | None, int]] = deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self.peak_bytes = 0

    def put(self, item: P | None, size: int, abort: threading.Event) -> bool:
        """Block while full; returns False if ``abort`` was set while waiting."""
        with self._cond:
            while self._items and self._bytes + size > self.capacity:
                if abort.is_set():
                    return False
                self._cond.wait(0.2)
            self._items.append((item, size))
            self._bytes += size
            self.peak_bytes = max(self.peak_bytes, self._bytes)
            self._cond.notify_all()
            return True

    def get(self) -> P | None:
        with self._cond:
            while not self._items:
                self._cond.wait()
            item, size = self._items.popleft()
            self._bytes -= size
            self._cond.notify_all()
            return item

    def close(self, consumers: int) -> None:
        """Wake every consumer with an end-of-stream marker (None)."""
        with self._cond:
            for _ in range(consumers):
                self._items.append((None, 0))
            self._cond.notify_all()


@dataclass
class PipelineStats:
    pages_fetched: int = 0
    pages_acknowledged: int = 0
    peak_queue_bytes: int = 0
    stopped_early: bool = False


@dataclass
class _Slot(Generic[P, R]):
    seq: int
    page: P
    result: R | None = None


@dataclass
class Pipeline(Generic[P, R]):
    """Runs ``process`` over ``pages`` with ``concurrency`` workers; see the module docstring."""

    process: Callable[[P], R]
    on_acknowledged: Callable[[P, R], None]
    size_of: Callable[[P], int]
    concurrency: int = 2
    queue_bytes: int = 64 * 1024 * 1024
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self, pages: Iterator[P]) -> PipelineStats:
        _fix_mmap_threshold()
        stats = PipelineStats()
        queue: ByteBoundedQueue[_Slot[P, R]] = ByteBoundedQueue(self.queue_bytes)
        abort = threading.Event()
        errors: list[BaseException] = []
        # A fetch error ends fetching but not writing: pages already fetched (and paid for) are
        # still written and acknowledged, as on a stop request, before the error is raised.
        fetch_errors: list[BaseException] = []
        done: dict[int, _Slot[P, R]] = {}
        ack_lock = threading.Lock()
        next_ack = [0]

        def fail(exc: BaseException) -> None:
            with ack_lock:
                errors.append(exc)
            abort.set()

        # Pages held at once (fetched, queued, being written or waiting for their turn to be
        # acknowledged): one per writer plus one ahead. The next page is fetched only when a
        # slot frees, so memory stays flat from the first pages on, whatever the feed size.
        slots = threading.Semaphore(self.concurrency + 1)

        def take_slot() -> bool:
            while not slots.acquire(timeout=0.2):
                if abort.is_set():
                    return False
            return True

        def fetch() -> None:
            seq = 0
            try:
                while take_slot():
                    if self.stop.is_set() or abort.is_set():  # no page is fetched after a stop
                        stats.stopped_early = self.stop.is_set()
                        break
                    page = next(pages, None)
                    if page is None:
                        break
                    if not queue.put(_Slot(seq, page), self.size_of(page), abort):
                        break
                    seq += 1
                    stats.pages_fetched = seq
            except BaseException as exc:
                fetch_errors.append(exc)
            finally:
                queue.close(self.concurrency)

        def acknowledge(slot: _Slot[P, R]) -> None:
            with ack_lock:
                done[slot.seq] = slot
                while next_ack[0] in done and not errors:
                    ready = done.pop(next_ack[0])
                    assert ready.result is not None
                    self.on_acknowledged(ready.page, ready.result)
                    next_ack[0] += 1
                    stats.pages_acknowledged += 1
                    del ready
                    slots.release()
                    _malloc_trim()

        def work() -> None:
            while True:
                slot = queue.get()
                if slot is None:
                    return
                if abort.is_set():
                    continue  # drain without processing: an earlier page failed
                try:
                    slot.result = self.process(slot.page)
                    acknowledge(slot)
                except BaseException as exc:
                    fail(exc)

        threads = [threading.Thread(target=fetch, name="feed-fetch", daemon=True)]
        threads += [
            threading.Thread(target=work, name=f"bulk-writer-{i}", daemon=True)
            for i in range(self.concurrency)
        ]
        with collect_rarely():
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        stats.peak_queue_bytes = queue.peak_bytes
        if errors:
            raise errors[0]
        if fetch_errors:
            raise fetch_errors[0]
        return stats
