"""The index side of a re-sync: one point-in-time pass over the index, in its own thread.

The pass runs while the feed is being scanned, instead of before it (for the versions) and after
it (for the missing ids). It spills ``(id, version, active)`` into the re-sync's spill file, in
the index's own order (the cheapest to page through), which then serves two purposes:

- the page writers ask ``known_versions(ids)`` to skip jobs the index already holds at the same
  version. Ids the spill has are decided there; while the pass runs, the others are looked up
  in the index directly (one search per page, by the keyword ``id``): the earlier the page, the
  more look-ups, and none once the pass is complete (absent then means the index does not have
  it). The pass is quicker than the feed scan (it reads doc values only, 10,000 a page), so
  look-ups concern the first part of the scan only (``lookups`` counts them);
- the reconciliation anti-joins the spilled active ids with the spilled feed ids, on disk.

The point in time is opened when the pass starts, before the re-sync writes anything of this
run, so "active in the snapshot and absent from the feed" is exactly the set to expire: every
document this run writes came from the feed. A pass that did not reach the end (stopped, failed)
leaves the spill's index side incomplete, and the anti-join refuses to run on it. A resumed
re-sync reads the index again, from a new point in time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from opensearchpy import OpenSearch

from indexer.errors import ExitCode, SyncError
from indexer.progress import Progress
from indexer.store.scan import VERSION_FIELD, iter_index_pages, lookup_versions
from indexer.sync.resync_spill import ResyncSpill

log = logging.getLogger("indexer.sync")

SPILL_BATCH = 10_000  # rows per spill transaction: one PIT page (the most a search returns)
INDEXED_AT_FIELD = {"field": "indexed_at", "format": "epoch_millis"}


class IndexReadError(SyncError):
    """The index pass failed; the re-sync cannot reconcile (nothing was expired)."""

    exit_code = ExitCode.OPENSEARCH_FAILED


class IndexRead:
    """Reads the index's ids once into ``spill`` from a background thread."""

    def __init__(
        self,
        client: OpenSearch,
        index: str,
        spill: ResyncSpill,
        *,
        progress: Callable[[str, int | None], Progress],
        stop: threading.Event,
        page_size: int = SPILL_BATCH,
    ) -> None:
        self._client = client
        self._index = index
        self._spill = spill
        self._progress = progress
        self._stop = stop
        self._page_size = page_size
        self._complete = False
        self._error: BaseException | None = None
        self._closing = threading.Event()
        self._not_written_since: int | None = None
        self._thread = threading.Thread(target=self._run, name="index-read", daemon=True)
        self.lookups = 0  # ids looked up in the index because the pass had not reached them

    def start(self, *, not_written_since: int | None = None) -> None:
        """Start the pass; ``active`` rows are documents with status active not written at or
        after ``not_written_since`` (epoch ms): the ones a re-sync may expire."""
        self._not_written_since = not_written_since
        # Always from a new point in time, even when a resumed scan's file holds a complete
        # read: between the two runs, a sync may have written documents that the old snapshot
        # shows as not written since the re-sync began.
        self._spill.restart_index()
        self._thread.start()

    def known_versions(self, ids: list[str]) -> dict[str, int]:
        """The index's version of those of ``ids`` it holds (spill first, index for the rest)."""
        self._raise_if_failed()
        complete = self._complete  # read before the spill is queried: once complete, every
        found = self._spill.versions_of(ids)  # document of the snapshot is committed there
        if complete:
            return found
        ahead = [i for i in ids if i not in found]
        if ahead:
            self.lookups += len(ahead)
            found.update(lookup_versions(self._client, self._index, ahead))
        return found

    def finish(self) -> bool:
        """Wait for the pass; True when it reached the end. Raises its error if it failed."""
        if self._thread.ident is not None:
            self._thread.join()
        self._raise_if_failed()
        return self._complete

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise IndexReadError(
                f"resync: the index read failed: {self._error}; nothing was expired"
            ) from self._error

    def close(self) -> None:
        """Stop the pass (if it still runs) and wait for its thread."""
        self._closing.set()
        if self._thread.ident is not None:
            self._thread.join()

    def _stopping(self) -> bool:
        return self._stop.is_set() or self._closing.is_set()

    def _run(self) -> None:
        try:
            self._read()
        except BaseException as error:  # re-raised in the flow's thread by finish()
            self._error = error

    def _read(self) -> None:
        total = self._client.count(index=self._index)["count"]
        progress = self._progress("resync: index read", total)
        pages = iter_index_pages(
            self._client,
            self._index,
            fields=(VERSION_FIELD, "status", INDEXED_AT_FIELD),
            page_size=self._page_size,
        )
        try:
            for page in pages:
                if self._stopping():
                    return
                self._spill.add_index_entries(self._row(*values) for values in page)
                progress.advance(len(page))
            self._spill.mark_index_complete()
            self._complete = True
        finally:
            pages.close()
            progress.close(finished=self._complete)

    def _row(
        self, ident: str, version: Any, status: Any, indexed_at: Any
    ) -> tuple[str, int | None, bool]:
        # A document without ``indexed_at`` is never a candidate (as a range query on it would
        # not match it either): only what is known to predate the re-sync may be expired.
        active = status == "active" and (
            self._not_written_since is None
            or (indexed_at is not None and int(indexed_at) < self._not_written_since)
        )
        return ident, int(version) if version else None, active
