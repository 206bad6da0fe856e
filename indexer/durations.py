"""Durations as operators write them: ``90s``, ``15m``, ``1h30m``, ``1.5h``, ``7d``.

One parser for every duration option (``--overlap``, ``--every``, ``--resync-every``), so they
accept the same forms and refuse in the same words.
"""

from __future__ import annotations

import re
from datetime import timedelta

from indexer.errors import UsageError

UNITS = {"d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0}
ACCEPTED_FORMS = "a number and a unit (s, m, h, d), e.g. 90s, 15m, 1.5h, 1h30m or 7d"

_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*([dhms])")
_WHOLE = re.compile(r"^(?:\s*(?:\d+(?:\.\d+)?|\.\d+)\s*[dhms])+\s*$")


class DurationError(UsageError, ValueError):
    """The text is not a duration; the message lists the accepted forms."""


def parse_duration(text: str) -> timedelta:
    """``1h30m`` -> 90 minutes. Units may repeat in any order of size (``1h30m``, ``2d12h``);
    each part may have a decimal fraction (``1.5h``)."""
    cleaned = text.strip().lower()
    if not cleaned or not _WHOLE.match(cleaned):
        raise DurationError(f"{text!r} is not a duration: use {ACCEPTED_FORMS}")
    seconds = sum(float(amount) * UNITS[unit] for amount, unit in _PART.findall(cleaned))
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest compound form: 5400 s -> ``1h30m``; sub-second values are rounded."""
    seconds = round(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in UNITS.items():
        amount, seconds = divmod(seconds, int(size))
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)
