"""``status`` as text a person reads: one fact per line, each run on one line, "never" for what
has not happened (the data is ``indexer.sync.status``'s, printed as is by ``--json``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from indexer.cli.text import plural
from indexer.timestamps import parse_timestamp, utcnow


def ago(stamp: str | None, now: datetime | None = None) -> str:
    if not stamp:
        return "never"
    seconds = int(((now or utcnow()) - parse_timestamp(stamp)).total_seconds())
    return f"{stamp} ({_span(seconds)} ago)" if seconds >= 0 else f"{stamp} (in {_span(-seconds)})"


def _span(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172_800:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86_400}d"


def _number(value: int | None, noun: str) -> str:
    return f"? {noun}s (count failed)" if value is None else plural(value, noun)


def lock_text(lock: dict[str, Any] | None, now: datetime | None = None) -> str:
    if lock is None:
        return "free"
    where = {"running": "running on this host", "gone": "gone from this host"}.get(
        lock["process"], f"on host {lock['host']}"
    )
    lease = "expired" if lock["expired"] else f"expires {ago(lock['expires_at'], now)}"
    return (
        f"held by {lock['owner']} (pid {lock['pid']}, {where}); since "
        f"{ago(lock['acquired_at'], now)}, renewed {ago(lock['renewed_at'], now)}, lease {lease}"
    )


def _scan_text(scan: dict[str, Any] | None, completed_at: str | None) -> str:
    if completed_at:
        return f"completed {completed_at}"
    if scan is None:
        return "never"
    pages, jobs = plural(scan.get("pages") or 0, "page"), plural(scan.get("jobs") or 0, "job")
    return f"in progress: {pages}, {jobs} acknowledged since {scan.get('started_at')}"


def run_line(run: dict[str, Any]) -> str:
    counts = run["counts"]
    outcome = run["outcome"] or "?"
    if run.get("exit_code"):
        outcome += f" (exit {run['exit_code']})"
    duration = "" if run["duration_s"] is None else f" {run['duration_s']:.1f}s"
    line = (
        f"  {run['started_at'] or '?'}  {run['kind'] or '?':<8}  {outcome}{duration}: "
        f"{counts['fetched']} fetched, {counts['indexed']} indexed, {counts['unchanged']} "
        f"unchanged, {counts['expired'] + counts['deleted']} expired, "
        f"{counts['dead_lettered']} dead-lettered, {counts.get('credits_spent', 0):g} credits"
    )
    if run["outcome"] in ("failed", "refused", "capped", "interrupted") and run.get("reason"):
        line += f"; reason: {run['reason']}"
    return line


def credits_line(credits: dict[str, Any]) -> str:
    scan = credits["next_full_scan"]
    if credits.get("subscription"):
        plan = "Feed subscription (pages are free)"
    elif credits.get("balance") is not None:
        plan = f"balance {credits['balance']:,g} (at {credits.get('balance_at')})"
    else:
        plan = "balance not reported (no paid page seen yet)"
    if scan["credits"] is None:
        cost = "unknown"
    else:
        cost = f"~{scan['credits']:,g} credits ({scan['jobs']} jobs, from the {scan['source']})"
    return f"credits: {plan}; next full scan: {cost}"


def render_status(data: dict[str, Any], now: datetime | None = None) -> list[str]:
    lines = [
        f"index {data['index']}: {_number(data['active'], 'active job')}, "
        f"{_number(data['expired'], 'expired job')}, "
        f"{_number(data['dead_letters'], 'dead letter')}",
        f"watermark (last run started): {ago(data['watermark'], now)}",
        f"last sweep: {ago(data['last_sweep_at'], now)}",
        f"backfill: {_scan_text(data['backfill'], data['backfill_completed_at'])}",
        f"last resync: {ago(data['last_resync_at'], now)}",
        f"lock: {lock_text(data['lock'], now)}",
        credits_line(data["credits"]),
    ]
    lines += alerts_lines(data.get("alerts"))
    runs = data["last_runs"]
    lines.append(f"last {plural(len(runs), 'run')}:" if runs else "last runs: none yet")
    lines += [run_line(run) for run in runs]
    return lines


def alerts_lines(alerts: dict[str, Any] | None) -> list[str]:
    if not alerts:
        return []
    events = alerts["change_events"]
    head = (
        f"alerts: {plural(alerts['saved_searches'], 'saved search', 'saved searches')}, "
        f"{plural(alerts['matches'], 'match', 'matches')}, {alerts['undelivered']} undelivered"
    )
    if alerts.get("matched_through"):
        head += f", jobs written before {alerts['matched_through']} matched"
    lines = [f"{head}; change stream: {'off' if events is None else plural(events, 'event')}"]
    for name, failing in alerts["failing_deliveries"].items():
        lines.append(
            f"  delivery failing for {name!r}: {failing['failing']} matches, last at "
            f"{failing['failed_at']}: {failing['last_error']}"
        )
    return lines
