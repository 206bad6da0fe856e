"""The change stream: what each run created, updated, expired or deleted, in ``<base>-changes``.

One event per job version and kind: ``{"job_id", "version", "kind", "run_id", "run_kind", "at"}``.
``version`` is the ``_version`` OpenSearch answered for the write (the job's ``updated_at`` in
epoch milliseconds for a created or updated job; one more than that for an expiry, which is a
scripted update). The event id is derived from ``(job_id, version, kind)`` and written once
(:mod:`indexer.store.once`), so a replayed, overlapping or resumed run never repeats an event.

A cache or a frontend follows the index by reading :meth:`ChangeStream.read` with the ``at`` of
the last event it saw (``jobo-indexer changes --since T``). Events older than the retention are
purged by the runs (``purge``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from opensearchpy import OpenSearch

from indexer.store.layout import CHANGES_FILE, load_plain_mapping
from indexer.store.once import create_once, ensure_index, fact_id
from indexer.timestamps import format_timestamp

KINDS = ("created", "updated", "expired", "deleted")
DEFAULT_RETENTION_DAYS = 14
MAX_READ = 10_000


@dataclass(frozen=True, slots=True)
class Change:
    job_id: str
    version: int
    kind: str  # one of KINDS
    run_id: str | None
    run_kind: str | None
    at: str

    @property
    def id(self) -> str:
        # A version is either created or updated (never both): a replay that can only tell it
        # was written, not which of the two, must find the first event under the same id.
        family = "written" if self.kind in ("created", "updated") else self.kind
        return fact_id(self.job_id, self.version, family)


class ChangeStream:
    """Reads and writes ``index`` (``<base>-changes``)."""

    def __init__(self, client: OpenSearch, index: str) -> None:
        self.client = client
        self.index = index

    def ensure(self) -> bool:
        return ensure_index(self.client, self.index, load_plain_mapping(CHANGES_FILE).index_body())

    def record(self, changes: Sequence[Change]) -> int:
        """Store ``changes`` (each at most once); returns how many were new."""
        if not changes:
            return 0
        return create_once(self.client, [(self.index, c.id, asdict(c)) for c in changes])

    def known_jobs(self, job_ids: Iterable[str]) -> set[str]:
        """Which of ``job_ids`` have any event (a job seen before is updated, not created)."""
        ids = sorted(set(job_ids))
        if not ids or not self.client.indices.exists(index=self.index):
            return set()
        answer = self.client.search(
            index=self.index,
            body={
                "size": 0,
                "query": {"terms": {"job_id": ids}},
                "aggs": {"jobs": {"terms": {"field": "job_id", "size": len(ids)}}},
            },
        )
        return {bucket["key"] for bucket in answer["aggregations"]["jobs"]["buckets"]}

    def read(
        self, since: datetime | None = None, *, limit: int = 1000, kinds: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Events at or after ``since``, oldest first (at most ``limit``)."""
        if not self.client.indices.exists(index=self.index):
            return []
        self.client.indices.refresh(index=self.index)
        filters: list[dict[str, Any]] = []
        if since is not None:
            filters.append({"range": {"at": {"gte": format_timestamp(since)}}})
        if kinds:
            filters.append({"terms": {"kind": list(kinds)}})
        answer = self.client.search(
            index=self.index,
            body={
                "size": min(limit, MAX_READ),
                "query": {"bool": {"filter": filters}},
                "sort": [{"at": "asc"}, {"job_id": "asc"}, {"version": "asc"}],
            },
        )
        return [hit["_source"] for hit in answer["hits"]["hits"]]

    def purge(self, older_than: datetime) -> int:
        """Delete the events before ``older_than``; returns how many."""
        if not self.client.indices.exists(index=self.index):
            return 0
        answer = self.client.delete_by_query(
            index=self.index,
            body={"query": {"range": {"at": {"lt": format_timestamp(older_than)}}}},
            params={"conflicts": "proceed"},
        )
        return int(answer.get("deleted", 0))
