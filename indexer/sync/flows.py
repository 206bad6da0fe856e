"""The sync flows: backfill, incremental sync, expired sweep, full re-sync reconciliation.

Rules they keep (each written against a way that other index syncers are known to fail):

- A checkpoint moves only after OpenSearch acknowledged every item before it (``Pipeline``
  acknowledges pages in fetch order); every write is idempotent (external versioning), so a crash
  between a write and its checkpoint only replays work.
- A scan resumes from its stored cursor; a refused cursor (400 invalid / 409 spent) restarts the
  scan from the first page, with a log line.
- Expiry by reconciliation happens only on complete evidence: the feed scan reached
  ``has_more: false`` with no failed page, no job without an id, an error budget not exceeded, and
  no more than ``max_expire_fraction`` of the index at stake unless forced. The feed ids are
  spilled to SQLite and merge-joined with a sorted point-in-time scan of the index: memory stays
  flat whatever the feed size.
- The watermark moves only after the incremental fetch and the sweep both succeeded.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from opensearchpy import ConnectionError as OpenSearchConnectionLost
from opensearchpy import OpenSearch

from indexer.errors import (
    DeletionRefusedError,
    ErrorBudgetExceededError,
    ExitCode,
    SyncError,
    exit_code_for,
)
from indexer.feed import (
    FeedPage,
    FeedRequest,
    FeedScan,
    JoboClient,
    JoboLookbackError,
)
from indexer.logs import redact
from indexer.progress import Progress
from indexer.store import schema
from indexer.store.bulk import (
    BulkResult,
    BulkWriter,
    DeadLetter,
    DeleteOp,
    ErrorBudget,
    ExpireOp,
    IndexOp,
)
from indexer.store.runs import RunRecorder
from indexer.store.scan import iter_index_ids, merge_join_missing
from indexer.store.state import (
    LeaseLock,
    LockHeldError,
    StateStore,
    Versioned,
    force_unlock,
)
from indexer.sync.credits import (
    CreditMeter,
    CreditsShortError,
    check_full_scan,
    credits_text,
    may_fetch,
    next_full_scan,
)
from indexer.sync.locks import process_state
from indexer.sync.pipeline import Pipeline
from indexer.sync.seen import SeenIds
from indexer.sync.spill import check_resync_spill, open_spill, spill_path
from indexer.timestamps import epoch_millis, format_timestamp, parse_timestamp, utcnow
from indexer.transform import InvalidJob, document_and_version, version_of

log = logging.getLogger("indexer.sync")

MIB = 1024 * 1024
EXPIRED_LOOKBACK_LIMIT = timedelta(days=7)
# /expired accepts at most 7 days back; keep a margin for clock skew and a run's own duration.
EXPIRED_LOOKBACK_SAFE = EXPIRED_LOOKBACK_LIMIT - timedelta(hours=1)


@dataclass
class SyncSettings:
    """Knobs of the flows; the defaults are what an unattended run should use."""

    base: str = "jobs"
    batch_size: int = 1000
    overlap: timedelta = timedelta(minutes=15)
    watermark: str = "updated_after"  # or "posted_after"
    bulk_concurrency: int = 2
    # Raw page bytes fetched ahead of the writers. Decoded pages take about three times their
    # raw size, so this bounds the pipeline's memory whatever the feed size.
    queue_bytes: int = 16 * MIB
    bulk_max_docs: int = 500
    bulk_max_bytes: int = 5 * MIB
    max_expire_fraction: float = 0.2
    force: bool = False
    expired_action: str = "mark"  # or "delete"
    retention_days: int | None = None
    error_budget: ErrorBudget = field(default_factory=ErrorBudget)
    work_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "jobo-indexer")
    lock_ttl: timedelta = timedelta(minutes=5)
    bulk_load: bool = True
    # Replicas stay during a bulk load unless asked: dropping them risks the load on a node loss.
    bulk_load_drop_replicas: bool = False
    max_cursor_restarts: int = 3
    # An index nobody initialised is refused (a typo in --index must not start a paid backfill)
    # unless the caller asks for its creation.
    create_index: bool = False
    # backfill: page the whole feed again although a backfill completed.
    restart: bool = False
    max_credits: float | None = None  # what one run may spend (None: no cap)
    allow_partial: bool = False  # start a backfill the wallet cannot finish (it resumes)


@dataclass
class Services:
    """What the flows talk to. Built by the CLI (or a test) and handed in: flows open nothing."""

    client: OpenSearch
    jobo: JoboClient | None  # None for commands that only read the index (status)
    names: schema.IndexNames
    state: StateStore
    runs: RunRecorder
    stop: threading.Event = field(default_factory=threading.Event)
    progress: Callable[[str, int | None], Progress] = lambda label, total: Progress(
        label, total=total, enabled=False
    )


@dataclass
class RunSummary:
    """What a run did, as plain numbers: printed by ``--json`` and kept as the run record."""

    kind: str
    outcome: str = "running"
    started_at: str = field(default_factory=lambda: format_timestamp(utcnow()))
    ended_at: str | None = None
    duration_s: float = 0.0
    pages: int = 0
    fetched: int = 0
    indexed: int = 0
    unchanged: int = 0
    expired: int = 0
    deleted: int = 0
    missing: int = 0
    dead_lettered: int = 0
    rejected: int = 0  # of dead_lettered: bad input the transform refused
    failed: int = 0
    retries: int = 0
    cursor_restarts: int = 0
    purged: int = 0
    credits: CreditMeter = field(default_factory=CreditMeter)
    next_full_scan_credits: float | None = None
    steps: list[str] = field(default_factory=list)
    message: str = ""
    exit_code: int = 0  # what the command exits with (README's table); 0 unless it failed

    def count_cursor_restart(self) -> None:
        self.cursor_restarts += 1

    def add(self, result: BulkResult) -> None:
        self.indexed += result.indexed
        self.unchanged += result.unchanged
        self.expired += result.expired
        self.deleted += result.deleted
        self.missing += result.missing
        self.dead_lettered += result.dead_lettered
        self.failed += result.failed
        self.retries += result.retries

    @property
    def written(self) -> int:
        return self.indexed + self.expired + self.deleted

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["written"] = self.written
        del data["credits"]
        data.update(
            credits_spent=self.credits.spent,
            credits_balance=self.credits.balance,
            credits_cap=self.credits.cap,
            subscription=self.credits.subscription,
        )
        return data


# --------------------------------------------------------------------------------------------
# Building blocks


class _Checkpoint:
    """A scan's resumable position, kept in the state index under ``key``."""

    def __init__(self, state: StateStore, key: str) -> None:
        self.state = state
        self.key = key
        self.versioned: Versioned | None = state.load(key)
        self.doc: dict[str, Any] = dict(self.versioned.doc) if self.versioned else {}

    def resumable_for(self, request: dict[str, Any]) -> bool:
        return (
            bool(self.doc) and not self.doc.get("completed") and self.doc.get("request") == request
        )

    def save(self) -> None:
        """Store the checkpoint (a 429 is retried by the state store)."""
        try:
            self.versioned = self.state.save(self.key, self.doc, expected=self.versioned)
        except OpenSearchConnectionLost as exc:
            # Every node given was unreachable (the client already failed over): say so and
            # how to go on, as the bulk writer does for the pages beside it.
            raise SyncError(
                f"could not store the {self.key} checkpoint: OpenSearch is unreachable "
                f"({exc.__class__.__name__}: {exc.error}). Check that OpenSearch is up and "
                "healthy (GET /_cluster/health), then re-run the same command: it resumes "
                "from the last stored checkpoint and writes are idempotent.",
                exit_code=ExitCode.OPENSEARCH_FAILED,
            ) from exc


