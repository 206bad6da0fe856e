"""What a page write tells the change stream, recorded before the page is acknowledged, and
when the alerts match what was written.

:meth:`WriteRecorder.write_page` wraps the bulk write of one page of the feed:

1. the bulk write reports each item's outcome: a ``created`` or ``updated`` answer is a new
   version written now;
2. a version conflict (409) means the index already holds that version. In a resumed scan, if
   it was written during this very scan (its stored ``indexed_at`` is not older than the scan's
   start) a run that died between its write and the recording below may not have recorded it:
   it is recovered (kind ``updated`` when the change stream knows the job, else ``created``);
3. the change events are written once (deterministic ids, ``op_type=create``), and only then
   does the call return, so the flows' checkpoint (which moves when the page is acknowledged)
   never passes an unrecorded version.

The alerts do not slow the page down: :meth:`WriteRecorder.match_written` asks for a matching
pass (:mod:`indexer.alerts.matcher`) over everything written up to a moment the page writer
vouches for, on a helper thread while the pipeline goes on; the pass's own stored window means
a run that dies first leaves nothing unmatched. :meth:`WriteRecorder.write_expiries` records
the sweep's and the re-sync's expiries (an expiry answered ``noop`` was recorded by the run that
made it, or is recovered here).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opensearchpy import OpenSearch

from indexer.alerts.matcher import Matcher, Passes
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
    recovered: int = 0


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
        self.passes = Passes(Matcher(client, names, run_id=lambda: self.run_id)) if alerts else None
        self.stats = RecorderStats()
        self._ready = False

    def ensure(self) -> None:
        """Create the indices the recording needs (once per recorder)."""
        if self._ready:
            return
        if self.stream is not None:
            self.stream.ensure()
        self._ready = True

    def close(self) -> None:
        if self.passes is not None:
            self.passes.close()

    def match_written(self, end: datetime, *, wait: bool) -> None:
        """Match every job version written before ``end`` that no pass has matched yet (the
        caller vouches that each one is durable). ``wait``: run it now, after any pass still
        running (the end of a scan); else on the helper thread, unless a pass is running."""
        if self.passes is None:
            return
        if wait:
            self.passes.finish(end)
        else:
            self.passes.request(end)

    @property
    def records_changes(self) -> bool:
        """Whether pages' writes are recorded in the change stream (else ``known`` is unused)."""
        return self.stream is not None

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
        """Write ``ops`` with ``writer``; record their changes before returning.

        ``scan_started_at``: the start of the scan when it resumes one a run began before (its
        conflicts may be versions that run wrote but did not record); None for a fresh scan,
        whose conflicts are versions written, and recorded, before it began. ``known``: jobs of
        the page not sent because the index holds their version (treated as conflicts)."""
        self.ensure()
        writes = _PageWrites()
        result = writer.write(ops, observe=writes.observe)
        if self.stream is not None:
            writes.conflicts.extend(known)
            self._record(writes, self._recover(writes.conflicts, scan_started_at))
        return result

    def write_expiries(self, ops: Sequence[ExpireOp | DeleteOp], writer: BulkWriter) -> BulkResult:
        self.ensure()
        writes = _PageWrites()
        result = writer.write(ops, observe=writes.observe)
        if self.stream is not None:
            self._record(writes, {})
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

    def _record(self, writes: _PageWrites, recovered: dict[str, tuple[IndexOp, str, str]]) -> None:
        assert self.stream is not None
        now = format_timestamp(utcnow())
        changes = list(self._changes(writes, recovered, now))
        if changes:
            create_once(
                self.client,
                [(self.stream.index, change.id, _as_body(change)) for change in changes],
            )
        self.stats.changes += len(changes)

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


def _as_body(change: Change) -> dict[str, Any]:
    return {
        "job_id": change.job_id,
        "version": change.version,
        "kind": change.kind,
        "run_id": change.run_id,
        "run_kind": change.run_kind,
        "at": change.at,
    }
