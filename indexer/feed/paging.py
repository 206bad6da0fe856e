"""Paging: every page of a scan, once, in order, with the cursor rules of the contract.

A cursor carries the scan's filters, so a page after the first is asked for by its cursor alone.
:class:`FeedScan` owns the rules that make a long scan safe:

- the end is ``has_more: false`` *or* no ``next_cursor`` (a server that says "more" without a
  cursor ends the scan instead of restarting it);
- a server that answers a cursor with that same cursor would loop forever: the scan fails with
  :class:`~indexer.feed.errors.JoboResponseError`, also on the first page of a resumed scan;
- a cursor the server refuses (400 ``Invalid cursor``, 409 spent) restarts the scan from the
  first page with the same filters, at most ``max_cursor_restarts`` times (writes downstream are
  idempotent, so a restart costs pages, never correctness);
- ``may_fetch()`` is asked before every page, so a caller can stop before a page it cannot pay
  for (a credits cap) or when a stop was requested.

:func:`expired_ids` does the same for ``GET /api/jobs/expired``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from indexer.feed.errors import EXPIRED_PATH, FEED_PATH, JoboCursorError, cursor_stuck_error
from indexer.feed.models import MAX_EXPIRED_BATCH_SIZE, ExpiredPage, FeedPage, FeedRequest

log = logging.getLogger("indexer.feed")


class FeedSource(Protocol):
    """What paging needs of a client: one page at a time (``JoboClient`` is one)."""

    def feed_page(
        self, request: FeedRequest | None = None, *, cursor: str | None = None
    ) -> FeedPage: ...


class ExpiredSource(Protocol):
    def expired_page(
        self,
        *,
        expired_since: datetime | None,
        cursor: str | None = None,
        batch_size: int = MAX_EXPIRED_BATCH_SIZE,
    ) -> ExpiredPage: ...


def _always() -> bool:
    return True


@dataclass
class FeedScan:
    """The pages of one feed scan: from the first page of ``request``, or after ``cursor``.

    Iterate it once. After each page, :attr:`first_page` says whether that page started the
    scan (no cursor was sent), which is when ``estimated_total`` describes the whole scan, and
    :attr:`restarts` counts the cursor restarts so far.
    """

    source: FeedSource
    request: FeedRequest
    cursor: str | None = None
    max_cursor_restarts: int = 0
    may_fetch: Callable[[], bool] = _always
    on_restart: Callable[[JoboCursorError], None] | None = None
    restarts: int = field(default=0, init=False)
    first_page: bool = field(default=False, init=False)

    def __iter__(self) -> Iterator[FeedPage]:
        cursor = self.cursor
        while self.may_fetch():
            try:
                page = self.source.feed_page(self.request, cursor=cursor)
            except JoboCursorError as refused:
                if cursor is None or self.restarts >= self.max_cursor_restarts:
                    raise
                self.restarts += 1
                log.warning(
                    "the feed refused the cursor (%s); restarting the scan from the first page "
                    "with the same filters (writes are idempotent)",
                    refused,
                )
                if self.on_restart is not None:
                    self.on_restart(refused)
                cursor = None
                continue
            if cursor is not None and page.next_cursor == cursor:
                raise cursor_stuck_error(FEED_PATH)
            self.first_page = cursor is None
            yield page
            if not page.has_more or not page.next_cursor:
                return
            cursor = page.next_cursor


def expired_ids(
    source: ExpiredSource,
    expired_since: datetime | None,
    *,
    batch_size: int = MAX_EXPIRED_BATCH_SIZE,
) -> Iterator[list[str]]:
    """Pages of expired job ids (non-empty lists) until the server says there are no more."""
    cursor: str | None = None
    while True:
        page = source.expired_page(
            expired_since=expired_since, cursor=cursor, batch_size=batch_size
        )
        if cursor is not None and page.next_cursor == cursor:
            raise cursor_stuck_error(EXPIRED_PATH)
        if page.job_ids:
            yield page.job_ids
        if not page.has_more or not page.next_cursor:
            return
        cursor = page.next_cursor
