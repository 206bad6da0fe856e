"""A re-sync's evidence: what the feed has, what the index has, and the ids to expire.

The flow scans the feed through its pipeline and hands every acknowledged page's ids here;
meanwhile ``IndexRead`` reads the index once, in its own thread. Both land in one spill file.
When the feed scan completed, ``reconcile`` waits for the index side, anti-joins the two on
disk and says how many ids to expire; ``missing_ids`` streams them. Evidence is complete only
when both streams reached their end: an incomplete side raises or reports "stopped", never
"nothing is missing".

Resuming: the scan's checkpoint stores the spill's token; a resumed scan continues only with the
very file it wrote, holding at least the ids its checkpoint counted. The index is read again on
every run, from a new point in time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from opensearchpy import OpenSearch

from indexer.progress import Heartbeat, Progress
from indexer.sync.index_read import IndexRead
from indexer.sync.spill import open_spill
from indexer.timestamps import epoch_millis, parse_timestamp

log = logging.getLogger("indexer.sync")


class ResyncEvidence:
    """Both streams of one re-sync, spilled to ``path``."""

    def __init__(
        self,
        client: OpenSearch,
        index: str,
        path: Path,
        *,
        progress: Callable[[str, int | None], Progress],
        stop: threading.Event,
    ) -> None:
        self.spill = open_spill(path)
        self._progress = progress
        self._read = IndexRead(client, index, self.spill, progress=progress, stop=stop)
        self._trusted: dict[tuple[Any, ...], bool] = {}
        self._feed_count: int | None = None

    # ---- hooks of the feed scan ------------------------------------------------------------

    def fresh_start(self, doc: dict[str, Any]) -> None:
        """A new re-sync: forget the last one's evidence; the checkpoint names this file."""
        self.spill.clear()
        doc["seen_token"] = self.spill.token
        doc["seen_path"] = str(self.spill.path)

    def can_resume(self, doc: dict[str, Any]) -> bool:
        """Whether the scan in progress may go on with this file (asked twice per run: by the
        cost estimate and by the scan; the file is checked and the refusal logged once)."""
        acknowledged = int(doc.get("jobs", 0)) - int(doc.get("anonymous_jobs", 0))
        key = (doc.get("seen_token"), acknowledged)
        if key in self._trusted:
            return self._trusted[key]
        trusted = self._trusted[key] = self.spill.trustworthy(doc.get("seen_token"), acknowledged)
        if not trusted:
            log.warning(
                "resync: the spill file %s does not hold the ids the checkpoint counted; "
                "starting the re-sync over",
                self.spill.path,
            )
        return trusted

    def start(self, doc: dict[str, Any]) -> None:
        """The scan is about to run: start the index read (documents this re-sync writes, at
        or after ``started_at``, are never candidates for expiry)."""
        self._read.start(not_written_since=epoch_millis(parse_timestamp(doc["started_at"])))

    def record_ids(self, ids: Iterable[str]) -> None:
        self.spill.add_feed_ids(ids)

    def known_versions(self, ids: list[str]) -> dict[str, int]:
        return self._read.known_versions(ids)

    # ---- after the feed scan ---------------------------------------------------------------

    def reconcile(self) -> int | None:
        """How many index ids the feed no longer has; None when the index read was stopped."""
        if not self._read.finish():
            return None
        heartbeat = Heartbeat("resync: anti-join, indexing the feed ids")
        progress = self._progress("resync: anti-join", self.spill.index_count())
        started = time.monotonic()
        try:
            missing = self.spill.compute_missing(heartbeat=heartbeat.beat, advance=progress.advance)
        finally:
            progress.close()
        self._feed_count = self.spill.feed_count()
        log.info(
            "resync: anti-join of %s feed ids with %s index ids: %s missing (%.1f s); %s ids "
            "were looked up in the index while its read ran",
            f"{self._feed_count:,}",
            f"{self.spill.index_count():,}",
            f"{missing:,}",
            time.monotonic() - started,
            f"{self.lookups:,}",
        )
        return missing

    def missing_ids(self) -> Iterator[str]:
        return self.spill.missing_ids()

    def feed_count(self) -> int:
        """Distinct feed ids (counted once, by ``reconcile``)."""
        if self._feed_count is None:
            self._feed_count = self.spill.feed_count()
        return self._feed_count

    @property
    def lookups(self) -> int:
        """Ids looked up in the index because the index read had not reached them yet."""
        return self._read.lookups

    def discard(self) -> None:
        """The re-sync is reconciled: its evidence is no longer needed."""
        self.close()
        self.spill.remove_file()

    def close(self) -> None:
        self._read.close()
        self.spill.close()
