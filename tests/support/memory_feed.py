"""An in-memory feed for unit tests of paging and flows: pages served by cursor, no HTTP.

``MemoryFeed(jobs, batch_size=2)`` cuts ``jobs`` into pages whose cursors are ``"c1"``,
``"c2"``...; ``refuse`` makes chosen cursors fail as the real API does (400 Invalid cursor), and
``stuck`` makes the page after a chosen cursor answer with that same cursor. Every call is
recorded in ``calls`` (the cursor sent, ``None`` for a first page).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from indexer.feed import (
    ExpiredPage,
    FeedPage,
    FeedRequest,
    JoboCursorSpentError,
    JoboInvalidCursorError,
)


@dataclass
class MemoryFeed:
    jobs: list[dict[str, Any]]
    batch_size: int = 2
    refuse: dict[str, int] = field(default_factory=dict)  # cursor -> times to refuse it
    spent: set[str] = field(default_factory=set)  # cursors answered with 409
    stuck: set[str] = field(default_factory=set)
    calls: list[str | None] = field(default_factory=list)

    def _pages(self) -> list[list[dict[str, Any]]]:
        size = self.batch_size
        return [self.jobs[i : i + size] for i in range(0, len(self.jobs), size)] or [[]]

    def feed_page(
        self, request: FeedRequest | None = None, *, cursor: str | None = None
    ) -> FeedPage:
        self.calls.append(cursor)
        if cursor is not None and self.refuse.get(cursor, 0) > 0:
            self.refuse[cursor] -= 1
            raise JoboInvalidCursorError("400 Invalid cursor", status=400)
        if cursor in self.spent:
            raise JoboCursorSpentError("409 spent", status=409)
        index = 0 if cursor is None else int(cursor[1:])
        pages = self._pages()
        more = index + 1 < len(pages)
        next_cursor = cursor if cursor in self.stuck else (f"c{index + 1}" if more else None)
        return FeedPage(
            jobs=list(pages[index]),
            next_cursor=next_cursor,
            has_more=more,
            estimated_total=len(self.jobs) if index == 0 else None,
        )


@dataclass
class MemoryExpired:
    pages: list[list[str]]
    stuck: set[str] = field(default_factory=set)
    calls: list[str | None] = field(default_factory=list)

    def expired_page(
        self,
        *,
        expired_since: datetime | None,
        cursor: str | None = None,
        batch_size: int = 10000,
    ) -> ExpiredPage:
        self.calls.append(cursor)
        index = 0 if cursor is None else int(cursor[1:])
        more = index + 1 < len(self.pages)
        next_cursor = cursor if cursor in self.stuck else (f"e{index + 1}" if more else None)
        return ExpiredPage(job_ids=list(self.pages[index]), next_cursor=next_cursor, has_more=more)
