"""UTC timestamps as the feed and OpenSearch write them: ISO 8601, milliseconds, ``Z``.

One place for the conversions the transform (hot path), the state store, the bulk writer and the
flows all need.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_timestamp(value: str) -> datetime:
    """ISO 8601 -> aware UTC datetime; a timestamp without an offset is taken as UTC."""
    text = value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value
    parsed = datetime.fromisoformat(text)
    offset = parsed.utcoffset()
    if offset is None:
        return parsed.replace(tzinfo=UTC)
    return parsed if not offset and parsed.tzinfo is UTC else parsed.astimezone(UTC)


def format_timestamp(moment: datetime) -> str:
    """UTC, millisecond precision, ``Z`` suffix: what OpenSearch ``date`` fields store."""
    if moment.tzinfo is not UTC:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    # isoformat of an aware UTC time ends in "+00:00": swap it for "Z".
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"


def now_iso() -> str:
    """The current time, formatted as :func:`format_timestamp` does."""
    return format_timestamp(utcnow())


def epoch_millis(moment: datetime) -> int:
    """Whole milliseconds since the epoch, computed without float rounding."""
    return (moment - _EPOCH) // _ONE_MS
