"""The page writer: one feed page into the index, and what is counted once it is acknowledged.

For each page, in a writer thread (pages in any order):

1. drop the jobs the index already holds at that very version (``known_versions``: a re-sync
   knows them from its read of the index; OpenSearch would refuse them as version conflicts);
2. transform the rest (one index operation per valid job, one dead letter per rejected one);
3. bulk-write them (``BulkWriter``, one per thread).

Then, strictly in fetch order and only once OpenSearch answered for every item of the page,
``acknowledged`` adds the page to the run's summary, checks the error budget, and hands the jobs
written with a new version to ``on_new_versions`` (see ``PageWriter``).

Every ``alerts_pass_jobs`` new versions, and at the end of the scan (``finish``), the recorder is
asked to match what was written (the alerts, :mod:`indexer.alerts.matcher`) up to the horizon of
the page writer's :class:`WriteClock`: a moment no page still being written is stamped before.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from indexer.errors import ErrorBudgetExceededError
from indexer.feed import FeedPage
from indexer.store.bulk import (
    BulkResult,
    BulkWriter,
    DeadLetter,
    DeleteOp,
    ErrorBudget,
    ExpireOp,
    IndexOp,
)
from indexer.sync.checkpoint import job_id
from indexer.sync.context import RunSummary, Services, SyncSettings
from indexer.timestamps import utcnow
from indexer.transform import InvalidJob, document_and_version, version_of

KnownVersions = Callable[[list[str]], dict[str, int]]
NewVersions = Callable[[FeedPage, list[IndexOp]], None]


@dataclass(frozen=True)
class PageOutcome:
    """What writing one page did."""

    result: BulkResult
    rejected: int  # jobs the transform rejected (dead-lettered as bad input)
    # The jobs sent with a version the index did not hold (kept only for ``on_new_versions``).
    new_versions: list[IndexOp] = field(default_factory=list)


class WriteClock:
    """The ``indexed_at`` of each page, and the horizon: the moment before which every page
    stamped is written.

    ``start()`` stamps a page (millisecond precision, as stored; never before an earlier
    stamp or horizon), ``written(stamp)`` says its write was answered, and ``horizon()`` is the
    oldest stamp still being written, or now when none is. A job stamped before the horizon is
    durable; one stamped later is stamped at or after it.
    """

    def __init__(self, now: Callable[[], datetime] = utcnow) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._last: datetime | None = None
        self._writing: Counter[datetime] = Counter()

    def _tick(self) -> datetime:
        moment = self._now()
        moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        if self._last is not None and moment < self._last:
            moment = self._last
        self._last = moment
        return moment

    def start(self) -> datetime:
        with self._lock:
            stamp = self._tick()
            self._writing[stamp] += 1
            return stamp

    def written(self, stamp: datetime) -> None:
        with self._lock:
            self._writing[stamp] -= 1
            if self._writing[stamp] <= 0:
                del self._writing[stamp]

    def horizon(self) -> datetime:
        with self._lock:
            return min(self._writing) if self._writing else self._tick()


class WriterPool:
    """One BulkWriter per worker thread (they keep per-request buffers)."""

    def __init__(self, svc: Services, settings: SyncSettings) -> None:
        self._local = threading.local()
        self._svc = svc
        self._settings = settings

    def get(self) -> BulkWriter:
        writer = getattr(self._local, "writer", None)
        if writer is None and self._svc.bulk_writer is not None:
            writer = self._local.writer = self._svc.bulk_writer()
        if writer is None:
            writer = BulkWriter(
                self._svc.client,
                index=self._svc.names.write_alias,
                dead_letter_index=self._svc.names.dead_letters,
                max_docs=self._settings.bulk_max_docs,
                max_bytes=self._settings.bulk_max_bytes,
            )
            self._local.writer = writer
        return writer


class PageWriter:
    """Drop known versions, transform, write: ``process`` (any thread) then ``acknowledged``
    (in fetch order).

    The seam for what a page changed: ``on_new_versions(page, ops)`` is called from
    ``acknowledged``, once per acknowledged page, in feed order, with the index operations of
    the jobs sent with a version the index did not hold (an alert on new or changed jobs hooks
    in here, and only here: what it is handed is durable, and a replayed page after a crash
    hands the same jobs again, so it must be idempotent). Without it, no operation is kept past
    its write. A job the index turns out to hold at a newer version is still among ``ops`` (it
    counts as ``unchanged`` in the summary): compare versions if that matters.
    """

    def __init__(
        self,
        svc: Services,
        settings: SyncSettings,
        summary: RunSummary,
        *,
        known_versions: KnownVersions | None = None,
        on_new_versions: NewVersions | None = None,
        resumed_from: str | None = None,
    ) -> None:
        self._writers = WriterPool(svc, settings)
        self._recorder = svc.recorder
        # The start of the scan a resumed one continues: what a dead run of it may have written
        # without recording it (the recorder recovers those versions).
        self._resumed_from = resumed_from
        self._summary = summary
        self._budget = settings.error_budget
        self._known_versions = known_versions
        self._on_new_versions = on_new_versions
        self._clock = WriteClock()
        self._pass_jobs = settings.alerts_pass_jobs
        self._unmatched = 0  # new versions since the last matching pass was asked for

    def process(self, page: FeedPage) -> PageOutcome:
        now = self._clock.start()
        outcome = self._process(page, now)
        self._clock.written(now)  # not on an error: the horizon stays before this page
        return outcome

    def _process(self, page: FeedPage, now: datetime) -> PageOutcome:
        jobs, unchanged = page.jobs, 0
        if self._known_versions is not None:
            jobs = drop_known(page.jobs, self._known_versions)
            unchanged = len(page.jobs) - len(jobs)
        ops = page_operations(jobs, now) if jobs else []
        rejected = sum(1 for op in ops if isinstance(op, DeadLetter))
        if self._recorder is None:
            result = self._writers.get().write(ops) if ops else BulkResult()
        else:  # its change events recorded before the page is acknowledged
            result = self._recorder.write_page(
                ops,
                self._writers.get(),
                scan_started_at=self._resumed_from,
                known=self._replayed_known(page, jobs, now)
                if self._recorder.records_changes
                else [],
            )
        result.unchanged += unchanged
        kept = [op for op in ops if isinstance(op, IndexOp)] if self._on_new_versions else []
        return PageOutcome(result, rejected, kept)

    def _replayed_known(self, page: FeedPage, sent: list[Any], now: datetime) -> list[IndexOp]:
        """In a resumed scan, the jobs dropped as known: a dead run of this scan may have
        written them without recording them (a fresh scan's known versions predate it)."""
        if self._resumed_from is None or len(sent) == len(page.jobs):
            return []
        kept = {id(job) for job in sent}
        dropped = [job for job in page.jobs if id(job) not in kept]
        return [op for op in page_operations(dropped, now) if isinstance(op, IndexOp)]

    def acknowledged(self, page: FeedPage, outcome: PageOutcome) -> None:
        summary = self._summary
        summary.add(outcome.result)
        summary.rejected += outcome.rejected
        summary.pages += 1
        summary.fetched += len(page.jobs)
        check_budget(summary, self._budget)
        if self._on_new_versions is not None:
            self._on_new_versions(page, outcome.new_versions)
        self._unmatched += outcome.result.indexed
        if self._recorder is not None and self._unmatched >= self._pass_jobs:
            self._unmatched = 0
            self._recorder.match_written(self._clock.horizon(), wait=False)

    def finish(self) -> None:
        """The scan wrote its last page: match what it wrote (waits for the pass)."""
        if self._recorder is not None:
            self._unmatched = 0
            self._recorder.match_written(self._clock.horizon(), wait=True)


def drop_known(jobs: list[dict[str, Any]], known_versions: KnownVersions) -> list[dict[str, Any]]:
    """The jobs whose version the index does not hold yet (malformed jobs are kept: the
    transform dead-letters them with their reason)."""
    known = known_versions([i for i in map(job_id, jobs) if i])
    if not known:
        return jobs
    kept = []
    for job in jobs:
        ident = job_id(job)
        if ident in known:
            try:
                if version_of(job) == known[ident]:
                    continue
            except InvalidJob:
                pass
        kept.append(job)
    return kept


def page_operations(jobs: list[dict[str, Any]], indexed_at: datetime) -> list[IndexOp | DeadLetter]:
    """Transform a page: one index operation per valid job, one dead letter per rejected one."""
    ops: list[IndexOp | DeadLetter] = []
    for job in jobs:
        try:
            document, version = document_and_version(job, indexed_at=indexed_at)
            ops.append(IndexOp(id=document["id"], version=version, document=document, raw=job))
        except InvalidJob as exc:
            ops.append(
                DeadLetter(
                    id=exc.job_id or "",
                    reason=str(exc),
                    stage="transform",
                    raw=job,
                    field=exc.field,
                )
            )
    return ops


def check_budget(summary: RunSummary, budget: ErrorBudget) -> None:
    """Fail the run when OpenSearch refused too many documents.

    Bad input (jobs the transform rejected) is dead-lettered and reported but does not count: a
    feed that sends malformed jobs must not stop the good ones. What counts is documents the
    index refused or that kept failing after retries: a sign that the index, not the feed, is
    wrong, so the run stops before it deletes or moves the watermark.
    """
    refused = summary.dead_lettered - summary.rejected
    answered = summary.indexed + summary.unchanged + refused
    total = BulkResult(indexed=answered - refused, dead_lettered=refused)
    if total.exceeds(budget):
        raise ErrorBudgetExceededError(
            f"OpenSearch refused {refused} of {answered} documents ({summary.failed} after "
            f"exhausting retries), more than the error budget allows; no deletion was made and "
            f"the watermark did not move. See the dead-letter index {summary.kind!r} run's "
            f"reasons, fix the cause (mapping, cluster health), then run the same command again."
        )


def write_ops(
    svc: Services,
    settings: SyncSettings,
    summary: RunSummary,
    ops: Iterator[ExpireOp | DeleteOp],
    *,
    on_batch: Callable[[int], None] | None = None,
) -> None:
    """Expiries and deletions in bulk batches; ``on_batch(n)`` after each batch is written."""
    writer = WriterPool(svc, settings).get()
    recorder = svc.recorder

    def write(batch: list[ExpireOp | DeleteOp]) -> None:
        summary.add(recorder.write_expiries(batch, writer) if recorder else writer.write(batch))
        if on_batch:
            on_batch(len(batch))

    batch: list[ExpireOp | DeleteOp] = []
    for op in ops:
        batch.append(op)
        if len(batch) >= settings.bulk_max_docs:
            write(batch)
            batch = []
    if batch:
        write(batch)


def expiry_ops(ids: Iterator[str], action: str, expired_at: str) -> Iterator[ExpireOp | DeleteOp]:
    for ident in ids:
        yield (
            DeleteOp(id=ident) if action == "delete" else ExpireOp(id=ident, expired_at=expired_at)
        )
