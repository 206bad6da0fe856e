"""Running searches: one page of plain dicts, counts, a city's coordinates, "did you mean".

The bodies come from :mod:`indexer.search.query`; this module only sends them and reads answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from opensearchpy import OpenSearch

from indexer.search.copies import OTHER_SOURCES, SOURCE_COPY_FIELDS, build_other_sources_body
from indexer.search.errors import AmbiguousCityError, UnknownCityError
from indexer.search.labels import labels_for
from indexer.search.query import (
    DUPLICATE_FIELD,
    EXACT_MATCHES,
    HIT_FIELDS,
    FacetBucket,
    GeoPoint,
    SearchPage,
    SearchQuery,
    build_search_body,
    next_page_token,
    terms_filter,
)

DID_YOU_MEAN_BELOW = 5  # offer a respelling when fewer jobs than this match as spelled


# --------------------------------------------------------------------------- city resolution


def resolve_near_city(
    client: OpenSearch, alias: str, city: str, country: Sequence[str] = ()
) -> GeoPoint:
    """The coordinates of ``city`` as the index knows them (the centroid of its locations).

    ``city`` may name its region or country after a comma (``"Springfield, IL"``). A name that
    several places share (Springfield, IL and Springfield, MO) is refused with the candidates
    listed in that form, unless ``country`` or the qualifier leaves one place.
    """
    name, _, qualifier = city.partition(",")
    clauses: list[dict[str, Any]] = [
        {"term": {"locations.city": name.strip()}},
        {"exists": {"field": "locations.point"}},
    ]
    if country:
        clauses.append(terms_filter("locations.country", country))
    if qualifier.strip():
        place = qualifier.strip()
        clauses.append(
            {
                "bool": {
                    "should": [
                        {"term": {"locations.region": place}},
                        {"term": {"locations.country": place}},
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    centre = {"centre": {"geo_centroid": {"field": "locations.point"}}}
    body = {
        "size": 0,
        "query": {"nested": {"path": "locations", "query": {"bool": {"filter": clauses}}}},
        "aggs": {
            "locations": {
                "nested": {"path": "locations"},
                "aggs": {
                    "city": {
                        "filter": {"bool": {"filter": clauses}},
                        "aggs": {
                            "by_country": {
                                "terms": {"field": "locations.country", "size": 10},
                                "aggs": {
                                    **centre,
                                    "by_region": {
                                        "terms": {
                                            "field": "locations.region",
                                            "size": 10,
                                            "missing": "",
                                        },
                                        # one location as written (the keys are normalised)
                                        "aggs": {**centre, "sample": {"top_hits": {"size": 1}}},
                                    },
                                },
                            }
                        },
                    }
                },
            }
        },
    }
    answer = client.search(index=alias, body=body)
    buckets = answer["aggregations"]["locations"]["city"]["by_country"]["buckets"]
    if not buckets:
        where = f" in {', '.join(country)}" if country else ""
        raise UnknownCityError(
            f"city {city!r}{where} has no job with coordinates in {alias!r}: check the spelling, "
            "or search near coordinates instead"
        )
    places = [
        _place(region) for by_country in buckets for region in by_country["by_region"]["buckets"]
    ]
    if len(places) > 1:
        raise AmbiguousCityError(name.strip(), [(c, r, b["doc_count"]) for c, r, b in places])
    found = places[0][2] if places else buckets[0]
    point = found["centre"]["location"]
    return GeoPoint(lat=float(point["lat"]), lon=float(point["lon"]))


def _place(region: Mapping[str, Any]) -> tuple[str, str, Mapping[str, Any]]:
    """(country, region, bucket) of a region bucket, spelled as the feed wrote them."""
    hits = region["sample"]["hits"]["hits"]
    source = hits[0]["_source"] if hits else {}
    return (source.get("country") or "", source.get("region") or "", region)


# --------------------------------------------------------------------------- running


def _salary(source: Mapping[str, Any]) -> dict[str, Any] | None:
    compensation = source.get("compensation") or {}
    low, high = source.get("salary_usd_min"), source.get("salary_usd_max")
    if low is None and high is None and not compensation:
        return None
    return {
        "usd_min": low,
        "usd_max": high,
        "min": compensation.get("min"),
        "max": compensation.get("max"),
        "currency": compensation.get("currency"),
        "period": compensation.get("period"),
    }


def _hit(raw: Mapping[str, Any], query: SearchQuery) -> dict[str, Any]:
    source = raw.get("_source", {})
    company = source.get("company") or {}
    hit: dict[str, Any] = {
        "id": source.get("id", raw.get("_id")),
        "title": source.get("title"),
        "company": company.get("name"),
        "locations": [
            {key: location.get(key) for key in ("city", "region", "country", "point")}
            for location in source.get("locations") or []
        ],
        "salary": _salary(source),
        "workplace_type": source.get("workplace_type"),
        "employment_type": source.get("employment_type"),
        "experience_level": source.get("experience_level"),
        "source": source.get("source"),
        "date_posted": source.get("date_posted"),
        "updated_at": source.get("updated_at"),
        "listing_url": source.get("listing_url"),
        "apply_url": source.get("apply_url"),
        "is_h1b_sponsor": source.get("is_h1b_sponsor"),
        "is_clearance_required": source.get("is_clearance_required"),
        "skills": source.get("skills") or [],
        "other_sources": [],  # filled by _add_other_sources
        "score": raw.get("_score"),
        "highlight": raw.get("highlight", {}),
        "sort": raw.get("sort", []),
    }
    if query.sort == "distance" and raw.get("sort"):
        hit["distance_km"] = raw["sort"][0]
    return hit


def _posting_key(raw: Mapping[str, Any]) -> str | None:
    """The ``duplicate_key`` of a collapsed hit (OpenSearch returns it in ``fields``)."""
    values = raw.get("fields", {}).get(DUPLICATE_FIELD) or [None]
    return None if values[0] is None else str(values[0])


def _add_other_sources(
    client: OpenSearch,
    alias: str,
    query: SearchQuery,
    raws: Sequence[Mapping[str, Any]],
    hits: list[dict[str, Any]],
) -> None:
    """Each hit's copies on other boards (``other_sources``), for the whole page in one request."""
    keys = [_posting_key(raw) for raw in raws]
    wanted = sorted({key for key in keys if key is not None})
    if not wanted:
        return
    answer = client.search(index=alias, body=build_other_sources_body(query, wanted))
    copies: dict[str, list[dict[str, Any]]] = {}
    for bucket in answer.get("aggregations", {}).get(OTHER_SOURCES, {}).get("buckets", []):
        copies[str(bucket["key"])] = [
            {field: copy["_source"].get(field) for field in SOURCE_COPY_FIELDS}
            for copy in bucket["copies"]["hits"]["hits"]
        ]
    for key, hit in zip(keys, hits, strict=True):
        hit["other_sources"] = [
            copy for copy in copies.get(key or "", []) if copy["id"] != hit["id"]
        ]


