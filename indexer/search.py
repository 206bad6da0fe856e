"""Job search for a frontend: one readable query builder over the read alias.

``build_search_body(query)`` turns a :class:`SearchQuery` (plain data) into an OpenSearch request
body; ``search(client, alias, query)`` runs it and returns a :class:`SearchPage` of plain dicts.
Always pass the read alias (``<base>``): it is filtered to ``status: active``, so expired jobs never
appear.

How each part maps onto the index (``mappings/jobs.json``):

* text: ``multi_match`` (best fields) over ``title^3``, ``company.name^2``, ``summary^1.5`` and
  ``description``, with an extra boost for the words as a phrase in the title;
* keyword filters (workplace type, employment type, experience level, source, company): ``terms``
  on the root fields; they are normalised (lower case, accents folded) so any spelling matches;
* location (country, city, coordinates + radius): one ``nested`` query over ``locations`` so the
  city, the country and the radius hold for the *same* location of a job;
* salary: ``range`` with ``relation: intersects`` on the ``integer_range`` field ``salary_usd``
  (annual USD), so a job matches when its range overlaps the asked range;
* posted within N days: ``date_posted`` within the window, or ``created_at`` when the feed gave no
  posting date;
* facets: ``terms`` aggregations on root fields; location facets use the flat ``countries`` and
  ``cities`` fields so they count jobs, not locations;
* pagination: ``search_after`` with ``id`` as the final tie-breaker; the token is opaque
  (URL-safe base64 of the sort values of the last hit).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from opensearchpy import OpenSearch

from indexer.errors import UsageError
from indexer.search_tokens import TokenError, decode_token, encode_token

SortOrder = Literal["relevance", "recency", "salary", "distance"]
SORT_ORDERS: tuple[str, ...] = ("relevance", "recency", "salary", "distance")

TEXT_FIELDS: tuple[str, ...] = ("title^3", "company.name^2", "summary^1.5", "description")
MAX_PAGE_SIZE = 100
DEFAULT_RADIUS = "50km"
_DISTANCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km|mi|m)?\s*$", re.IGNORECASE)
_METRES_PER_UNIT = {"km": 1000.0, "m": 1.0, "mi": 1609.344}

# Facet name -> field (all aggregatable keyword/boolean fields of the jobs mapping).
FACET_FIELDS: dict[str, str] = {
    "workplace_type": "workplace_type",
    "employment_type": "employment_type",
    "experience_level": "experience_level",
    "source": "source",
    "country": "countries",
    "city": "cities",
    "company": "company.name.keyword",
    "is_h1b_sponsor": "is_h1b_sponsor",
    "is_clearance_required": "is_clearance_required",
}
DEFAULT_FACET_SIZE = 20

# What a hit carries back (the description is large: only its highlight comes back).
_SOURCE_FIELDS = [
    "id",
    "title",
    "company.name",
    "company.id",
    "locations",
    "compensation",
    "salary_usd_min",
    "salary_usd_max",
    "workplace_type",
    "employment_type",
    "experience_level",
    "source",
    "date_posted",
    "updated_at",
    "listing_url",
    "apply_url",
    "is_h1b_sponsor",
    "is_clearance_required",
    "skills",
]


class SearchError(UsageError, ValueError):
    """A search cannot be built or run as asked; the message names the input and the fix."""


class UnknownCityError(SearchError):
    """``near_city`` names no city with coordinates in the index."""


class AmbiguousCityError(SearchError):
    """``near_city`` names several places; the message lists them in a form that picks one."""

    def __init__(self, city: str, places: Sequence[tuple[str, str, int]]) -> None:
        self.places = list(places)
        listed = "; ".join(
            f'"{city}, {region or country}" ({country}, {count} locations)'
            for country, region, count in places
        )
        super().__init__(
            f"--near-city {city!r} names {len(places)} places: {listed}. Name the one you mean "
            f'(e.g. --near-city "{city}, {places[0][1] or places[0][0]}"), or narrow with '
            "--country"
        )


@dataclass(frozen=True)
class GeoPoint:
    lat: float
    lon: float

    def as_dict(self) -> dict[str, float]:
        return {"lat": self.lat, "lon": self.lon}


@dataclass
class SearchQuery:
    """Everything a job search can ask. Lists are OR inside a filter; filters AND together."""

    text: str | None = None
    workplace_type: Sequence[str] = ()
    employment_type: Sequence[str] = ()
    experience_level: Sequence[str] = ()
    source: Sequence[str] = ()
    country: Sequence[str] = ()
    city: Sequence[str] = ()
    company: Sequence[str] = ()
    h1b_sponsor: bool | None = None
    clearance_required: bool | None = None
    near: GeoPoint | None = None
    near_city: str | None = None  # resolved to ``near`` by :func:`resolve_near_city`
    radius: str = DEFAULT_RADIUS
    salary_min: int | None = None  # annual USD
    salary_max: int | None = None
    posted_within_days: int | None = None
    sort: SortOrder = "relevance"
    size: int = 20
    search_after: str | None = None  # the token of the previous page's ``next_after``
    facets: Sequence[str] = tuple(FACET_FIELDS)
    facet_size: int = DEFAULT_FACET_SIZE
    highlight: bool = True


@dataclass
class FacetBucket:
    value: str
    count: int


@dataclass
class SearchPage:
    total: int
    hits: list[dict[str, Any]]
    facets: dict[str, list[FacetBucket]]
    next_after: str | None  # None on the last page
    near: GeoPoint | None = None  # the centre used (resolved from ``near_city`` if given)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "hits": self.hits,
            "facets": {
                name: [{"value": b.value, "count": b.count} for b in buckets]
                for name, buckets in self.facets.items()
            },
            "next_after": self.next_after,
            "near": self.near.as_dict() if self.near else None,
        }


# --------------------------------------------------------------------------- validation


def radius_in_metres(radius: str) -> float:
    """``"50km"`` -> 50000.0; ``"10mi"``, ``"800m"``, a bare number is kilometres."""
    match = _DISTANCE.match(radius)
    if not match:
        raise SearchError(
            f"--radius {radius!r} is not a distance: write it like 50km, 30mi or 800m"
        )
    unit = (match.group(2) or "km").lower()
    return float(match.group(1)) * _METRES_PER_UNIT[unit]


def _validate(query: SearchQuery) -> None:
    if not 1 <= query.size <= MAX_PAGE_SIZE:
        raise SearchError(f"size {query.size} is out of range: use 1..{MAX_PAGE_SIZE}")
    if query.sort not in SORT_ORDERS:
        raise SearchError(f"sort {query.sort!r} is unknown: use one of {', '.join(SORT_ORDERS)}")
    if query.sort == "distance" and query.near is None:
        raise SearchError("sort 'distance' needs a centre: give coordinates or a city to be near")
    if query.near_city and query.near is None:
        raise SearchError(
            f"near_city {query.near_city!r} is not resolved yet: call resolve_near_city() or "
            "search() (which resolves it) before build_search_body()"
        )
    if query.posted_within_days is not None and query.posted_within_days < 1:
        raise SearchError(f"posted_within_days {query.posted_within_days} must be 1 or more")
    low, high = query.salary_min, query.salary_max
    if low is not None and high is not None and low > high:
        raise SearchError(f"--salary-min {low} is above --salary-max {high}: swap them")
    unknown = [name for name in query.facets if name not in FACET_FIELDS]
    if unknown:
        raise SearchError(f"unknown facets {unknown}: use some of {', '.join(FACET_FIELDS)}")
    radius_in_metres(query.radius)


# --------------------------------------------------------------------------- query parts


def _text_query(text: str) -> dict[str, Any]:
    return {
        "bool": {
            "must": [
                {
                    "multi_match": {
                        "query": text,
                        "fields": list(TEXT_FIELDS),
                        "type": "best_fields",
                        "tie_breaker": 0.3,
                        "minimum_should_match": "2<75%",
                    }
                }
            ],
            "should": [{"match_phrase": {"title": {"query": text, "boost": 2}}}],
        }
    }


def _terms(field_name: str, values: Sequence[str]) -> dict[str, Any]:
    return {"terms": {field_name: [value.strip() for value in values]}}


def _location_filter(query: SearchQuery) -> dict[str, Any] | None:
    """One nested query: city, country and radius must hold for the same location."""
    clauses: list[dict[str, Any]] = []
    if query.country:
        clauses.append(_terms("locations.country", query.country))
    if query.city:
        clauses.append(_terms("locations.city", query.city))
    if query.near is not None:
        clauses.append(
            {
                "geo_distance": {
                    "distance": f"{radius_in_metres(query.radius)}m",
                    "locations.point": query.near.as_dict(),
                }
            }
        )
    if not clauses:
        return None
    return {
        "nested": {
            "path": "locations",
            "query": {"bool": {"filter": clauses}},
            "score_mode": "none",
        }
    }


def _salary_filter(query: SearchQuery) -> dict[str, Any] | None:
    if query.salary_min is None and query.salary_max is None:
        return None
    bounds: dict[str, Any] = {"relation": "intersects"}
    if query.salary_min is not None:
        bounds["gte"] = query.salary_min
    if query.salary_max is not None:
        bounds["lte"] = query.salary_max
    return {"range": {"salary_usd": bounds}}


def _posted_filter(days: int) -> dict[str, Any]:
    since = f"now-{days}d"
    return {
        "bool": {
            "should": [
                {"range": {"date_posted": {"gte": since}}},
                {
                    "bool": {
                        "must_not": [{"exists": {"field": "date_posted"}}],
                        "filter": [{"range": {"created_at": {"gte": since}}}],
                    }
                },
            ],
            "minimum_should_match": 1,
        }
    }


def build_filters(query: SearchQuery) -> list[dict[str, Any]]:
    """The filter clauses of ``query`` (no text, no sort): reusable for counts and facets."""
    filters: list[dict[str, Any]] = []
    for name in ("workplace_type", "employment_type", "experience_level", "source"):
        values = getattr(query, name)
        if values:
            filters.append(_terms(name, values))
    if query.company:
        filters.append(_terms("company.name.keyword", query.company))
    if query.h1b_sponsor is not None:
        filters.append({"term": {"is_h1b_sponsor": query.h1b_sponsor}})
    if query.clearance_required is not None:
        filters.append({"term": {"is_clearance_required": query.clearance_required}})
    for optional in (_location_filter(query), _salary_filter(query)):
        if optional is not None:
            filters.append(optional)
    if query.posted_within_days is not None:
        filters.append(_posted_filter(query.posted_within_days))
    return filters


def _sort(query: SearchQuery) -> list[Any]:
    tie_breaker = {"id": {"order": "asc"}}
    if query.sort == "recency":
        return [
            {"date_posted": {"order": "desc", "missing": "_last"}},
            {"updated_at": {"order": "desc"}},
            tie_breaker,
        ]
    if query.sort == "salary":
        return [
            {"salary_usd_max": {"order": "desc", "missing": "_last"}},
            {"salary_usd_min": {"order": "desc", "missing": "_last"}},
            tie_breaker,
        ]
    if query.sort == "distance":
        assert query.near is not None  # _validate
        return [
            {
                "_geo_distance": {
                    "location_points": query.near.as_dict(),
                    "order": "asc",
                    "unit": "km",
                    "mode": "min",
                    "ignore_unmapped": True,
                }
            },
            tie_breaker,
        ]
    return ["_score", {"updated_at": {"order": "desc"}}, tie_breaker]


def _highlight() -> dict[str, Any]:
    return {
        "pre_tags": ["<em>"],
        "post_tags": ["</em>"],
        "fields": {
            "title": {"number_of_fragments": 0},
            "description": {"fragment_size": 160, "number_of_fragments": 2},
        },
    }


def _facet_aggs(query: SearchQuery) -> dict[str, Any]:
    return {
        name: {"terms": {"field": FACET_FIELDS[name], "size": query.facet_size}}
        for name in query.facets
    }


def build_search_body(query: SearchQuery) -> dict[str, Any]:
    """The OpenSearch request body of ``query`` (``near_city`` must be resolved already)."""
    _validate(query)
    bool_query: dict[str, Any] = {"filter": build_filters(query)}
    if query.text and query.text.strip():
        bool_query["must"] = [_text_query(query.text.strip())]
    body: dict[str, Any] = {
        "query": {"bool": bool_query},
        "size": query.size,
        "sort": _sort(query),
        "track_total_hits": True,
        "track_scores": True,
        "_source": _SOURCE_FIELDS,
    }
    if query.facets:
        body["aggs"] = _facet_aggs(query)
    if query.highlight and query.text and query.text.strip():
        body["highlight"] = _highlight()
    if query.search_after:
        body["search_after"] = decode_after(query.search_after, query)
    return body


# --------------------------------------------------------------------------- pagination token


def encode_after(sort_values: Sequence[Any], query: SearchQuery) -> str:
    """The next-page token: the sort values of the last hit, bound to ``query``."""
    return encode_token(sort_values, _bound_fields(query))


def _bound_fields(query: SearchQuery) -> dict[str, Any]:
    """What a token is bound to: the query as asked. A centre resolved from ``near_city`` is
    left out (the city names it; its centroid may move in the last digits between requests)."""
    fields = asdict(query)
    if query.near_city:
        fields.pop("near", None)
    return fields


def decode_after(token: str, query: SearchQuery) -> list[Any]:
    """The sort values of ``token``; SearchError when it is malformed or another query's."""
    try:
        return decode_token(token, _bound_fields(query))
    except TokenError as error:
        raise SearchError(str(error)) from None


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
        clauses.append(_terms("locations.country", country))
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
        "score": raw.get("_score"),
        "highlight": raw.get("highlight", {}),
        "sort": raw.get("sort", []),
    }
    if query.sort == "distance" and raw.get("sort"):
        hit["distance_km"] = raw["sort"][0]
    return hit


