"""``status``: everything an operator asks first, as typed plain data (``status --json``).

Shape (every key always present; absent values are null, never the string "None"):

- ``index``; ``active``, ``expired``, ``dead_letters`` (counts after a refresh, so a backfill
  killed in bulk-load mode, refresh off, still shows what it acknowledged);
- ``watermark``, ``last_sweep_at``, ``backfill_completed_at``, ``last_resync_at`` (ISO times);
- ``backfill``, ``incremental``, ``resync``: the scan checkpoints (started_at, completed,
  completed_at, pages, jobs) or null;
- ``lock``: null, or ``{owner, host, pid, process, acquired_at, renewed_at, expires_at,
  expired}`` where ``process`` is ``running``/``gone`` on this host, ``elsewhere`` otherwise;
- ``credits_balance``; ``credits``: ``{balance, balance_at, subscription, next_full_scan:
  {jobs, credits, source}}`` (the plan the feed last showed and the estimated cost of the next
  full scan); ``last_runs``: the newest runs, each ``{run_id, kind, outcome,
  started_at, ended_at, duration_s, exit_code, reason, counts, params}``. A run still recorded as
  ``running`` whose process is gone is shown as ``interrupted``;
- ``alerts``: ``{saved_searches, matches, undelivered, failing_deliveries: {name: {failing,
  last_error, failed_at}}, change_events, matched_through}`` (see ``indexer.alerts``;
  ``matched_through``: every job version written before it has been matched).
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from opensearchpy import OpenSearch

from indexer.alerts.matches import alerts_status
from indexer.store import schema
from indexer.store.state import LeaseLock
from indexer.store.state_docs import SyncWatermark
from indexer.sync.context import Services
from indexer.sync.credits import next_full_scan
from indexer.sync.locks import process_state
from indexer.timestamps import format_timestamp

RUN_COUNTS = ("fetched", "indexed", "unchanged", "expired", "deleted", "dead_lettered", "failed")
RUN_CREDITS = ("credits_spent",)  # 0 for a run recorded before credits were counted


def status(svc: Services, last: int = 5) -> dict[str, Any]:
    base = svc.names.base
    if not schema.is_initialised(svc.client, base):
        raise schema.NotInitialisedError(
            f"no index {base!r} here (never initialised, or another --index): check --index, "
            f"or create it with `jobo-indexer init --index {base}`"
        )
    _refresh(svc.client, f"{svc.names.all_alias},{svc.names.dead_letters}")
    watermark = SyncWatermark.load(svc.state)
    holder = LeaseLock(svc.state).holder()
    credits = _doc(svc, "credits")
    active = _count(svc.client, svc.names.read_alias)
    lock = None
    if holder is not None:
        lock = {**holder.as_dict(), "process": process_state(holder.owner)}
    return {
        "index": base,
        "active": active,
        "expired": _count(svc.client, svc.names.all_alias, {"term": {"status": "expired"}}),
        "dead_letters": _count(svc.client, svc.names.dead_letters),
        "watermark": _iso(watermark.last_run_started_at),
        "last_sweep_at": _iso(watermark.last_sweep_at),
        "backfill_completed_at": _iso(watermark.backfill_completed_at),
        "last_resync_at": _iso(watermark.last_resync_at),
        "backfill": _scan(_doc(svc, "backfill")),
        "incremental": _scan(_doc(svc, "incremental")),
        "resync": _scan(_doc(svc, "resync")),
        "lock": lock,
        "credits_balance": credits.get("balance"),
        "credits": {
            "balance": credits.get("balance"),
            "balance_at": credits.get("at"),
            "subscription": credits.get("subscription"),
            "next_full_scan": next_full_scan(credits, active),
        },
        "last_runs": [_run(record, lock) for record in svc.runs.last_runs(last)],
        "alerts": alerts_status(svc.client, svc.names),
    }


def _doc(svc: Services, key: str) -> dict[str, Any]:
    found = svc.state.load(key)
    return dict(found.doc) if found else {}


def _refresh(client: OpenSearch, indices: str) -> None:
    # Cheap, and status is rare; without it a crashed bulk load (refresh off) counts 0.
    with contextlib.suppress(Exception):
        client.indices.refresh(index=indices, ignore_unavailable=True)


def _count(client: OpenSearch, index: str, query: dict[str, Any] | None = None) -> int | None:
    try:
        body = {"query": query} if query else None
        return int(client.count(index=index, body=body)["count"])
    except Exception:
        return None


def _scan(doc: dict[str, Any]) -> dict[str, Any] | None:
    if not doc:
        return None
    return {k: doc.get(k) for k in ("started_at", "completed", "completed_at", "pages", "jobs")}


def _run(record: dict[str, Any], lock: dict[str, Any] | None) -> dict[str, Any]:
    outcome = record.get("outcome")
    reason = record.get("message") or next(iter(record.get("errors") or []), None)
    if outcome == "running" and not _still_running(record, lock):
        outcome = "interrupted"
        reason = reason or "its process ended without recording an outcome (killed?)"
    counts = record.get("counts") or {}
    duration_ms = record.get("duration_ms")
    return {
        "run_id": record.get("run_id"),
        "kind": record.get("kind"),
        "outcome": outcome,
        "started_at": record.get("started_at"),
        "ended_at": record.get("ended_at"),
        "duration_s": None if duration_ms is None else round(duration_ms / 1000, 1),
        "exit_code": record.get("exit_code"),
        "reason": reason,
        "counts": {k: counts.get(k, 0) for k in (*RUN_COUNTS, *RUN_CREDITS)},
        "params": record.get("params") or {},
    }


def _still_running(record: dict[str, Any], lock: dict[str, Any] | None) -> bool:
    """A run recorded as running is alive when its process is (on this host), or else when the
    lock is held by a process of its host and pid with a fresh lease."""
    owner = f"{record.get('host')}:{record.get('pid')}:"
    state = process_state(owner)
    if state != "elsewhere":
        return state == "running"
    return bool(lock and lock["owner"].startswith(owner) and not lock["expired"])


def _iso(moment: datetime | None) -> str | None:
    return format_timestamp(moment) if moment is not None else None
