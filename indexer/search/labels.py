"""Facet labels: how a job spells a facet value, beside the folded value a filter takes.

The country, city and skill facets aggregate on normalised keyword fields ('python', 'new york'),
so a bucket's key is not what a page should show. A job's own spelling comes from its ``_source``
(the normalised doc values cannot give it back). Fetching one per bucket in the search itself (a
``top_hits`` under each of the 60 buckets) was half of a search's CPU on the node, every time.
A spelling is a property of the value, not of the query, so it is looked up once per value: the
runner asks :func:`labels_for` for the buckets of a page, which answers from a process-wide cache
and sends one request (:func:`build_labels_body`) for the values it has not seen yet.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from opensearchpy import OpenSearch

from indexer.search.query import FACET_FIELDS, LABELLED_FACETS
from indexer.search.suggest import fold

MAX_CACHED_LABELS = 50_000  # (alias, facet, value) entries; the cache starts over past this
_cache: dict[tuple[str, str, str], str | None] = {}
_lock = threading.Lock()


def build_labels_body(wanted: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """One request for one job's spelling of each value in ``wanted`` (facet name -> values)."""
    aggs: dict[str, Any] = {}
    for name, values in wanted.items():
        field = FACET_FIELDS[name]
        spelling = {"top_hits": {"size": 1, "_source": {"includes": [field]}}}
        aggs[name] = {
            "terms": {"field": field, "include": list(values), "size": len(values)},
            "aggs": {"spelling": spelling},
        }
    should = [{"terms": {FACET_FIELDS[name]: list(v)}} for name, v in wanted.items()]
    return {
        "size": 0,
        "track_total_hits": False,
        "query": {"bool": {"should": should, "minimum_should_match": 1}},
        "aggs": aggs,
    }


def spelled(name: str, bucket: Mapping[str, Any]) -> str | None:
    """The spelling of the bucket's value in the job its ``spelling`` sub-aggregation fetched
    (a job lists several skills or cities: the one that folds to the key)."""
    hits = bucket.get("spelling", {}).get("hits", {}).get("hits", [])
    if not hits:
        return None
    found: Any = hits[0].get("_source", {})
    for part in FACET_FIELDS[name].split("."):
        found = found.get(part) if isinstance(found, Mapping) else None
    key = fold(str(bucket["key"]))
    for candidate in found if isinstance(found, list) else [found]:
        if isinstance(candidate, str) and fold(candidate) == key:
            return candidate
    return None


def labels_for(
    client: OpenSearch, alias: str, values: Mapping[str, Sequence[str]]
) -> dict[tuple[str, str], str | None]:
    """(facet, value) -> label for the labelled facets among ``values``; None: show the value."""
    wanted = {name: list(v) for name, v in values.items() if name in LABELLED_FACETS and v}
    with _lock:
        missing = {
            name: [value for value in v if (alias, name, value) not in _cache]
            for name, v in wanted.items()
        }
    missing = {name: v for name, v in missing.items() if v}
    if missing:
        answer = client.search(index=alias, body=build_labels_body(missing))
        found = {
            (name, value): None for name, v in missing.items() for value in v
        }  # a value no job has any more keeps its own spelling
        for name in missing:
            for bucket in answer.get("aggregations", {}).get(name, {}).get("buckets", []):
                found[(name, str(bucket["key"]))] = spelled(name, bucket)
        with _lock:
            if len(_cache) + len(found) > MAX_CACHED_LABELS:
                _cache.clear()
            _cache.update({(alias, name, value): label for (name, value), label in found.items()})
    with _lock:
        return {
            (name, value): _cache.get((alias, name, value))
            for name, v in wanted.items()
            for value in v
        }
