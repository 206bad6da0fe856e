"""The plain data of the Feed API: what a scan asks for and what a page holds.

:class:`FeedRequest` is the filters of one scan (its ``to_body()`` is the first page's JSON body);
:class:`FeedPage` and :class:`ExpiredPage` are decoded pages; :class:`RetryEvent` is what the
client tells an ``on_retry`` callback. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from indexer.feed._values import short_cursor
from indexer.feed.errors import check_aware, format_datetime

MAX_FEED_BATCH_SIZE: Final = 1000
MAX_EXPIRED_BATCH_SIZE: Final = 10000


@dataclass(frozen=True)
class Location:
    """One entry of the feed's ``locations`` filter; a job matches any of them."""

    country: str | None = None
    region: str | None = None
    city: str | None = None

    def to_body(self) -> dict[str, str]:
        body = {"country": self.country, "region": self.region, "city": self.city}
        return {key: value for key, value in body.items() if value}


@dataclass(frozen=True)
class FeedRequest:
    """The filters of one feed scan; ``to_body()`` is the JSON body of its first page.

    Datetimes must be timezone-aware; they are sent as ISO 8601 UTC with a ``Z``. Employment
    types are accepted with underscores or hyphens and sent hyphenated (``full-time``).
    """

    batch_size: int = MAX_FEED_BATCH_SIZE
    updated_after: datetime | None = None
    posted_after: datetime | None = None
    sources: Sequence[str] | None = None
    work_models: Sequence[str] | None = None
    employment_types: Sequence[str] | None = None
    experience_levels: Sequence[str] | None = None
    locations: Sequence[Location | Mapping[str, str | None]] | None = None
    stable_scan: bool = True

    def __post_init__(self) -> None:
        check_batch_size(self.batch_size, MAX_FEED_BATCH_SIZE, "FeedRequest.batch_size")
        for name in ("updated_after", "posted_after"):
            value = getattr(self, name)
            if value is not None:
                check_aware(value, f"FeedRequest.{name}")
        for name in ("sources", "work_models", "employment_types", "experience_levels"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ValueError(
                    f"FeedRequest.{name} must be a list of strings, not the string {value!r}: "
                    f"write {name}=[{value!r}]"
                )
            if value is not None:
                object.__setattr__(self, name, tuple(value))
        if self.locations is not None:
            object.__setattr__(self, "locations", tuple(map(_as_location, self.locations)))

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"batch_size": self.batch_size, "stable_scan": self.stable_scan}
        if self.updated_after is not None:
            body["updated_after"] = format_datetime(self.updated_after)
        if self.posted_after is not None:
            body["posted_after"] = format_datetime(self.posted_after)
        lists = {
            "sources": self.sources,
            "work_models": self.work_models,
            "employment_types": [v.replace("_", "-") for v in self.employment_types or ()],
            "experience_levels": self.experience_levels,
        }
        for key, values in lists.items():
            if values:
                body[key] = list(values)
        locations = [loc.to_body() for loc in self.locations or () if isinstance(loc, Location)]
        if any(locations):
            body["locations"] = [loc for loc in locations if loc]
        return body


@dataclass(frozen=True, repr=False)
class FeedPage:
    """One page of ``/feed``. ``has_more`` is False when the body said so OR no cursor came back."""

    jobs: list[dict[str, Any]]
    next_cursor: str | None
    has_more: bool
    estimated_total: int | None = None
    credits_deducted: float | None = None
    credits_balance: float | None = None
    body_bytes: int = 0

    def __repr__(self) -> str:
        return (
            f"FeedPage(jobs=<{len(self.jobs)} jobs>, "
            f"next_cursor={short_cursor(self.next_cursor)!r}, "
            f"has_more={self.has_more}, estimated_total={self.estimated_total}, "
            f"credits_deducted={self.credits_deducted}, credits_balance={self.credits_balance}, "
            f"body_bytes={self.body_bytes})"
        )


@dataclass(frozen=True, repr=False)
class ExpiredPage:
    """One page of ``/expired``; same end rule as :class:`FeedPage`."""

    job_ids: list[str]
    next_cursor: str | None
    has_more: bool

    def __repr__(self) -> str:
        return (
            f"ExpiredPage(job_ids=<{len(self.job_ids)} ids>, "
            f"next_cursor={short_cursor(self.next_cursor)!r}, has_more={self.has_more})"
        )


@dataclass(frozen=True)
class RetryEvent:
    """Passed to ``on_retry`` before each wait. ``attempt`` is the 1-based attempt that failed."""

    path: str
    attempt: int
    status_or_exception_name: int | str
    wait_seconds: float


def check_batch_size(value: object, maximum: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ValueError(
            f"{name}={value!r} is out of range: use a whole number from 1 to {maximum}"
        )


def check_cursor(cursor: str) -> str:
    if not isinstance(cursor, str) or not cursor:
        raise ValueError(f"cursor={cursor!r} is empty: pass None to start from the first page")
    return cursor


def _as_location(value: Location | Mapping[str, str | None]) -> Location:
    if isinstance(value, Location):
        return value
    unknown = set(value) - {"country", "region", "city"}
    if unknown:
        raise ValueError(
            f"location filter {dict(value)!r} has unknown keys {sorted(unknown)}: "
            "use country, region and city"
        )
    return Location(
        country=value.get("country"), region=value.get("region"), city=value.get("city")
    )
