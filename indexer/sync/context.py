"""What every flow is handed: its settings, its services, and the summary it fills in.

``SyncSettings`` holds the knobs (the defaults are what an unattended run uses), ``Services`` the
clients a flow talks to (built by the CLI or a test and handed in: flows open nothing), and
``RunSummary`` what a run did, as plain numbers (printed by ``--json``, kept as the run record).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from opensearchpy import OpenSearch

from indexer.errors import SyncError
from indexer.feed import JoboClient
from indexer.progress import Progress
from indexer.store import schema
from indexer.store.bulk import BulkResult, BulkWriter, ErrorBudget
from indexer.store.runs import RunRecorder
from indexer.store.state import StateStore
from indexer.sync.credits import CreditMeter
from indexer.timestamps import format_timestamp, utcnow

MIB = 1024 * 1024


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
    # The change stream and the alerts (indexer.alerts): what follows a run's writes.
    change_stream: bool = True
    changes_retention_days: int = 14  # 0 keeps the change events
    webhook_url: str | None = None  # for saved searches without their own webhook
    # New versions written between two matching passes of the alerts (and one at a scan's end).
    alerts_pass_jobs: int = 50_000


class WriteRecorder(Protocol):
    """What records a write's consequences before the write is acknowledged (the change stream
    and the alert matches: :class:`indexer.alerts.WriteRecorder`)."""

    def write_page(
        self,
        ops: list[Any],
        writer: BulkWriter,
        *,
        scan_started_at: str | None,
        known: list[Any] = ...,
    ) -> BulkResult: ...

    def write_expiries(self, ops: list[Any], writer: BulkWriter) -> BulkResult: ...

    @property
    def records_changes(self) -> bool: ...

    def match_written(self, end: datetime, *, wait: bool) -> None: ...


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
    recorder: WriteRecorder | None = None  # None: no change stream, no alerts
    # Where pages are bulk-written: None builds a BulkWriter on ``client`` (one per writer
    # thread); a unit test passes a recording double here, never in an integration test.
    bulk_writer: Callable[[], BulkWriter] | None = None


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
    # Every bulk write's outcome, summed: indexed, unchanged, expired, deleted, missing,
    # dead-lettered, failed, the bulk retries (the counters below read it).
    writes: BulkResult = field(default_factory=BulkResult)
    rejected: int = 0  # of dead_lettered: bad input the transform refused
    upstream_retries: int = 0  # feed requests retried (429/5xx/network)
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
        self.writes.merge(result)

    @property
    def indexed(self) -> int:
        return self.writes.indexed

    @property
    def unchanged(self) -> int:
        return self.writes.unchanged

    @property
    def expired(self) -> int:
        return self.writes.expired

    @property
    def deleted(self) -> int:
        return self.writes.deleted

    @property
    def missing(self) -> int:
        return self.writes.missing

    @property
    def dead_lettered(self) -> int:
        return self.writes.dead_lettered

    @property
    def failed(self) -> int:
        return self.writes.failed

    @property
    def retries(self) -> int:
        """Retries of both sides: bulk requests and item rounds, and feed requests."""
        return self.writes.retries + self.upstream_retries

    @property
    def written(self) -> int:
        return self.indexed + self.expired + self.deleted

    def to_dict(self) -> dict[str, Any]:
        """The flat shape of ``--json`` and of the run record's counts."""
        data = asdict(self)
        for nested in ("writes", "credits", "upstream_retries"):
            del data[nested]
        data.update({name: getattr(self, name) for name in _WRITE_COUNTS})
        data.update(
            written=self.written,
            credits_spent=self.credits.spent,
            credits_balance=self.credits.balance,
            credits_cap=self.credits.cap,
            subscription=self.credits.subscription,
        )
        return data


_WRITE_COUNTS = ("indexed", "unchanged", "expired", "deleted", "missing", "dead_lettered")
_WRITE_COUNTS += ("failed", "retries")


def upstream(svc: Services) -> JoboClient:
    """The feed client, or a clear error for a command built without one."""
    if svc.jobo is None:
        raise SyncError("this command needs the Jobo API: set JOBO_API_KEY and JOBO_BASE_URL")
    return svc.jobo