class _WriterPool:
    """One BulkWriter per worker thread (they keep per-request buffers)."""

    def __init__(self, svc: Services, settings: SyncSettings) -> None:
        self._local = threading.local()
        self._svc = svc
        self._settings = settings

    def get(self) -> BulkWriter:
        writer = getattr(self._local, "writer", None)
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


@dataclass(frozen=True)
class PageOutcome:
    result: BulkResult
    rejected: int  # jobs the transform rejected (dead-lettered as bad input)


def _upstream(svc: Services) -> JoboClient:
    if svc.jobo is None:
        raise SyncError("this command needs the Jobo API: set JOBO_API_KEY and JOBO_BASE_URL")
    return svc.jobo


def _check_full_scan(
    svc: Services,
    summary: RunSummary,
    *,
    kind: str,
    request: FeedRequest,
    can_resume: Callable[[dict[str, Any]], bool] = lambda doc: True,
    allow_partial: bool = False,
) -> None:
    """Refuse a full scan (keyed ``kind``) the wallet cannot pay for, before it begins."""
    checkpoint = _Checkpoint(svc.state, kind)
    resumes = checkpoint.resumable_for(request.to_body()) and can_resume(checkpoint.doc)
    done = int(checkpoint.doc.get("jobs", 0)) if resumes else 0
    estimate = check_full_scan(
        _upstream(svc), summary.credits, kind=kind, done_jobs=done, allow_partial=allow_partial
    )
    if estimate is not None:
        summary.steps.append(estimate.describe())


