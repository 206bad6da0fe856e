"""A scan's checkpoint: the resumable position of a feed scan, kept in the state index.

It advances only on acknowledged pages (``advance`` is called from the pipeline's in-order
acknowledgement, after OpenSearch answered for every item of the page), so what is stored never
runs ahead of durable data. During a scan the writes go through a ``CheckpointSaver`` thread
(``saving_in_background``): a state write costs a translog fsync, longer than a page takes, and
the newest snapshot is all that matters. A stored checkpoint may lag by the pages acknowledged
during one write; a killed scan fetches those again on resume, and writes are idempotent.

The document (``doc``) keeps: the feed ``request`` it scans, the ``cursor`` of the next page,
``started_at``, the ``pages`` and ``jobs`` acknowledged, the ``anonymous_jobs`` among them (no
usable id), the first page's ``estimated_total``, and ``completed``/``completed_at`` once the
last page was acknowledged. A re-sync adds its spill's identity (``seen_token``, ``seen_path``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from opensearchpy import ConnectionError as OpenSearchConnectionLost

from indexer.errors import ExitCode, SyncError
from indexer.feed import FeedPage
from indexer.store.state import StateStore, Versioned
from indexer.store.state_docs import SyncWatermark
from indexer.sync.checkpoint_saver import CheckpointSaver
from indexer.timestamps import format_timestamp, utcnow

log = logging.getLogger("indexer.sync")

# During a scan, at most one checkpoint write per second: a killed scan replays at most the pages
# of about a second more, and the node keeps its CPU for the scan's own requests.
SAVE_EVERY_S = 1.0


def job_id(job: Any) -> str | None:
    """A job's id when it has a usable one (a non-empty string), else None."""
    ident = job.get("id") if isinstance(job, dict) else None
    return ident if isinstance(ident, str) and ident else None


class ScanCheckpoint:
    """A scan's resumable position under ``key`` in the state index (also used for the small
    state documents: ``sync``, ``credits``)."""

    def __init__(self, state: StateStore, key: str) -> None:
        self.state = state
        self.key = key
        self.versioned: Versioned | None = state.load(key)
        self.doc: dict[str, Any] = dict(self.versioned.doc) if self.versioned else {}
        self._saver: CheckpointSaver | None = None

    @property
    def completed(self) -> bool:
        return bool(self.doc.get("completed"))

    def resumable_for(self, request: dict[str, Any]) -> bool:
        return bool(self.doc) and not self.completed and self.doc.get("request") == request

    def start_fresh(self, request: dict[str, Any]) -> None:
        """Forget the last scan's position: a new scan of ``request`` starts at its first page."""
        self.doc = {
            "request": request,
            "cursor": None,
            "started_at": format_timestamp(utcnow()),
            "pages": 0,
            "jobs": 0,
            "anonymous_jobs": 0,
            "completed": False,
        }

    def advance(self, page: FeedPage) -> None:
        """Move past ``page``, which OpenSearch acknowledged in full, and store the position
        (in the background inside ``saving_in_background``, else at once)."""
        doc = self.doc
        if page.estimated_total is not None:  # the first page's, kept for a resumed run
            doc.setdefault("estimated_total", page.estimated_total)
        finished = not page.has_more or not page.next_cursor
        doc["cursor"] = None if finished else page.next_cursor
        doc["pages"] = doc.get("pages", 0) + 1
        doc["jobs"] = doc.get("jobs", 0) + len(page.jobs)
        doc["anonymous_jobs"] = doc.get("anonymous_jobs", 0) + sum(
            1 for job in page.jobs if job_id(job) is None
        )
        if finished:
            doc["completed"] = True
            doc["completed_at"] = format_timestamp(utcnow())
        if self._saver is not None:
            self._saver.submit(doc)
        else:
            self.save()

    @contextlib.contextmanager
    def saving_in_background(self) -> Iterator[None]:
        """Inside, ``advance`` hands its snapshots to a writer thread; on the way out the last
        one is written (a failure of that write is raised unless the body failed first)."""
        saver = CheckpointSaver(self, min_interval=SAVE_EVERY_S)
        self._saver = saver
        try:
            yield
        except BaseException:
            self._saver = None
            with contextlib.suppress(Exception):  # never hide the scan's own error
                saver.close()
            raise
        self._saver = None
        saver.close()

    def save(self, doc: dict[str, Any] | None = None) -> None:
        """Store ``doc`` (default: the current one); a 429 is retried by the state store."""
        body = self.doc if doc is None else doc
        with state_write(f"the {self.key} checkpoint"):
            self.versioned = self.state.save(self.key, body, expected=self.versioned)


@contextlib.contextmanager
def state_write(what: str) -> Iterator[None]:
    """Around a state write: every node given unreachable (the client already failed over)
    becomes an error that says so and how to go on, as the bulk writer says it for pages."""
    try:
        yield
    except OpenSearchConnectionLost as exc:
        raise SyncError(
            f"could not store {what}: OpenSearch is unreachable "
            f"({exc.__class__.__name__}: {exc.error}). Check that OpenSearch is up and "
            "healthy (GET /_cluster/health), then re-run the same command: it resumes "
            "from the last stored checkpoint and writes are idempotent.",
            exit_code=ExitCode.OPENSEARCH_FAILED,
        ) from exc


def save_watermark(state: StateStore, watermark: SyncWatermark) -> None:
    """Store the ``sync`` document (conditionally: see :class:`SyncWatermark`)."""
    with state_write("the sync watermark"):
        watermark.save(state)
