"""Job search for a frontend: a pure request builder (:mod:`.query`), the runner (:mod:`.run`)
and autocomplete (:mod:`.suggest`). Import from here; the module split is an implementation detail.
"""

from __future__ import annotations

from indexer.search.copies import build_other_sources_body
from indexer.search.errors import AmbiguousCityError, SearchError, UnknownCityError
from indexer.search.query import (
    FACET_FIELDS,
    SORT_ORDERS,
    FacetBucket,
    GeoPoint,
    SearchPage,
    SearchQuery,
    build_filters,
    build_search_body,
    decode_after,
    encode_after,
    match_query,
    radius_in_metres,
    text_query,
)
from indexer.search.run import (
    build_did_you_mean_body,
    count,
    did_you_mean,
    get_job,
    resolve_near_city,
    resolved,
    search,
)
from indexer.search.suggest import Suggestion, build_suggest_body, fold, suggest

__all__ = [
    "FACET_FIELDS",
    "SORT_ORDERS",
    "AmbiguousCityError",
    "FacetBucket",
    "GeoPoint",
    "SearchError",
    "SearchPage",
    "SearchQuery",
    "Suggestion",
    "UnknownCityError",
    "build_did_you_mean_body",
    "build_filters",
    "build_other_sources_body",
    "build_search_body",
    "build_suggest_body",
    "count",
    "decode_after",
    "did_you_mean",
    "encode_after",
    "fold",
    "get_job",
    "match_query",
    "radius_in_metres",
    "resolve_near_city",
    "resolved",
    "search",
    "suggest",
    "text_query",
]