def _drop_known(
    jobs: list[dict[str, Any]], known_versions: Callable[[list[str]], dict[str, int]]
) -> list[dict[str, Any]]:
    """The jobs whose version the index does not hold yet (malformed jobs are kept: the
    transform dead-letters them with their reason)."""
    known = known_versions([i for i in map(_job_id, jobs) if i])
    if not known:
        return jobs
    kept = []
    for job in jobs:
        ident = _job_id(job)
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


def _job_id(job: Any) -> str | None:
    ident = job.get("id") if isinstance(job, dict) else None
    return ident if isinstance(ident, str) and ident else None


def _check_budget(summary: RunSummary, budget: ErrorBudget) -> None:
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


def scan_feed(
    svc: Services,
    settings: SyncSettings,
    summary: RunSummary,
    *,
    key: str,
    request: FeedRequest,
    label: str,
    on_page: Callable[[FeedPage], None] | None = None,
    fresh_start: Callable[[dict[str, Any]], None] | None = None,
    can_resume: Callable[[dict[str, Any]], bool] = lambda doc: True,
    known_versions: Callable[[list[str]], dict[str, int]] | None = None,
) -> _Checkpoint:
    """Page the feed for ``request`` through the pipeline, checkpointing under ``key``.

    Resumes an unfinished scan of the same request. Returns the checkpoint; its ``completed``
    flag says whether the scan reached the end (it does not when a stop was requested).
    ``known_versions(ids)`` gives the versions the index already holds: jobs at that very version
    are counted unchanged without being transformed or sent (OpenSearch would refuse them as
    version conflicts anyway).
    """
    checkpoint = _Checkpoint(svc.state, key)
    body = request.to_body()
    if checkpoint.resumable_for(body) and can_resume(checkpoint.doc):
        log.info(
            "%s: resuming from page %s (%s jobs acknowledged before)",
            label,
            checkpoint.doc.get("pages", 0),
            checkpoint.doc.get("jobs", 0),
        )
        summary.steps.append(f"{key}: resumed at page {checkpoint.doc.get('pages', 0)}")
    else:
        checkpoint.doc = {
            "request": body,
            "cursor": None,
            "started_at": format_timestamp(utcnow()),
            "pages": 0,
            "jobs": 0,
            "anonymous_jobs": 0,
            "completed": False,
        }
        if fresh_start:
            fresh_start(checkpoint.doc)
        checkpoint.save()
    # A resumed scan keeps the total the first page announced and counts on from what the
    # earlier run acknowledged, so its progress shows a percentage and an ETA again.
    progress = svc.progress(label, checkpoint.doc.get("estimated_total"))
    progress.resume_from(int(checkpoint.doc.get("jobs", 0)))
    writers = _WriterPool(svc, settings)
    jobo = _upstream(svc)

    scan = FeedScan(
        jobo,
        request,
        cursor=checkpoint.doc.get("cursor"),
        max_cursor_restarts=settings.max_cursor_restarts,
        may_fetch=lambda: may_fetch(jobo, summary.credits, request.batch_size, label),
        on_restart=lambda _refused: summary.count_cursor_restart(),
    )

    def pages() -> Iterator[FeedPage]:
        for page in scan:
            summary.credits.record(page)
            if scan.first_page and page.estimated_total is not None:
                progress.set_total(page.estimated_total)
            yield page

    def process(page: FeedPage) -> PageOutcome:
        jobs, unchanged = page.jobs, 0
        if known_versions is not None:
            jobs = _drop_known(page.jobs, known_versions)
            unchanged = len(page.jobs) - len(jobs)
        ops = page_operations(jobs, utcnow())
        rejected = sum(1 for op in ops if isinstance(op, DeadLetter))
        result = writers.get().write(ops)
        result.unchanged += unchanged
        return PageOutcome(result, rejected)

    def acknowledged(page: FeedPage, outcome: PageOutcome) -> None:
        summary.add(outcome.result)
        summary.rejected += outcome.rejected
        summary.pages += 1
        summary.fetched += len(page.jobs)
        _check_budget(summary, settings.error_budget)
        if on_page:
            on_page(page)
        doc = checkpoint.doc
        if page.estimated_total is not None:  # the first page's, kept for a resumed run
            doc.setdefault("estimated_total", page.estimated_total)
        finished = not page.has_more or not page.next_cursor
        doc["cursor"] = None if finished else page.next_cursor
        doc["pages"] = doc.get("pages", 0) + 1
        doc["jobs"] = doc.get("jobs", 0) + len(page.jobs)
        doc["anonymous_jobs"] = doc.get("anonymous_jobs", 0) + sum(
            1 for job in page.jobs if _job_id(job) is None
        )
        if finished:
            doc["completed"] = True
            doc["completed_at"] = format_timestamp(utcnow())
        checkpoint.save()
        progress.advance(len(page.jobs))

    pipeline: Pipeline[FeedPage, PageOutcome] = Pipeline(
        process=process,
        on_acknowledged=acknowledged,
        size_of=lambda page: max(page.body_bytes, 1),
        concurrency=settings.bulk_concurrency,
        queue_bytes=settings.queue_bytes,
        stop=svc.stop,
    )
    try:
        pipeline.run(pages())
    finally:
        progress.close(finished=bool(checkpoint.doc.get("completed")))
    return checkpoint


