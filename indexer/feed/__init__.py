"""The upstream: a client for the Jobo Feed API and the rules for paging it.

Modules, one concern each (arrows point down):

- :mod:`~indexer.feed.paging`: :class:`FeedScan` (every page of a scan once, cursor restarts,
  the guard against a cursor that does not move) and :func:`expired_ids`;
- :mod:`~indexer.feed.client`: :class:`JoboClient`, HTTP with keep-alive, retries and decoding;
- :mod:`~indexer.feed.models`: plain data (:class:`FeedRequest`, :class:`FeedPage`, ...);
- :mod:`~indexer.feed.errors`: the error tree (drawn in its docstring) and ``STATUS_TABLE``,
  the one table of what each HTTP status means.

Everything a caller needs is importable from here: ``from indexer.feed import JoboClient``.
"""

from indexer.feed.client import DEFAULT_RETRY_POLICY, JoboClient
from indexer.feed.errors import (
    DEFAULT_BASE_URL,
    EXPIRED_LOOKBACK,
    EXPIRED_PATH,
    FEED_PATH,
    STATUS_TABLE,
    JoboAuthError,
    JoboBadRequestError,
    JoboCreditsError,
    JoboCursorError,
    JoboCursorSpentError,
    JoboError,
    JoboForbiddenError,
    JoboInvalidCursorError,
    JoboLookbackError,
    JoboNotFoundError,
    JoboResponseError,
    JoboUnavailableError,
    Problem,
    Retry,
    StatusRule,
    format_datetime,
)
from indexer.feed.models import (
    MAX_EXPIRED_BATCH_SIZE,
    MAX_FEED_BATCH_SIZE,
    ExpiredPage,
    FeedPage,
    FeedRequest,
    Location,
    RetryEvent,
)
from indexer.feed.paging import FeedScan, FeedSource, expired_ids
from indexer.retry import RetryPolicy

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_RETRY_POLICY",
    "EXPIRED_LOOKBACK",
    "EXPIRED_PATH",
    "FEED_PATH",
    "MAX_EXPIRED_BATCH_SIZE",
    "MAX_FEED_BATCH_SIZE",
    "STATUS_TABLE",
    "ExpiredPage",
    "FeedPage",
    "FeedRequest",
    "FeedScan",
    "FeedSource",
    "JoboAuthError",
    "JoboBadRequestError",
    "JoboClient",
    "JoboCreditsError",
    "JoboCursorError",
    "JoboCursorSpentError",
    "JoboError",
    "JoboForbiddenError",
    "JoboInvalidCursorError",
    "JoboLookbackError",
    "JoboNotFoundError",
    "JoboResponseError",
    "JoboUnavailableError",
    "Location",
    "Problem",
    "Retry",
    "RetryEvent",
    "RetryPolicy",
    "StatusRule",
    "expired_ids",
    "format_datetime",
]
