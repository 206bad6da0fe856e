"""What every flow does around its body: the indices exist, one run at a time, a run record.

``run_locked(svc, settings, kind, body)`` prepares the indices, holds the lease lock for the whole
run (renewed from a heartbeat thread; a lock left by a dead process of this host is taken over),
keeps a run record in ``<base>-indexer-runs`` and the wallet's state in the ``credits`` document,
and turns a run stopped by ``--max-credits`` into the ``capped`` outcome.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from indexer.errors import ExitCode, SyncError, exit_code_for
from indexer.logs import redact
from indexer.store import schema
from indexer.store.state import LeaseLock, LockHeldError, force_unlock
from indexer.sync.checkpoint import ScanCheckpoint
from indexer.sync.context import RunSummary, Services, SyncSettings
from indexer.sync.credits import CreditMeter, credits_text, next_full_scan
from indexer.sync.locks import process_state
from indexer.timestamps import format_timestamp, utcnow

log = logging.getLogger("indexer.sync")


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
            summary.upstream_retries += svc.jobo.retries - upstream_retries
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
        ck = ScanCheckpoint(svc.state, "credits")
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


def run_locked(svc: Services, settings: SyncSettings, kind: str, body: FlowBody) -> RunSummary:
    """What every flow does around its body: indices exist, one run at a time, a run record."""
    prepare(svc, settings)
    with locked(svc, settings, kind), recorded(svc, kind, params_of(settings)) as summary:
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


def params_of(settings: SyncSettings) -> dict[str, Any]:
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