def _write_ops(
    svc: Services, settings: SyncSettings, summary: RunSummary, ops: Iterator[ExpireOp | DeleteOp]
) -> None:
    writer = _WriterPool(svc, settings).get()
    batch: list[ExpireOp | DeleteOp] = []
    for op in ops:
        batch.append(op)
        if len(batch) >= settings.bulk_max_docs:
            summary.add(writer.write(batch))
            batch = []
    if batch:
        summary.add(writer.write(batch))


def _expiry_ops(ids: Iterator[str], action: str, expired_at: str) -> Iterator[ExpireOp | DeleteOp]:
    for ident in ids:
        yield (
            DeleteOp(id=ident) if action == "delete" else ExpireOp(id=ident, expired_at=expired_at)
        )


@contextlib.contextmanager
def locked(svc: Services, settings: SyncSettings, kind: str) -> Iterator[None]:
    """Hold the lease lock for the whole run, renewing it from a heartbeat thread."""
    lock = LeaseLock(svc.state, ttl=settings.lock_ttl)
    try:
        lock.acquire()
    except LockHeldError as exc:
        if not _holder_is_dead(exc.holder.owner):
            raise
        log.warning(
            "%s: the lock is held by %s, a process of this host that no longer runs; "
            "taking it over",
            kind,
            exc.holder.owner,
        )
        force_unlock(svc.state)
        lock.acquire()
    lock.start_heartbeat(on_lost=lambda _error: svc.stop.set())
    failed = True
    try:
        # Only the lock holder may undo bulk-load settings a crashed backfill left behind: a
        # backfill that is still running holds the lock and keeps its settings.
        restored = schema.restore_after_crash(svc.client, svc.names.base)
        if restored:
            log.warning("%s: restored the settings a crashed backfill left on %s", kind, restored)
        yield
        failed = False
    finally:
        lock.stop_heartbeat()
        if lock.lost is None:
            _release(lock, kind, quietly=failed)
    if lock.lost is not None:
        raise SyncError(
            f"{kind}: lost the lock while running ({lock.lost}); stopped after the "
            f"current batch so two runs do not write at once"
        )


def _release(lock: LeaseLock, kind: str, *, quietly: bool) -> None:
    """Release the lock; after a failed run, a failing release (OpenSearch gone) is only logged
    so that it does not hide the run's own, clearer error."""
    try:
        lock.release()
    except Exception as exc:
        if not quietly:
            raise
        log.warning(
            "%s: could not release the lock (%s); a next run on this host takes it over, "
            "elsewhere it expires after its TTL",
            kind,
            exc,
        )


def _holder_is_dead(owner: str) -> bool:
    """True when ``owner`` (``host:pid:token``) names a process of this host that is gone."""
    return process_state(owner) == "gone"


