"""The copies of a page's postings on other boards: one request for the whole page.

A collapsed search shows one hit per ``duplicate_key``. OpenSearch can return each hit's copies as
``inner_hits`` of the collapse, but it runs one more search per hit for them (20 per page, each
as dear as the page's own query); this body fetches them all at once. Pure, like
:mod:`indexer.search.query`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from indexer.search.query import DUPLICATE_FIELD, MAX_OTHER_SOURCES, SearchQuery, build_filters

SOURCE_COPY_FIELDS: tuple[str, ...] = ("id", "source", "listing_url", "apply_url")
OTHER_SOURCES = "by_posting"  # aggregation of build_other_sources_body


def build_other_sources_body(query: SearchQuery, keys: Sequence[str]) -> dict[str, Any]:
    """One request for the copies of a page's postings: the jobs with one of ``keys`` (the hits'
    ``duplicate_key``) that pass the filters of ``query``, at most ``MAX_OTHER_SOURCES`` per
    key, the most recently updated first (the hit itself among them: the runner leaves it out).

    The text is not matched again: copies share the title, company and place that make the
    key, so they match the text that found the hit, and matching it costs as much as the page's
    own query (its typo branch expands every word again)."""
    scoped = [*build_filters(query), {"terms": {DUPLICATE_FIELD: list(keys)}}]
    copies = {
        "top_hits": {
            "size": MAX_OTHER_SOURCES,
            "_source": list(SOURCE_COPY_FIELDS),
            "sort": [{"updated_at": {"order": "desc"}}, {"id": {"order": "asc"}}],
        }
    }
    return {
        "size": 0,
        "track_total_hits": False,
        "query": {"bool": {"filter": scoped}},
        "aggs": {
            OTHER_SOURCES: {
                "terms": {"field": DUPLICATE_FIELD, "include": list(keys), "size": len(keys)},
                "aggs": {"copies": copies},
            }
        },
    }
