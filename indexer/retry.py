"""The one retry primitive: bounded attempts, exponential backoff with jitter, ``Retry-After``.

Used by the feed client (429/5xx, network errors, truncated bodies), the bulk writer (whole
``_bulk`` requests, and the rounds that re-send 429/5xx items) and state writes (a checkpoint
answered 429). One rule everywhere:

- the wait after failed attempt ``n`` (1-based) is ``min(max_wait, base_backoff * 2**(n-1))``,
  shortened by up to ``jitter`` (a fraction) at random;
- when the server said how long to wait (``Retry-After``, parsed by :func:`parse_retry_after`),
  that wait is used instead, capped at ``max_wait``;
- the loop gives up after ``max_attempts`` attempts, or when the next wait would pass
  ``max_total`` seconds, with :class:`RetriesExhaustedError` (the caller turns it into its own,
  clearer error).

``sleep`` and ``rand`` are injectable, so tests record waits instead of sleeping.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from indexer.errors import IndexerError

T = TypeVar("T")

#: ``on_retry(attempt, error, wait_seconds)``: called before each wait (``attempt`` is 1-based).
OnRetry = Callable[[int, BaseException, float], None]


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on retrying. ``sleep`` and ``rand`` are injectable so tests never really wait.

    Exponential waits are ``min(max_wait, base_backoff * 2**(attempt-1))`` scaled down by up to
    ``jitter`` (a fraction); ``Retry-After`` waits are exact, capped at ``max_wait``. The run gives
    up after ``max_attempts`` attempts or when the next wait would pass ``max_total`` seconds.
    """

    max_attempts: int = 8
    max_wait: float = 60.0
    max_total: float = 600.0
    base_backoff: float = 0.5
    default_retry_after: float = 5.0
    jitter: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    rand: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts={self.max_attempts}: must be at least 1")
        for name in ("max_wait", "max_total", "base_backoff", "default_retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"RetryPolicy.{name}={getattr(self, name)}: must be >= 0")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"RetryPolicy.jitter={self.jitter}: must be between 0 and 1")

    def backoff(self, attempt: int) -> float:
        """The jittered exponential wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_wait, self.base_backoff * 2.0 ** (attempt - 1))
        return ceiling * (1.0 - self.jitter * self.rand())

    def retry_after(self, seconds: float | None) -> float:
        """The wait the server asked for (or the default when it named none), capped."""
        wanted = self.default_retry_after if seconds is None else seconds
        return min(self.max_wait, max(0.0, wanted))


class RetriesExhaustedError(IndexerError):
    """Every attempt failed; ``last`` is the last failure (also the ``__cause__``)."""

    def __init__(self, last: BaseException, *, attempts: int, elapsed: float) -> None:
        super().__init__(f"gave up after {attempts} attempt(s) over {elapsed:.1f} s: {last}")
        self.last = last
        self.attempts = attempts
        self.elapsed = elapsed


def retry_call(
    call: Callable[[], T],
    policy: RetryPolicy,
    *,
    retryable: Callable[[BaseException], bool],
    server_wait: Callable[[BaseException], float | None] = lambda _error: None,
    on_retry: OnRetry | None = None,
) -> T:
    """``call()`` until it succeeds, retrying the failures ``retryable`` accepts.

    ``server_wait(error)`` gives the seconds the server asked for (None: back off instead). A
    failure that is not retryable propagates as itself; when the bounds run out,
    :class:`RetriesExhaustedError` wraps the last one.
    """
    started = time.monotonic()
    slept = 0.0
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except Exception as error:
            if not retryable(error):
                raise
            asked = server_wait(error)
            wait = policy.backoff(attempt) if asked is None else policy.retry_after(asked)
            # With an injected sleep no real time passes, so count the planned waits too.
            elapsed = max(time.monotonic() - started, slept)
            if attempt >= policy.max_attempts or elapsed + wait > policy.max_total:
                raise RetriesExhaustedError(error, attempts=attempt, elapsed=elapsed) from error
            if on_retry is not None:
                on_retry(attempt, error, wait)
            policy.sleep(wait)
            slept += wait


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None
