"""A scan of the feed, page by page, through the pipeline, from its checkpoint.

Its named parts, in the order a page meets them::

    FeedScan ───pages──▶ Pipeline ──▶ PageWriter.process      (writer threads, any order)
                                  └─▶ acknowledged, in fetch order:
                                        PageWriter.acknowledged  (summary, budget, new versions)
                                        evidence.record_ids      (a re-sync: the page's ids)
                                        ScanCheckpoint.advance   (stored in the background)
                                        progress

- ``FeedScan`` (``indexer.feed``) pages the feed from the checkpoint's cursor, asks before each
  page whether the credits allow it, and restarts from the first page when the feed refuses a
  cursor (at most ``max_cursor_restarts`` times; writes are idempotent).
- ``PageWriter`` (``page_writer.py``) drops known versions, transforms and writes.
- ``ScanCheckpoint`` (``checkpoint.py``) advances on acknowledged pages only.
- ``ScanEvidence``: what a re-sync adds (``resync.py``'s ``ResyncEvidence``): the versions the
  index holds, and every acknowledged page's ids.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from indexer.feed import FeedPage, FeedRequest, FeedScan
from indexer.progress import Progress
from indexer.sync.checkpoint import ScanCheckpoint, job_id
from indexer.sync.context import RunSummary, Services, SyncSettings, upstream
from indexer.sync.credits import check_full_scan, may_fetch
from indexer.sync.page_writer import NewVersions, PageOutcome, PageWriter
from indexer.sync.pipeline import Pipeline

log = logging.getLogger("indexer.sync")


class ScanEvidence(Protocol):
    """What a scan collects besides writing pages (a re-sync's evidence)."""

    def fresh_start(self, doc: dict[str, Any]) -> None: ...
    def can_resume(self, doc: dict[str, Any]) -> bool: ...
    def start(self, doc: dict[str, Any]) -> None: ...
    def known_versions(self, ids: list[str]) -> dict[str, int]: ...
    def record_ids(self, ids: list[str]) -> None: ...


def _counted(scan: FeedScan, summary: RunSummary, progress: Progress) -> Iterator[FeedPage]:
    """The scan's pages, each one's credits recorded; the first page's total sets progress's."""
    for page in scan:
        summary.credits.record(page)
        if scan.first_page and page.estimated_total is not None:
            progress.set_total(page.estimated_total)
        yield page


def scan_feed(
    svc: Services,
    settings: SyncSettings,
    summary: RunSummary,
    *,
    key: str,
    request: FeedRequest,
    label: str,
    evidence: ScanEvidence | None = None,
    on_new_versions: NewVersions | None = None,
) -> ScanCheckpoint:
    """Page the feed for ``request`` through the pipeline, checkpointing under ``key``.

    Resumes an unfinished scan of the same request (one ``evidence`` accepts). Returns the
    checkpoint; its ``completed`` flag says whether the scan reached the end (it does not when
    a stop was requested). With ``evidence``, jobs the index holds at that very version are
    counted unchanged without being transformed or sent. ``on_new_versions``: see PageWriter.
    """
    checkpoint = ScanCheckpoint(svc.state, key)
    resumed = _resume_or_start(
        checkpoint, request, summary, key=key, label=label, evidence=evidence
    )
    # A resumed scan keeps the total the first page announced and counts on from what the
    # earlier run acknowledged, so its progress shows a percentage and an ETA again.
    progress = svc.progress(label, checkpoint.doc.get("estimated_total"))
    progress.resume_from(int(checkpoint.doc.get("jobs", 0)))
    writer = PageWriter(
        svc,
        settings,
        summary,
        known_versions=evidence.known_versions if evidence else None,
        on_new_versions=on_new_versions,
        resumed_from=checkpoint.doc.get("started_at") if resumed else None,
    )

    def acknowledged(page: FeedPage, outcome: PageOutcome) -> None:
        writer.acknowledged(page, outcome)
        if evidence is not None:
            evidence.record_ids([i for i in map(job_id, page.jobs) if i])
        checkpoint.advance(page)
        progress.advance(len(page.jobs))

    jobo = upstream(svc)
    scan = FeedScan(
        jobo,
        request,
        cursor=checkpoint.doc.get("cursor"),
        max_cursor_restarts=settings.max_cursor_restarts,
        may_fetch=lambda: may_fetch(jobo, summary.credits, request.batch_size, label),
        on_restart=lambda _refused: summary.count_cursor_restart(),
    )
    pipeline: Pipeline[FeedPage, PageOutcome] = Pipeline(
        process=writer.process,
        on_acknowledged=acknowledged,
        size_of=lambda page: max(page.body_bytes, 1),
        concurrency=settings.bulk_concurrency,
        queue_bytes=settings.queue_bytes,
        stop=svc.stop,
    )
    try:
        if evidence is not None:
            evidence.start(checkpoint.doc)
        with checkpoint.saving_in_background():
            pipeline.run(_counted(scan, summary, progress))
        writer.finish()
    finally:
        progress.close(finished=checkpoint.completed)
    return checkpoint


def _resume_or_start(
    checkpoint: ScanCheckpoint,
    request: FeedRequest,
    summary: RunSummary,
    *,
    key: str,
    label: str,
    evidence: ScanEvidence | None,
) -> bool:
    """Resume the checkpoint's scan (True) or start a fresh one (False)."""
    body = request.to_body()
    if checkpoint.resumable_for(body) and (evidence is None or evidence.can_resume(checkpoint.doc)):
        log.info(
            "%s: resuming from page %s (%s jobs acknowledged before)",
            label,
            checkpoint.doc.get("pages", 0),
            checkpoint.doc.get("jobs", 0),
        )
        summary.steps.append(f"{key}: resumed at page {checkpoint.doc.get('pages', 0)}")
        return True
    checkpoint.start_fresh(body)
    if evidence is not None:
        evidence.fresh_start(checkpoint.doc)
    checkpoint.save()
    return False


def check_before_full_scan(
    svc: Services,
    summary: RunSummary,
    *,
    kind: str,
    request: FeedRequest,
    can_resume: Callable[[dict[str, Any]], bool] = lambda doc: True,
    allow_partial: bool = False,
) -> None:
    """Refuse a full scan (keyed ``kind``) the wallet cannot pay for, before it begins."""
    checkpoint = ScanCheckpoint(svc.state, kind)
    resumes = checkpoint.resumable_for(request.to_body()) and can_resume(checkpoint.doc)
    done = int(checkpoint.doc.get("jobs", 0)) if resumes else 0
    estimate = check_full_scan(
        upstream(svc), summary.credits, kind=kind, done_jobs=done, allow_partial=allow_partial
    )
    if estimate is not None:
        summary.steps.append(estimate.describe())