def _facets(aggregations: Mapping[str, Any], names: Sequence[str]) -> dict[str, list[FacetBucket]]:
    facets: dict[str, list[FacetBucket]] = {}
    for name in names:
        buckets = aggregations.get(name, {}).get("buckets", [])
        facets[name] = [
            FacetBucket(value=str(b.get("key_as_string", b["key"])), count=int(b["doc_count"]))
            for b in buckets
        ]
    return facets


def search(client: OpenSearch, alias: str, query: SearchQuery) -> SearchPage:
    """Run ``query`` against ``alias`` (the read alias ``<base>``) and return one page."""
    if query.near_city and query.near is None:
        query = _with_near(query, resolve_near_city(client, alias, query.near_city, query.country))
    body = build_search_body(query)
    answer = client.search(index=alias, body=body)
    hits = [_hit(raw, query) for raw in answer["hits"]["hits"]]
    total = answer["hits"]["total"]
    total_count = int(total["value"] if isinstance(total, Mapping) else total)
    next_after = encode_after(hits[-1]["sort"], query) if len(hits) == query.size else None
    return SearchPage(
        total=total_count,
        hits=hits,
        facets=_facets(answer.get("aggregations", {}), query.facets),
        next_after=next_after,
        near=query.near,
    )


def _with_near(query: SearchQuery, centre: GeoPoint) -> SearchQuery:
    return replace(query, near=centre)


