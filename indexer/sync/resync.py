"""The full re-sync: scan the whole feed, then expire what the index has and the feed no longer has.

One read of the index per re-sync, overlapped with the feed scan::

    feed scan (pipeline) ── every acknowledged page's ids ──▶ spill: feed_ids  (appended)
         ▲ versions the index holds (skip unchanged jobs)
         │
    index read (thread, PIT + search_after) ── (id, version, active) ──▶ spill: index_ids
                                                                             │
    after the last page:  anti-join on disk (active index ids no page had) ──▶ spill: missing
                          ──▶ expiry in bulk (capped) ──▶ the sync state

Memory stays flat whatever the feed size: both sides live in one SQLite scratch file
(``evidence.py``, ``resync_spill.py``, ``index_read.py``).

Deletions only on complete evidence: the feed scan reached ``has_more: false`` with no failed
page, every job had an id (unless ``--force``), the error budget held, the index read reached its
end, and no more than ``max_expire_fraction`` of the active jobs are at stake (unless
``--force``). Anything less expires nothing. Resumable: a stopped or killed re-sync goes on from
its checkpoint with the very spill file it wrote (``spill.py`` refuses another ``--work-dir``).
"""

from __future__ import annotations

import logging

from indexer.errors import DeletionRefusedError
from indexer.feed import FeedRequest
from indexer.store.state_docs import SyncWatermark
from indexer.sync.checkpoint import ScanCheckpoint, save_watermark
from indexer.sync.context import RunSummary, Services, SyncSettings
from indexer.sync.evidence import ResyncEvidence
from indexer.sync.feed_scan import check_before_full_scan, scan_feed
from indexer.sync.page_writer import expiry_ops, write_ops
from indexer.sync.runs import run_locked
from indexer.sync.spill import check_resync_spill, spill_path
from indexer.timestamps import format_timestamp, parse_timestamp, utcnow

log = logging.getLogger("indexer.sync")


def resync(svc: Services, settings: SyncSettings) -> RunSummary:
    """Full scan of the feed, then expire what the index has and the feed no longer has."""
    return run_locked(svc, settings, "resync", run_resync)


def run_resync(svc: Services, settings: SyncSettings, summary: RunSummary) -> None:
    """The re-sync's body (also run by ``sync`` when its sweep cannot cover the gap)."""
    path = spill_path(settings.work_dir, svc.names.base)
    check_resync_spill(svc.state, path, restart=settings.restart)
    evidence = ResyncEvidence(
        svc.client, svc.names.all_alias, path, progress=svc.progress, stop=svc.stop
    )
    request = FeedRequest(batch_size=settings.batch_size)
    try:
        check_before_full_scan(
            svc, summary, kind="resync", request=request, can_resume=evidence.can_resume
        )
        checkpoint = scan_feed(
            svc, settings, summary, key="resync", request=request, label="resync", evidence=evidence
        )
        if not checkpoint.completed:
            summary.outcome = "stopped"
            summary.message = "stopped before the end of the feed; nothing expired; resumable"
            return
        _refuse_without_ids(checkpoint, settings)
        missing = evidence.reconcile()
        if missing is None:  # a stop request ended the index read
            summary.outcome = "stopped"
            summary.message = "stopped before the index read ended; nothing expired"
            return
        _refuse_too_many(svc, settings, missing)
        _expire(svc, settings, summary, evidence, missing)
        summary.steps.append(f"resync: {evidence.feed_count()} feed ids, {missing} expired")
        _record(svc, checkpoint)
        evidence.discard()
    finally:
        evidence.close()


def _refuse_without_ids(checkpoint: ScanCheckpoint, settings: SyncSettings) -> None:
    anonymous = int(checkpoint.doc.get("anonymous_jobs", 0))
    if anonymous and not settings.force:
        raise DeletionRefusedError(
            f"resync: the feed scan completed but {anonymous} jobs had no usable id, so the "
            f"evidence is incomplete and nothing was expired; see the dead-letter index, or "
            f"rerun with --force to expire anyway"
        )


def _refuse_too_many(svc: Services, settings: SyncSettings, missing: int) -> None:
    active = svc.client.count(index=svc.names.read_alias)["count"]
    limit = settings.max_expire_fraction * active
    if missing and missing > limit and not settings.force:
        raise DeletionRefusedError(
            f"resync: {missing} of {active} active jobs are no longer in the feed, more than "
            f"--max-expire-fraction {settings.max_expire_fraction} allows; nothing was "
            f"expired. Check the feed (filters, key entitlements), then rerun with --force "
            f"if this is expected"
        )


def _expire(
    svc: Services,
    settings: SyncSettings,
    summary: RunSummary,
    evidence: ResyncEvidence,
    missing: int,
) -> None:
    if not missing:
        return
    progress = svc.progress("resync: expire", missing)
    try:
        write_ops(
            svc,
            settings,
            summary,
            expiry_ops(evidence.missing_ids(), settings.expired_action, format_timestamp(utcnow())),
            on_batch=progress.advance,
        )
    finally:
        progress.close()


def _record(svc: Services, checkpoint: ScanCheckpoint) -> None:
    """The whole feed is in the index as of the scan's start: the incremental sync and the
    sweep take over from there."""
    started_at = parse_timestamp(checkpoint.doc["started_at"])
    completed_at = parse_timestamp(checkpoint.doc["completed_at"])
    watermark = SyncWatermark.load(svc.state)
    if watermark.backfill_completed_at is None:  # a resync fills the index as a backfill does
        watermark.backfill_completed_at = completed_at
    watermark.last_run_started_at = watermark.last_sweep_at = started_at
    watermark.last_resync_at = completed_at
    save_watermark(svc.state, watermark)
    checkpoint.doc["reconciled_at"] = format_timestamp(utcnow())
    checkpoint.save()
