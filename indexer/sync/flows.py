"""The sync flows: backfill, incremental sync, expired sweep, full re-sync reconciliation.

Rules they keep (each written against a way that other index syncers are known to fail):

- A checkpoint moves only after OpenSearch acknowledged every item before it (``Pipeline``
  acknowledges pages in fetch order); every write is idempotent (external versioning), so a crash
  between a write and its checkpoint only replays work.
- A scan resumes from its stored cursor; a refused cursor (400 invalid / 409 spent) restarts the
  scan from the first page, with a log line.
- Expiry by reconciliation happens only on complete evidence: the feed scan reached
  ``has_more: false`` with no failed page, no job without an id, an error budget not exceeded, and
  no more than ``max_expire_fraction`` of the index at stake unless forced. The index is read
  once, during the feed scan, and both sides meet in an anti-join on disk: memory stays flat
  whatever the feed size (``resync.py``).
- The watermark moves only after the incremental fetch and the sweep both succeeded.

Where the parts live: ``context.py`` (settings, services, run summary), ``runs.py`` (lock, run
record), ``feed_scan.py`` (a scan of the feed: pager, page writer, checkpoint), ``resync.py``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from indexer.feed import FeedRequest, JoboLookbackError
from indexer.store import schema
from indexer.store.state_docs import SyncWatermark
from indexer.sync.checkpoint import ScanCheckpoint, save_watermark
from indexer.sync.context import MIB, RunSummary, Services, SyncSettings, upstream
from indexer.sync.credits import CreditsShortError
from indexer.sync.feed_scan import check_before_full_scan, scan_feed
from indexer.sync.page_writer import expiry_ops, write_ops
from indexer.sync.resync import resync, run_resync
from indexer.sync.runs import prepare, run_locked
from indexer.timestamps import format_timestamp, parse_timestamp, utcnow

# The flows' public face, for the CLI: the context they run in and every flow.
__all__ = [
    "MIB",
    "RunSummary",
    "Services",
    "SyncSettings",
    "backfill",
    "backfill_completed_at",
    "expire",
    "prepare",
    "resync",
    "resync_due",
    "scan_feed",
    "scheduled",
    "sync",
]

log = logging.getLogger("indexer.sync")

EXPIRED_LOOKBACK_LIMIT = timedelta(days=7)
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
# /expired accepts at most 7 days back; keep a margin for clock skew and a run's own duration.
EXPIRED_LOOKBACK_SAFE = EXPIRED_LOOKBACK_LIMIT - timedelta(hours=1)


def backfill(svc: Services, settings: SyncSettings) -> RunSummary:
    """Page the whole feed into the index, resumable from the last acknowledged page.

    Once a backfill completed it is not repeated (that would pay for every job again) unless
    ``settings.restart``: the run is skipped, with no lock, no run record and no feed request.
    """
    completed = None if settings.restart else backfill_completed_at(svc)
    if completed:
        return RunSummary(
            kind="backfill",
            outcome="skipped",
            ended_at=format_timestamp(utcnow()),
            message=(
                f"the backfill of {svc.names.base!r} completed at {completed}; run `sync` for "
                "what changed since, or `resync` to reconcile the whole feed (`backfill "
                "--restart` pages the whole feed again and pays for it)"
            ),
        )
    return run_locked(svc, settings, "backfill", _backfill)


def backfill_completed_at(svc: Services) -> str | None:
    completed = SyncWatermark.load(svc.state).backfill_completed_at
    return format_timestamp(completed) if completed else None


def _backfill(svc: Services, settings: SyncSettings, summary: RunSummary) -> None:
    request = FeedRequest(batch_size=settings.batch_size)
    check_before_full_scan(
        svc, summary, kind="backfill", request=request, allow_partial=settings.allow_partial
    )
    physical = schema.live_physical_index(svc.client, svc.names.base)
    if settings.bulk_load:
        schema.enter_bulk_load(svc.client, physical, drop_replicas=settings.bulk_load_drop_replicas)
    try:
        checkpoint = scan_feed(
            svc,
            settings,
            summary,
            key="backfill",
            request=request,
            label="backfill",
        )
    except BaseException:
        if settings.bulk_load:
            _exit_bulk_load_after_failure(svc, physical)
        raise
    if settings.bulk_load:
        schema.exit_bulk_load(svc.client, physical)
    summary.steps.append(f"backfill: {summary.pages} pages")
    if not checkpoint.doc.get("completed"):
        summary.outcome = "stopped"
        summary.message = "stopped before the end of the feed; the next run resumes"
        return
    # The feed is in the index as of the scan's start: the incremental sync and the expired sweep
    # take over from there (an earlier start only widens the overlap).
    started_at = parse_timestamp(checkpoint.doc["started_at"])
    watermark = SyncWatermark.load(svc.state)
    watermark.backfill_completed_at = parse_timestamp(checkpoint.doc["completed_at"])
    watermark.last_run_started_at = watermark.last_sweep_at = started_at
    save_watermark(svc.state, watermark)


def _exit_bulk_load_after_failure(svc: Services, physical: str) -> None:
    """The backfill already failed: restoring its bulk-load settings is best effort, and a
    failure here (OpenSearch gone) must not hide the run's own error. The next run's lock
    holder restores what is left (``schema.restore_after_crash``)."""
    try:
        schema.exit_bulk_load(svc.client, physical)
    except Exception as exc:
        log.warning(
            "backfill: could not restore the bulk-load settings of %s (%s); the next run "
            "restores them",
            physical,
            exc,
        )


def sync(svc: Services, settings: SyncSettings) -> RunSummary:
    """The scheduled run: expired sweep, incremental fetch, then move the watermark."""
    return run_locked(svc, settings, "sync", _sync)


def _sync(svc: Services, settings: SyncSettings, summary: RunSummary) -> None:
    state = SyncWatermark.load(svc.state)
    if not state.has_backfill:
        log.info("sync: no completed backfill yet: running the backfill first")
        summary.steps.append("backfill (none completed yet)")
        _backfill(svc, settings, summary)
        if summary.outcome == "stopped":
            return
        state = SyncWatermark.load(svc.state)
    # No sweep time (a document from before sweeps were kept): coverage unknown, so the
    # re-sync below runs, as it does for a sweep older than /expired can reach.
    last_sweep = state.last_sweep_at or NEVER
    sweep_complete = True  # the sweep covers everything since the last one
    if utcnow() - last_sweep > EXPIRED_LOOKBACK_SAFE:
        log.warning(
            "sync: the last successful sweep (%s) is older than /expired can cover "
            "(7 days): running a full re-sync instead",
            format_timestamp(last_sweep),
        )
        if _resync_if_paid(svc, settings, summary, "sweep too old"):
            return
        sweep_complete = False
    this_run_started_at = utcnow()
    try:
        _sweep(svc, settings, summary, since=last_sweep - settings.overlap)
    except JoboLookbackError as exc:
        log.warning("sync: /expired refused the lookback (%s): running a full re-sync", exc)
        if _resync_if_paid(svc, settings, summary, "lookback refused"):
            return
        sweep_complete = False
    watermark = (state.last_run_started_at or NEVER) - settings.overlap
    checkpoint = _incremental(svc, settings, summary, since=watermark)
    scan_started = parse_timestamp(checkpoint.doc["started_at"])
    if checkpoint.doc.get("completed") and scan_started < this_run_started_at:
        # The scan resumed one that an earlier run began: jobs changed since then on the pages
        # it had already passed are not in it. A short catch-up scan fetches them now.
        summary.steps.append(
            f"catch-up since the resumed scan began at {format_timestamp(scan_started)}"
        )
        checkpoint = _incremental(svc, settings, summary, since=scan_started - settings.overlap)
    if not checkpoint.doc.get("completed"):
        summary.outcome = "stopped"
        summary.message = "stopped before the end of the incremental fetch; watermark kept"
        return
    # Both steps succeeded: move the watermark to this run's start (or the scan's start if a
    # stop left an earlier one to resume, whichever is earlier).
    started = min(this_run_started_at, parse_timestamp(checkpoint.doc["started_at"]))
    state.last_run_started_at = started
    if sweep_complete:  # else the gap stays visible, and the next run tries the re-sync again
        state.last_sweep_at = this_run_started_at
    save_watermark(svc.state, state)
    summary.steps.append(
        f"incremental since {format_timestamp(watermark)}: {checkpoint.doc['jobs']} jobs"
    )
    _purge(svc, settings, summary)


def _resync_if_paid(svc: Services, settings: SyncSettings, summary: RunSummary, why: str) -> bool:
    """The automatic re-sync; False when the wallet cannot pay for it (nothing was fetched
    but the 1-job estimate), after saying so: the sync then goes on without it."""
    summary.steps.append(f"resync ({why})")
    try:
        run_resync(svc, settings, summary)
    except CreditsShortError as exc:
        log.warning(
            "sync: automatic full re-sync skipped, the wallet cannot pay for it (%s). Running "
            "the incremental fetch and the sweep of the last 7 days instead; expiries older "
            "than that stay unseen and the next run tries the re-sync again",
            exc,
        )
        summary.steps.append("resync skipped: the wallet cannot pay for it")
        summary.message = f"full re-sync skipped ({exc})"
        return False
    return True


def _incremental(
    svc: Services, settings: SyncSettings, summary: RunSummary, *, since: datetime
) -> ScanCheckpoint:
    request = FeedRequest(batch_size=settings.batch_size, **{settings.watermark: since})
    return scan_feed(svc, settings, summary, key="incremental", request=request, label="sync")


def expire(svc: Services, settings: SyncSettings) -> RunSummary:
    """The expired sweep alone, since the last successful sweep."""
    return run_locked(svc, settings, "expire", _expire)


def _expire(svc: Services, settings: SyncSettings, summary: RunSummary) -> None:
    state = SyncWatermark.load(svc.state)
    started = utcnow()
    last = state.last_sweep_at
    since = last - settings.overlap if last else started - timedelta(days=1)
    _sweep(svc, settings, summary, since=since)
    if state.version is not None:  # before any backfill there is no watermark to move
        state.last_sweep_at = started
        save_watermark(svc.state, state)
    _purge(svc, settings, summary)


def _sweep(svc: Services, settings: SyncSettings, summary: RunSummary, *, since: datetime) -> None:
    oldest = utcnow() - EXPIRED_LOOKBACK_LIMIT + timedelta(minutes=5)
    if since < oldest:
        since = oldest
    expired_at = format_timestamp(utcnow())
    before = summary.expired + summary.deleted + summary.missing + summary.unchanged
    for ids in upstream(svc).iter_expired(since):
        write_ops(
            svc, settings, summary, expiry_ops(iter(ids), settings.expired_action, expired_at)
        )
    after = summary.expired + summary.deleted + summary.missing + summary.unchanged
    summary.steps.append(f"sweep since {format_timestamp(since)}: {after - before} ids")


def _purge(svc: Services, settings: SyncSettings, summary: RunSummary) -> None:
    if not settings.retention_days:
        return
    cutoff = format_timestamp(utcnow() - timedelta(days=settings.retention_days))
    answer = svc.client.delete_by_query(
        index=svc.names.all_alias,
        body={
            "query": {
                "bool": {
                    "filter": [
                        {"term": {"status": "expired"}},
                        {"range": {"expired_at": {"lt": cutoff}}},
                    ]
                }
            }
        },
        params={"conflicts": "proceed", "refresh": "true"},
    )
    summary.purged += int(answer.get("deleted", 0))
    summary.steps.append(f"purged {answer.get('deleted', 0)} expired before {cutoff}")


def scheduled(svc: Services, settings: SyncSettings, *, resync_now: bool) -> RunSummary:
    """One cycle of the ``run`` loop: the full re-sync when it is due, unless the wallet cannot
    pay for it (its refused run is recorded, and the next cycle tries again); else a sync."""
    if resync_now:
        try:
            return resync(svc, settings)
        except CreditsShortError as exc:
            log.warning(
                "run: the scheduled full re-sync is skipped, the wallet cannot pay for it (%s); "
                "running a sync instead",
                exc,
            )
    return sync(svc, settings)


def resync_due(svc: Services, every: timedelta) -> bool:
    """True when a backfill has completed and the last full re-sync is older than ``every``."""
    state = SyncWatermark.load(svc.state)
    if state.backfill_completed_at is None:
        return False
    last = state.last_resync_at or state.backfill_completed_at
    return utcnow() - last > every