@contextlib.contextmanager
def recorded(svc: Services, kind: str, params: dict[str, Any]) -> Iterator[RunSummary]:
    """Keep a run record (start, end, outcome, counts, errors) in ``<base>-indexer-runs``."""
    summary = RunSummary(kind=kind)
    started = time.monotonic()
    upstream_retries = svc.jobo.retries if svc.jobo else 0
    run_id = svc.runs.start(kind, params)
    try:
        yield summary
    except BaseException as exc:
        summary.outcome = getattr(exc, "outcome", "failed")
        summary.message = redact(str(exc)) or type(exc).__name__
        summary.exit_code = int(exit_code_for(exc))
        exc.run_summary = summary  # type: ignore[attr-defined]  # --json prints it
        raise
    else:
        if summary.outcome == "running":
            summary.outcome = "stopped" if svc.stop.is_set() else "success"
    finally:
        summary.ended_at = format_timestamp(utcnow())
        if svc.jobo:
            summary.retries += svc.jobo.retries - upstream_retries
        summary.duration_s = round(time.monotonic() - started, 3)
        summary.next_full_scan_credits = _remember_credits(svc, summary.credits)
        counts = {
            k: v
            for k, v in summary.to_dict().items()
            if isinstance(v, int | float) and not isinstance(v, bool) and k != "exit_code"
        }
        failed = summary.outcome in ("failed", "refused")
        try:
            svc.runs.finish(
                run_id,
                summary.outcome,
                counts,
                [summary.message] if failed else [],
                summary.credits.balance,
                message=summary.message or None,
                exit_code=summary.exit_code,
            )
        except Exception:
            log.exception("could not store the run record %s", run_id)


def _remember_credits(svc: Services, meter: CreditMeter) -> float | None:
    """Keep what the feed said about the wallet and its size in the ``credits`` state document
    (for ``status`` and the next run); returns the estimated cost of the next full scan."""
    try:
        ck = _Checkpoint(svc.state, "credits")
        update: dict[str, Any] = {}
        if meter.balance is not None:
            update.update(balance=meter.balance, at=format_timestamp(utcnow()))
        if meter.subscription is not None:
            update["subscription"] = meter.subscription
        if meter.full_scan_jobs is not None:
            update.update(
                full_scan_jobs=meter.full_scan_jobs, estimated_at=format_timestamp(utcnow())
            )
        if update:
            ck.doc.update(update)
            ck.save()
        return next_full_scan(ck.doc, None)["credits"]
    except Exception as exc:  # bookkeeping must not fail the run it describes
        log.warning("could not store the credits state: %s", exc)
        return None


# --------------------------------------------------------------------------------------------
# The flows


def prepare(svc: Services, settings: SyncSettings) -> None:
    """Make sure the indices exist (the lock lives in the state index).

    An index that was never initialised is refused before anything is created or fetched,
    unless ``settings.create_index``: a mistyped ``--index`` must not start a paid backfill.
    """
    base = svc.names.base
    if not settings.create_index and not schema.is_initialised(svc.client, base):
        raise schema.NotInitialisedError(
            f"index {base!r} was never initialised (no alias {svc.names.write_alias!r} or no "
            f"{svc.names.state!r}); nothing was created and nothing was fetched. Check --index, "
            f"run `jobo-indexer init --index {base}` first, or pass --create-index to create it "
            "in this run"
        )
    schema.ensure_initialised(svc.client, base)


FlowBody = Callable[[Services, SyncSettings, RunSummary], None]


def _run_locked(svc: Services, settings: SyncSettings, kind: str, body: FlowBody) -> RunSummary:
    """What every flow does around its body: indices exist, one run at a time, a run record."""
    prepare(svc, settings)
    with locked(svc, settings, kind), recorded(svc, kind, _params(settings)) as summary:
        summary.credits.cap = settings.max_credits
        body(svc, settings, summary)
        if summary.credits.capped and summary.outcome in ("running", "stopped"):
            summary.outcome = "capped"
            summary.exit_code = int(ExitCode.CREDIT_CAP)
            summary.message = (
                f"stopped before a page --max-credits {credits_text(settings.max_credits or 0)} "
                f"could not pay for ({credits_text(summary.credits.spent)} spent); "
                + (summary.message or "the checkpoint is kept and the next run resumes")
            )
        return summary


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
    return _run_locked(svc, settings, "backfill", _backfill)


def backfill_completed_at(svc: Services) -> str | None:
    found = svc.state.load("sync")
    return found.doc.get("backfill_completed_at") if found else None