def _facets(
    client: OpenSearch, alias: str, aggregations: Mapping[str, Any], names: Sequence[str]
) -> dict[str, list[FacetBucket]]:
    """The facet buckets, labelled where the facet is (from :mod:`indexer.search.labels`)."""
    found = {
        name: [
            (str(b.get("key_as_string", b["key"])), int(b["doc_count"]))
            for b in aggregations.get(name, {}).get("buckets", [])
        ]
        for name in names
    }
    labels = labels_for(client, alias, {name: [v for v, _ in b] for name, b in found.items()})
    return {
        name: [
            FacetBucket(value=value, count=count, label=labels.get((name, value)))
            for value, count in buckets
        ]
        for name, buckets in found.items()
    }


def search(client: OpenSearch, alias: str, query: SearchQuery) -> SearchPage:
    """Run ``query`` against ``alias`` (the read alias ``<base>``) and return one page."""
    query = resolved(client, alias, query)
    body = build_search_body(query)
    answer = client.search(index=alias, body=body)
    hits = [_hit(raw, query) for raw in answer["hits"]["hits"]]
    total = answer["hits"]["total"]
    total_count = int(total["value"] if isinstance(total, Mapping) else total)
    aggregations = answer.get("aggregations", {})
    offset = int(body.get("from", 0)) + len(hits)
    postings = aggregations.get("postings", {}).get("value") if query.collapse else None
    if query.collapse and (postings is None or postings < total_count):  # some have copies
        _add_other_sources(client, alias, query, answer["hits"]["hits"], hits)
    more = len(hits) == query.size
    page = SearchPage(
        total=total_count,
        hits=hits,
        facets=_facets(client, alias, aggregations, query.facets),
        next_after=next_page_token(query, hits[-1]["sort"], offset) if more else None,
        near=query.near,
        postings=None if postings is None else int(postings),
    )
    exact = aggregations.get(EXACT_MATCHES, {}).get("doc_count")
    if exact is not None and exact < DID_YOU_MEAN_BELOW:
        page.did_you_mean = did_you_mean(client, alias, query.text or "")
    return page


