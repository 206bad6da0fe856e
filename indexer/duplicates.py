"""The duplicate key: one key for the same posting on several boards.

The feed aggregates many job boards and ATS platforms, so one posting can arrive two or three
times with different ids, URLs and sources. Each copy's document carries ``duplicate_key`` (a
digest of the folded company name, title and places), and search collapses on it.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=16384)  # company names, titles and places repeat across a feed
def _words(text: str | None) -> str:
    """Lower case, accents and punctuation gone, words sorted: ``Engineer, Senior`` == ``senior
    engineer``."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(
        ch if ch.isalnum() else " " for ch in decomposed if not unicodedata.combining(ch)
    )
    return " ".join(sorted(set(kept.split())))


def duplicate_key(doc: Mapping[str, Any]) -> str:
    """One key for the same posting on several boards: company name + title + places, folded.

    Different ids, URLs and sources do not matter; a job without a company name or a title keys
    to its own id (it is never collapsed with another).
    """
    company = _words((doc.get("company") or {}).get("name"))
    title = _words(doc.get("title"))
    if not company or not title:
        return f"id:{doc['id']}"
    places = sorted(
        {
            f"{_words(loc['city'] or loc['location'])}/{_words(loc['country'])}"
            for loc in doc["locations"]
        }
    )
    fingerprint = "|".join((company, title, *places))
    return hashlib.blake2b(fingerprint.encode("utf-8"), digest_size=12).hexdigest()