def _backfill(svc: Services, settings: SyncSettings, summary: RunSummary) -> None:
    request = FeedRequest(batch_size=settings.batch_size)
    _check_full_scan(
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
    started_at = checkpoint.doc["started_at"]
    sync_state = _Checkpoint(svc.state, "sync")
    sync_state.doc.update(
        {
            "backfill_completed_at": checkpoint.doc["completed_at"],
            "last_run_started_at": started_at,
            "last_sweep_at": started_at,
        }
    )
    sync_state.save()


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
    return _run_locked(svc, settings, "sync", _sync)


def _sync(svc: Services, settings: SyncSettings, summary: RunSummary) -> None:
    state = _Checkpoint(svc.state, "sync")
    if not state.doc.get("backfill_completed_at"):
        log.info("sync: no completed backfill yet: running the backfill first")
        summary.steps.append("backfill (none completed yet)")
        _backfill(svc, settings, summary)
        if summary.outcome == "stopped":
            return
        state = _Checkpoint(svc.state, "sync")
    last_sweep = parse_timestamp(state.doc["last_sweep_at"])
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
    watermark = parse_timestamp(state.doc["last_run_started_at"]) - settings.overlap
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
    state.doc["last_run_started_at"] = format_timestamp(started)
    if sweep_complete:  # else the gap stays visible, and the next run tries the re-sync again
        state.doc["last_sweep_at"] = format_timestamp(this_run_started_at)
    state.save()
    summary.steps.append(
        f"incremental since {format_timestamp(watermark)}: {checkpoint.doc['jobs']} jobs"
    )
    _purge(svc, settings, summary)


def _resync_if_paid(svc: Services, settings: SyncSettings, summary: RunSummary, why: str) -> bool:
    """The automatic re-sync; False when the wallet cannot pay for it (nothing was fetched
    but the 1-job estimate), after saying so: the sync then goes on without it."""
    summary.steps.append(f"resync ({why})")
    try:
        _resync(svc, settings, summary)
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
) -> _Checkpoint:
    request = FeedRequest(batch_size=settings.batch_size, **{settings.watermark: since})
    return scan_feed(svc, settings, summary, key="incremental", request=request, label="sync")


def expire(svc: Services, settings: SyncSettings) -> RunSummary:
    """The expired sweep alone, since the last successful sweep."""
    return _run_locked(svc, settings, "expire", _expire)


def _expire(svc: Services, settings: SyncSettings, summary: RunSummary) -> None:
    state = _Checkpoint(svc.state, "sync")
    started = utcnow()
    last = state.doc.get("last_sweep_at")
    since = parse_timestamp(last) - settings.overlap if last else started - timedelta(days=1)
    _sweep(svc, settings, summary, since=since)
    if state.doc:
        state.doc["last_sweep_at"] = format_timestamp(started)
        state.save()
    _purge(svc, settings, summary)


