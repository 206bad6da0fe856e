"""Small value helpers shared by the feed modules: numbers from headers and bodies, words."""

from __future__ import annotations

import math


def is_number(value: object) -> bool:
    """A finite int or float (``True``/``False`` are not numbers here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def to_float(value: object) -> float | None:
    """A finite number from a JSON value or a header string, else None."""
    if is_number(value):
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def number_text(value: float | None) -> str:
    """``12.0`` -> ``"12"``, ``None`` -> ``"unknown"``: how credits read in a message."""
    if value is None:
        return "unknown"
    return str(int(value)) if value == int(value) else str(value)


def normalise_words(text: str) -> str:
    """Lower case, ``_`` and ``-`` as spaces, single spaces: for phrase matching in messages."""
    return " ".join(text.lower().replace("_", " ").replace("-", " ").split())


def short_cursor(cursor: str | None) -> str | None:
    """A cursor cut to 40 characters for reprs and log lines."""
    if cursor is None or len(cursor) <= 40:
        return cursor
    return cursor[:37] + "..."