# What a job's own page shows beyond a hit (a hit leaves these out: they are long).
DETAIL_FIELDS: tuple[str, ...] = (
    "summary",
    "description",
    "responsibilities",
    "qualifications",
    "benefits",
    "skills_must_have",
    "skills_preferred",
    "education",
    "industries",
)


def get_job(client: OpenSearch, alias: str, job_id: str) -> dict[str, Any] | None:
    """One active job by id, shaped as a search hit plus its long fields; None when ``alias``
    has no active job of that id (a GET by id would bypass the alias's ``status`` filter)."""
    body = {
        "query": {"ids": {"values": [job_id]}},
        "size": 1,
        "_source": [*HIT_FIELDS, *DETAIL_FIELDS],
    }
    found = client.search(index=alias, body=body)["hits"]["hits"]
    if not found:
        return None
    job = _hit(found[0], SearchQuery())
    for key in ("score", "highlight", "sort"):
        job.pop(key, None)
    source = found[0].get("_source", {})
    job.update({key: source.get(key) for key in DETAIL_FIELDS})
    return job


def resolved(client: OpenSearch, alias: str, query: SearchQuery) -> SearchQuery:
    """``query`` with ``near_city`` turned into coordinates (one lookup), else unchanged."""
    if query.near_city and query.near is None:
        return _with_near(query, resolve_near_city(client, alias, query.near_city, query.country))
    return query


def _with_near(query: SearchQuery, centre: GeoPoint) -> SearchQuery:
    return replace(query, near=centre)


def count(client: OpenSearch, alias: str, query: SearchQuery) -> int:
    """How many jobs match ``query`` (text and filters), without fetching them."""
    body = build_search_body(query)
    return int(client.count(index=alias, body={"query": body["query"]})["count"])


# --------------------------------------------------------------------------- did you mean


def build_did_you_mean_body(text: str) -> dict[str, Any]:
    """A phrase suggester over titles and skills; a respelling must find jobs (``collate``)."""
    return {
        "size": 0,
        "suggest": {
            "respelled": {
                "text": text,
                "phrase": {
                    "field": "spelling",
                    "size": 1,
                    "max_errors": 3,
                    "confidence": 0.0,
                    "direct_generator": [
                        {"field": "spelling", "suggest_mode": "always", "min_word_length": 4}
                    ],
                    "collate": {
                        "query": {
                            "source": {
                                "match": {
                                    "spelling": {"query": "{{suggestion}}", "operator": "and"}
                                }
                            }
                        },
                        "prune": False,
                    },
                },
            }
        },
    }


def did_you_mean(client: OpenSearch, alias: str, text: str) -> str | None:
    """The respelling of ``text`` that the titles and skills of ``alias`` support, if any."""
    answer = client.search(index=alias, body=build_did_you_mean_body(text))
    for entry in answer.get("suggest", {}).get("respelled", []):
        for option in entry.get("options", []):
            suggestion = str(option["text"])
            if suggestion.casefold() != text.strip().casefold():
                return suggestion
    return None