def _sweep(svc: Services, settings: SyncSettings, summary: RunSummary, *, since: datetime) -> None:
    oldest = utcnow() - EXPIRED_LOOKBACK_LIMIT + timedelta(minutes=5)
    if since < oldest:
        since = oldest
    expired_at = format_timestamp(utcnow())
    before = summary.expired + summary.deleted + summary.missing + summary.unchanged
    for ids in _upstream(svc).iter_expired(since):
        _write_ops(
            svc, settings, summary, _expiry_ops(iter(ids), settings.expired_action, expired_at)
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


def resync(svc: Services, settings: SyncSettings) -> RunSummary:
    """Full scan of the feed, then expire what the index has and the feed no longer has."""
    return _run_locked(svc, settings, "resync", _resync)


def _resync(svc: Services, settings: SyncSettings, summary: RunSummary) -> None:
    path = spill_path(settings.work_dir, svc.names.base)
    check_resync_spill(svc.state, path, restart=settings.restart)
    seen = open_spill(path)
    request = FeedRequest(batch_size=settings.batch_size)

    def can_resume(doc: dict[str, Any]) -> bool:
        # Resume only with the very file this scan wrote: a lost or replaced file would make
        # the evidence incomplete.
        return doc.get("seen_token") == seen.token

    try:
        _check_full_scan(svc, summary, kind="resync", request=request, can_resume=can_resume)
        checkpoint = scan_feed(
            svc,
            settings,
            summary,
            key="resync",
            request=request,
            label="resync",
            on_page=lambda page: seen.add(i for i in map(_job_id, page.jobs) if i),
            fresh_start=lambda doc: _start_seen(svc, seen, doc),
            can_resume=can_resume,
            known_versions=seen.versions_of,
        )
        if not checkpoint.doc.get("completed"):
            summary.outcome = "stopped"
            summary.message = "stopped before the end of the feed; nothing expired; resumable"
            return
        started_at = checkpoint.doc["started_at"]
        anonymous = int(checkpoint.doc.get("anonymous_jobs", 0))
        if anonymous and not settings.force:
            raise DeletionRefusedError(
                f"resync: the feed scan completed but {anonymous} jobs had no usable id, so the "
                f"evidence is incomplete and nothing was expired; see the dead-letter index, or "
                f"rerun with --force to expire anyway"
            )
        missing = _reconcile_candidates(svc, seen, started_at)
        active = svc.client.count(index=svc.names.read_alias)["count"]
        limit = settings.max_expire_fraction * active
        if missing and missing > limit and not settings.force:
            raise DeletionRefusedError(
                f"resync: {missing} of {active} active jobs are no longer in the feed, more than "
                f"--max-expire-fraction {settings.max_expire_fraction} allows; nothing was "
                f"expired. Check the feed (filters, key entitlements), then rerun with --force "
                f"if this is expected"
            )
        _write_ops(
            svc,
            settings,
            summary,
            _expiry_ops(
                seen.sorted_ids(table="missing"),
                settings.expired_action,
                format_timestamp(utcnow()),
            ),
        )
        summary.steps.append(f"resync: {seen.count()} feed ids, {missing} expired")
        sync_state = _Checkpoint(svc.state, "sync")
        sync_state.doc.setdefault("backfill_completed_at", checkpoint.doc["completed_at"])
        sync_state.doc.update(
            {
                "last_run_started_at": started_at,
                "last_sweep_at": started_at,
                "last_resync_at": checkpoint.doc["completed_at"],
            }
        )
        sync_state.save()
        checkpoint.doc["reconciled_at"] = format_timestamp(utcnow())
        checkpoint.save()
        seen.remove_file()
    finally:
        seen.close()


def _start_seen(svc: Services, seen: SeenIds, doc: dict[str, Any]) -> None:
    """A fresh re-sync: forget the last one's ids and record the versions the index holds."""
    seen.clear()
    batch: list[tuple[str, int]] = []
    for entry in iter_index_ids(svc.client, svc.names.all_alias, fields=("updated_at",)):
        if entry.updated_at:
            batch.append((entry.id, epoch_millis(parse_timestamp(entry.updated_at))))
        if len(batch) >= 10_000:
            seen.add_versions(batch)
            batch = []
    seen.add_versions(batch)
    doc["seen_token"] = seen.token
    doc["seen_path"] = str(seen.path)


def _reconcile_candidates(svc: Services, seen: SeenIds, started_at: str) -> int:
    """Merge-join the index's active ids (not written since ``started_at``) with the feed ids,
    spilling the ids to expire into the same SQLite file; returns how many there are."""
    query = {
        "bool": {
            "filter": [
                {"term": {"status": "active"}},
                {"range": {"indexed_at": {"lt": started_at}}},
            ]
        }
    }
    seen.clear(table="missing")
    index_ids = iter_index_ids(svc.client, svc.names.all_alias, query=query)
    batch: list[str] = []
    for entry in merge_join_missing(index_ids, seen.sorted_ids()):
        batch.append(entry.id)
        if len(batch) >= 10_000:
            seen.add(batch, table="missing")
            batch = []
    seen.add(batch, table="missing")
    return seen.count(table="missing")


def _params(settings: SyncSettings) -> dict[str, Any]:
    return {
        "batch_size": settings.batch_size,
        "overlap_s": settings.overlap.total_seconds(),
        "watermark": settings.watermark,
        "expired_action": settings.expired_action,
        "max_expire_fraction": settings.max_expire_fraction,
        "force": settings.force,
        "max_credits": settings.max_credits,
        "allow_partial": settings.allow_partial,
    }


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
    found = svc.state.load("sync")
    doc = found.doc if found else {}
    if not doc.get("backfill_completed_at"):
        return False
    last = doc.get("last_resync_at") or doc["backfill_completed_at"]
    return utcnow() - parse_timestamp(last) > every
