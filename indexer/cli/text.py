"""Small helpers for text people read: plurals and columns that hold wide (CJK) characters."""

from __future__ import annotations

import unicodedata


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 run``, ``2 runs``, ``1 bucket``, ``0 buckets``; ``many`` for irregular plurals."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: East Asian wide and full-width characters take two,
    combining marks none."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def fit(text: str | None, width: int) -> str:
    """``text`` cut (with an ellipsis) and padded to exactly ``width`` columns."""
    text = text or "-"
    if display_width(text) > width:
        kept, used = [], 0
        for char in text:
            size = display_width(char)
            if used + size > width - 1:
                break
            kept.append(char)
            used += size
        text = "".join(kept) + "…"
    return text + " " * (width - display_width(text))