def count(client: OpenSearch, alias: str, query: SearchQuery) -> int:
    """How many jobs match ``query`` (text and filters), without fetching them."""
    body = build_search_body(query)
    return int(client.count(index=alias, body={"query": body["query"]})["count"])


# --------------------------------------------------------------------------- suggestions


@dataclass(frozen=True)
class Suggestion:
    text: str
    kind: Literal["title", "company"]
    count: int  # active jobs carrying it


def fold(text: str) -> str:
    """Lower case without accents: how the autocomplete analysers compare text."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


AUTOCOMPLETE_MAX_GRAM = 20  # mappings/jobs.json autocomplete_edge max_gram


def build_suggest_body(prefix: str, size: int = 10) -> dict[str, Any]:
    # Words longer than the longest indexed edge n-gram would never match: cut them to it.
    prefix = " ".join(word[:AUTOCOMPLETE_MAX_GRAM] for word in prefix.split())

    def matches(field_name: str) -> dict[str, Any]:
        return {"match": {field_name: {"query": prefix, "operator": "and"}}}

    # Ask for more buckets than shown: case variants are merged and whole-prefix matches go first.
    wanted = max(size * 3, 30)
    return {
        "size": 0,
        "query": {
            "bool": {
                "should": [matches("title.autocomplete"), matches("company.name.autocomplete")],
                "minimum_should_match": 1,
            }
        },
        "aggs": {
            "titles": {
                "filter": matches("title.autocomplete"),
                "aggs": {"values": {"terms": {"field": "title.keyword", "size": wanted}}},
            },
            "companies": {
                "filter": matches("company.name.autocomplete"),
                "aggs": {"values": {"terms": {"field": "company.name.keyword", "size": wanted}}},
            },
        },
    }


def _ranked(
    buckets: Sequence[Mapping[str, Any]], kind: Literal["title", "company"], prefix: str
) -> list[Suggestion]:
    merged: dict[str, Suggestion] = {}
    for bucket in buckets:
        text = str(bucket["key"])
        key = fold(text).strip()
        known = merged.get(key)
        count_ = int(bucket["doc_count"]) + (known.count if known else 0)
        shown = known.text if known else text
        merged[key] = Suggestion(text=shown, kind=kind, count=count_)
    folded_prefix = fold(prefix).strip()
    return sorted(
        merged.values(),
        key=lambda s: (not fold(s.text).startswith(folded_prefix), -s.count, s.text),
    )


def suggest(client: OpenSearch, alias: str, prefix: str, size: int = 10) -> list[Suggestion]:
    """Titles and company names whose words start with the words of ``prefix``, deduplicated.

    Matching is case- and accent-insensitive (the ``autocomplete`` sub-fields). Titles and names
    that start with the whole prefix come first, then the most frequent.
    """
    if not prefix.strip():
        raise SearchError("suggest needs a non-empty prefix")
    answer = client.search(index=alias, body=build_suggest_body(prefix, size))
    aggregations = answer["aggregations"]
    titles = _ranked(aggregations["titles"]["values"]["buckets"], "title", prefix)
    companies = _ranked(aggregations["companies"]["values"]["buckets"], "company", prefix)
    combined: list[Suggestion] = []
    seen: set[str] = set()
    # Interleave so both kinds show; de-duplicate a company named like a title.
    for pair in _interleave(titles, companies):
        key = fold(pair.text).strip()
        if key not in seen:
            seen.add(key)
            combined.append(pair)
        if len(combined) == size:
            break
    return combined


def _interleave(first: list[Suggestion], second: list[Suggestion]) -> list[Suggestion]:
    out: list[Suggestion] = []
    for index in range(max(len(first), len(second))):
        out.extend(group[index] for group in (first, second) if index < len(group))
    return out


__all__ = [
    "FACET_FIELDS",
    "AmbiguousCityError",
    "FacetBucket",
    "GeoPoint",
    "SearchError",
    "SearchPage",
    "SearchQuery",
    "Suggestion",
    "UnknownCityError",
    "build_filters",
    "build_search_body",
    "build_suggest_body",
    "count",
    "decode_after",
    "encode_after",
    "resolve_near_city",
    "search",
    "suggest",
]
