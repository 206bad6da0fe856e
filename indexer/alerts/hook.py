"""What a page write tells the change stream and the alerts, recorded before the page is
acknowledged.

:meth:`WriteRecorder.write_page` wraps the bulk write of one page of the feed:

1. the page's documents are percolated against the saved searches on a helper thread *while*
   the bulk write runs (both only read the page);
2. the bulk write reports each item's outcome: a ``created`` or ``updated`` answer is a new
   version written now;
3. a version conflict (409) means the index already holds that version. In a resumed scan, if
   it was written during this very scan (its stored ``indexed_at`` is not older than the scan's
   start) a run that died
   between its write and the recording below may not have recorded it: it is recovered, with the
   time it was written (kind ``updated`` when the change stream knows the job, else ``created``);
4. the change events and the (saved search, job) matches are written once (deterministic ids,
   ``op_type=create``) in one ``_bulk``, and only then does the call return, so the flows'
   checkpoint (which moves when the page is acknowledged) never passes an unrecorded version.

A match needs a version written after the search was saved (``written_at >= saved_at``): jobs
that matched before the search existed do not alert, a later edit that makes one match does.
:meth:`WriteRecorder.write_expiries` does the same for the sweep's and the re-sync's expiries
(an expiry answered ``noop`` was recorded by the run that made it, or is recovered here).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from opensearchpy import OpenSearch

from indexer.alerts.matches import Match, ensure_matches_index
from indexer.alerts.percolate import Hit, Percolator
from indexer.alerts.saved import ensure_saved_searches_index
from indexer.store.bulk import BulkResult, BulkWriter, DeleteOp, ExpireOp, IndexOp, Operation
from indexer.store.bulk_wire import (
    OUTCOME_DELETED,
    OUTCOME_EXPIRED,
    OUTCOME_INDEXED,
    OUTCOME_UNCHANGED,
)
from indexer.store.changes import Change, ChangeStream
from indexer.store.layout import IndexNames
from indexer.store.once import create_once
from indexer.store.runs import RunRecorder
from indexer.timestamps import format_timestamp, parse_timestamp, utcnow

log = logging.getLogger("indexer.alerts")


@dataclass
class _PageWrites:
    """What one bulk write did, item by item."""

    written: dict[str, tuple[IndexOp, str, int]] = field(default_factory=dict)  # kind, version
    conflicts: list[IndexOp] = field(default_factory=list)
    expiries: list[tuple[str, str, int]] = field(default_factory=list)  # id, kind, version

    def observe(self, op: Operation, outcome: str, answer: dict[str, Any]) -> None:
        version = int(answer.get("_version") or 0)
        if isinstance(op, IndexOp):
            if outcome == OUTCOME_INDEXED:
                kind = "created" if answer.get("result") == "created" else "updated"
                self.written[op.id] = (op, kind, version or op.version)
            elif outcome == OUTCOME_UNCHANGED:
                self.conflicts.append(op)
        elif isinstance(op, ExpireOp) and outcome in (OUTCOME_EXPIRED, OUTCOME_UNCHANGED):
            # A noop is an expiry made before (by this run's crashed attempt or an earlier
            # run): its _version is the one that expiry wrote, so its event id is the same.
            if version:
                self.expiries.append((op.id, "expired", version))
        elif isinstance(op, DeleteOp) and outcome == OUTCOME_DELETED:
            self.expiries.append((op.id, "deleted", version))


@dataclass
class RecorderStats:
    changes: int = 0
    matches: int = 0
    recovered: int = 0
    percolated: int = 0


class WriteRecorder:
    """The change stream and the alert matches of the runs on one index base."""

    def __init__(
        self,
        client: OpenSearch,
        names: IndexNames,
        runs: RunRecorder | None = None,
        *,
        run_kind: str | None = None,
        changes: bool = True,
        alerts: bool = True,
    ) -> None:
        self.client = client
        self.names = names
        self.runs = runs
        self.run_kind = run_kind
        self.stream = ChangeStream(client, names.changes) if changes else None
        self.percolator = Percolator(client, names.saved_searches) if alerts else None
        self.stats = RecorderStats()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="percolate")
        self._ready = False

    def ensure(self) -> None:
        """Create the indices the recording needs (once per recorder)."""
        if self._ready:
            return
        if self.stream is not None:
            self.stream.ensure()
        if self.percolator is not None:
            ensure_saved_searches_index(self.client, self.names)
            ensure_matches_index(self.client, self.names)
        self._ready = True

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    @property
    def run_id(self) -> str | None:
        return self.runs.last_run_id if self.runs is not None else None

    # -- the page path --------------------------------------------------------------------------

    def write_page(
        self,
        ops: Sequence[Operation],
        writer: BulkWriter,
        *,
        scan_started_at: str | None,
        known: Sequence[IndexOp] = (),
    ) -> BulkResult:
        """Write ``ops`` with ``writer``; record their changes and matches before returning.

        ``scan_started_at``: the start of the scan when it resumes one a run began before (its
        conflicts may be versions that run wrote but did not record); None for a fresh scan,
        whose conflicts are versions written, and recorded, before it began. ``known``: jobs of
        the page not sent because the index holds their version (treated as conflicts)."""
        self.ensure()
        documents = [op for op in ops if isinstance(op, IndexOp)] + list(known)
        hits: Future[list[Hit]] | None = None
        if self.percolator is not None and documents:
            percolator = self.percolator
            hits = self._pool.submit(percolator.percolate, [op.document for op in documents])
        writes = _PageWrites()
        try:
            result = writer.write(ops, observe=writes.observe)
        except BaseException:
            if hits is not None:
                hits.cancel()
            raise
        writes.conflicts.extend(known)
        recovered = self._recover(writes.conflicts, scan_started_at)
        matched = hits.result() if hits is not None else []
        self._record(writes, recovered, matched, documents)
        return result

    def write_expiries(self, ops: Sequence[ExpireOp | DeleteOp], writer: BulkWriter) -> BulkResult:
        self.ensure()
        writes = _PageWrites()
        result = writer.write(ops, observe=writes.observe)
        self._record(writes, {}, [], [])
        return result

    # -- steps ----------------------------------------------------------------------------------

    def _recover(
        self, conflicts: list[IndexOp], scan_started_at: str | None
    ) -> dict[str, tuple[IndexOp, str, str]]:
        """Versions the index holds already that this scan wrote: id -> (op, kind, written_at)."""
        if not conflicts or scan_started_at is None:
            return {}
        ours = {op.id: op for op in conflicts}
        # A realtime read (mget, not a search): a dead run's last writes may not be refreshed.
        answer = self.client.mget(
            index=self.names.write_alias,
            body={"ids": sorted(ours)},
            params={"_source_includes": "indexed_at", "realtime": "true"},
        )
        since = parse_timestamp(scan_started_at)
        found = {
            doc["_id"]: doc["_source"]["indexed_at"]
            for doc in answer["docs"]
            if doc.get("found")
            and int(doc.get("_version", -1)) == ours[doc["_id"]].version
            and (doc.get("_source") or {}).get("indexed_at")
            and parse_timestamp(doc["_source"]["indexed_at"]) >= since
        }
        if not found:
            return {}
        known = self.stream.known_jobs(found) if self.stream is not None else set()
        self.stats.recovered += len(found)
        return {
            ident: (ours[ident], "updated" if ident in known else "created", written_at)
            for ident, written_at in found.items()
        }

    def _record(
        self,
        writes: _PageWrites,
        recovered: dict[str, tuple[IndexOp, str, str]],
        hits: list[Hit],
        documents: list[IndexOp],
    ) -> None:
        now = format_timestamp(utcnow())
        facts: list[tuple[str, str, dict[str, Any]]] = []
        if self.stream is not None:
            changes = list(self._changes(writes, recovered, now))
            facts.extend((self.stream.index, change.id, _as_body(change)) for change in changes)
            self.stats.changes += len(changes)
        for match in self._matches(writes, recovered, hits, documents, now):
            facts.append((self.names.alert_matches, match.id, match.body()))
        if facts:
            create_once(self.client, facts)
        self.stats.percolated += len(documents) if self.percolator is not None else 0

    def _changes(
        self, writes: _PageWrites, recovered: dict[str, tuple[IndexOp, str, str]], now: str
    ) -> Iterable[Change]:
        run_id = self.run_id
        # Run ids read "<time>-<kind>-<token>" (RunRecorder.start).
        run_kind = self.run_kind or (run_id.split("-")[1] if run_id and "-" in run_id else None)
        for ident, (_op, kind, version) in writes.written.items():
            yield Change(ident, version, kind, run_id, run_kind, now)
        for ident, (op, kind, _written_at) in recovered.items():
            yield Change(ident, op.version, kind, run_id, run_kind, now)
        for ident, kind, version in writes.expiries:
            yield Change(ident, version, kind, run_id, run_kind, now)

    def _matches(
        self,
        writes: _PageWrites,
        recovered: dict[str, tuple[IndexOp, str, str]],
        hits: list[Hit],
        documents: list[IndexOp],
        now: str,
    ) -> Iterable[Match]:
        for hit in hits:
            op = documents[hit.slot]
            if op.id in writes.written:
                written_at = str(op.document.get("indexed_at") or now)
            elif op.id in recovered:
                written_at = recovered[op.id][2]
            else:
                continue  # a version the index held before this scan: matched then, or never
            if parse_timestamp(written_at) < parse_timestamp(hit.saved_at):
                continue  # written before the search was saved
            company = op.document.get("company") or {}
            yield Match(
                search=hit.search,
                search_saved_at=hit.saved_at,
                job_id=op.id,
                version=op.version,
                matched_at=now,
                written_at=written_at,
                run_id=self.run_id,
                title=op.document.get("title"),
                company=company.get("name") if isinstance(company, dict) else None,
                listing_url=op.document.get("listing_url"),
            )
            self.stats.matches += 1


def _as_body(change: Change) -> dict[str, Any]:
    return {
        "job_id": change.job_id,
        "version": change.version,
        "kind": change.kind,
        "run_id": change.run_id,
        "run_kind": change.run_kind,
        "at": change.at,
    }
