"""The search request builder: a :class:`SearchQuery` (plain data) -> an OpenSearch request body.

Pure (no client, no I/O), so the saved-search alerts and an HTTP service can build the same bodies.
:mod:`indexer.search.run` sends them. Always run them on the read alias (``<base>``): it is filtered
to ``status: active``, so expired jobs never appear.

How each part maps onto the index (``mappings/jobs.json``):

* text (see :func:`text_query`): every word must appear in some field (a ``cross_fields`` match over
  title, normalised title, skills, company, summary, responsibilities and description, analysed with
  the search-time synonyms of ``mappings/synonyms.txt``), or, for typos, every word must match one
  of title, normalised title, skills or company within an edit distance (none under 5 letters, one
  under 8, else two). Title matches, then skills, score most; the relevance is multiplied by
  ``1 + 0.5 * recency`` (a Gaussian decay on the posting date, 1 for today, 0.5 at 37 days);
* keyword filters (workplace type, employment type, experience level, source, company): ``terms``
  on the root fields; they are normalised (lower case, accents folded) so any spelling matches;
  skills: every asked skill must be listed (each a ``term`` on ``skills``);
* location (country, city, coordinates + radius): one ``nested`` query over ``locations`` so the
  city, the country and the radius hold for the *same* location of a job;
* salary: ``range`` with ``relation: intersects`` on the ``integer_range`` field ``salary_usd``
  (annual USD), so a job matches when its range overlaps the asked range;
* posted within N days: ``date_posted`` within the window, or ``created_at`` when the feed gave no
  posting date;
* duplicates: by default one hit per ``duplicate_key`` (``collapse``, without inner hits: the
  runner fetches the other boards' copies of a page in one request, :mod:`indexer.search.copies`);
  ``collapse=False`` shows every copy;
* facets: ``terms`` aggregations on root fields; location facets use the flat ``countries`` and
  ``cities`` fields so they count jobs, not locations;
* pagination: ``search_after`` with ``id`` as the final tie-breaker, or an offset when collapsing
  (OpenSearch refuses ``search_after`` with ``collapse``); the token is opaque either way (URL-safe
  base64 of the sort values, or of the offset, of the next page).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from indexer.search.errors import SearchError
from indexer.search_tokens import TokenError, decode_token, encode_token

SortOrder = Literal["relevance", "recency", "salary", "distance"]
SORT_ORDERS: tuple[str, ...] = ("relevance", "recency", "salary", "distance")

# Every word of the text must be in one of these (boosts: title first, then skills, company, ...).
INTENT_FIELDS: tuple[str, ...] = (
    "title^4",
    "normalized_title.words^3",
    "skills.words^2.5",
    "company.name.words^2",
    "summary^1.5",
    "responsibilities^1.2",
    "description",
)
# Typo-tolerant words: short fields only (fuzzy terms over whole descriptions match noise).
FUZZY_FIELDS: tuple[str, ...] = (
    "title^2",
    "normalized_title.words",
    "skills.words^1.5",
    "company.name.words",
)
SEARCH_ANALYZER = "english_search"  # mappings/jobs.json: with the synonyms of synonyms.txt
TYPO_FUZZINESS = "AUTO:5,8"  # no edit under 5 letters, 1 under 8, else 2
MAX_FUZZY_WORDS = 8
EXACT_SKILL_BOOST = 6.0  # a word that is a whole listed skill (constant score)
RECENCY_WEIGHT = 0.5  # the freshest jobs score up to 1.5x
RECENCY_DECAY = {"scale": "30d", "offset": "7d", "decay": 0.5}
# Today, not this millisecond: scores must not move between the pages of one search.
RECENCY_ORIGIN = "now/d"
DUPLICATE_FIELD = "duplicate_key"
EXACT_MATCHES = "exact_matches"  # aggregation: jobs the text matches as spelled (no typo forgiven)
MAX_OTHER_SOURCES = 5
MAX_PAGE_SIZE = 100
MAX_COLLAPSED_WINDOW = 10_000  # index.max_result_window: offsets page at most this deep
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
    "skill": "skills",
}
DEFAULT_FACET_SIZE = 20
# Facets on normalised (lower-cased, accent-folded) fields whose values people read: each bucket
# gets one job's own spelling of the value (``new york`` -> ``New York``) as its label, looked up
# once per value by indexer.search.labels (not part of the search body).
LABELLED_FACETS = frozenset({"country", "city", "skill"})

# What a hit carries back (the description is large: only its highlight comes back).
HIT_FIELDS = [
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
    skills: Sequence[str] = ()  # every one must be listed (case-insensitive)
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
    collapse: bool = True  # one hit per posting (duplicate_key); False shows every board's copy


@dataclass
class FacetBucket:
    value: str  # what a filter takes (the normalised form for labelled facets)
    count: int
    label: str | None = None  # how a job spells it, for display (None: show ``value``)

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "label": self.label or self.value, "count": self.count}


@dataclass
class SearchPage:
    total: int
    hits: list[dict[str, Any]]
    facets: dict[str, list[FacetBucket]]
    next_after: str | None  # None on the last page
    near: GeoPoint | None = None  # the centre used (resolved from ``near_city`` if given)
    postings: int | None = None  # distinct postings among ``total`` jobs (when collapsing)
    did_you_mean: str | None = None  # a respelling of the text that finds more, when few match

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "postings": self.postings,
            "did_you_mean": self.did_you_mean,
            "hits": self.hits,
            "facets": {
                name: [bucket.as_dict() for bucket in buckets]
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
            f"--radius {radius!r} is not a distance: write it like 50km, 30mi or 800m",
            param="radius",
        )
    unit = (match.group(2) or "km").lower()
    return float(match.group(1)) * _METRES_PER_UNIT[unit]


def _validate(query: SearchQuery) -> None:
    if not 1 <= query.size <= MAX_PAGE_SIZE:
        raise SearchError(
            f"size {query.size} is out of range: use 1..{MAX_PAGE_SIZE}", param="size"
        )
    if query.sort not in SORT_ORDERS:
        raise SearchError(
            f"sort {query.sort!r} is unknown: use one of {', '.join(SORT_ORDERS)}", param="sort"
        )
    if query.sort == "distance" and query.near is None:
        raise SearchError(
            "sort 'distance' needs a centre: give coordinates or a city to be near", param="sort"
        )
    if query.near_city and query.near is None:
        raise SearchError(
            f"near_city {query.near_city!r} is not resolved yet: call resolve_near_city() or "
            "search() (which resolves it) before build_search_body()"
        )
    if query.posted_within_days is not None and query.posted_within_days < 1:
        raise SearchError(
            f"posted_within_days {query.posted_within_days} must be 1 or more",
            param="posted_within",
        )
    low, high = query.salary_min, query.salary_max
    if low is not None and high is not None and low > high:
        raise SearchError(
            f"--salary-min {low} is above --salary-max {high}: swap them", param="salary_min"
        )
    unknown = [name for name in query.facets if name not in FACET_FIELDS]
    if unknown:
        raise SearchError(
            f"unknown facets {unknown}: use some of {', '.join(FACET_FIELDS)}", param="facets"
        )
    radius_in_metres(query.radius)


# --------------------------------------------------------------------------- query parts


def _fuzzy_words(text: str) -> dict[str, Any]:
    """Each word (typos forgiven) in one of the short fields; no synonyms (they are exact)."""
    words = text.split()[:MAX_FUZZY_WORDS]
    return {
        "bool": {
            "must": [
                {
                    "multi_match": {
                        "query": word,
                        "fields": list(FUZZY_FIELDS),
                        "type": "best_fields",
                        "fuzziness": TYPO_FUZZINESS,
                        "prefix_length": 1,
                        "analyzer": "english_folded",
                        "zero_terms_query": "all",
                    }
                }
                for word in words
            ],
            "boost": 0.3,
        }
    }


def every_word_query(text: str) -> dict[str, Any]:
    """Every word (or a synonym of it) in one of the intent fields, spelled right."""
    return {
        "multi_match": {
            "query": text,
            "fields": list(INTENT_FIELDS),
            "type": "cross_fields",
            "operator": "and",
            "analyzer": SEARCH_ANALYZER,
            "tie_breaker": 0.2,
        }
    }


def _skill_candidates(text: str) -> list[str]:
    """Words and word pairs of ``text`` that may name a whole listed skill (React, not React
    Native; "machine learning")."""
    words = text.split()[:MAX_FUZZY_WORDS]
    return [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]


def text_query(text: str) -> dict[str, Any]:
    """What a job seeker means by ``text``: see the module docstring."""
    return {
        "bool": {
            "must": [{"bool": {"should": [every_word_query(text), _fuzzy_words(text)]}}],
            "should": [
                {"match": {"title": {"query": text, "boost": 3}}},
                {"match_phrase": {"title": {"query": text, "boost": 2}}},
                {"match": {"normalized_title.words": {"query": text, "boost": 1.5}}},
                {"match": {"skills.words": {"query": text, "boost": 1.5}}},
                {"terms": {"skills": _skill_candidates(text), "boost": EXACT_SKILL_BOOST}},
            ],
        }
    }


def _recency(scored: dict[str, Any]) -> dict[str, Any]:
    """``scored`` x (1 + 0.5 x decay of the posting date, or of the first-seen date without one)."""
    posted = {"exists": {"field": "date_posted"}}
    return {
        "function_score": {
            "query": scored,
            "functions": [
                {"weight": 1},
                {
                    "filter": posted,
                    "gauss": {"date_posted": {"origin": RECENCY_ORIGIN, **RECENCY_DECAY}},
                    "weight": RECENCY_WEIGHT,
                },
                {
                    "filter": {"bool": {"must_not": [posted]}},
                    "gauss": {"created_at": {"origin": RECENCY_ORIGIN, **RECENCY_DECAY}},
                    "weight": RECENCY_WEIGHT,
                },
            ],
            "score_mode": "sum",
            "boost_mode": "multiply",
        }
    }


def terms_filter(field_name: str, values: Sequence[str]) -> dict[str, Any]:
    return {"terms": {field_name: [value.strip() for value in values]}}


def _location_filter(query: SearchQuery) -> dict[str, Any] | None:
    """One nested query: city, country and radius must hold for the same location."""
    clauses: list[dict[str, Any]] = []
    if query.country:
        clauses.append(terms_filter("locations.country", query.country))
    if query.city:
        clauses.append(terms_filter("locations.city", query.city))
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
            filters.append(terms_filter(name, values))
    if query.company:
        filters.append(terms_filter("company.name.keyword", query.company))
    filters.extend({"term": {"skills": skill.strip()}} for skill in query.skills if skill.strip())
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


def _aggs(query: SearchQuery, text: str) -> dict[str, Any]:
    aggs: dict[str, Any] = {
        name: {"terms": {"field": FACET_FIELDS[name], "size": query.facet_size}}
        for name in query.facets
    }
    if text:  # how many match as spelled (few: the runner asks for a respelling)
        aggs[EXACT_MATCHES] = {"filter": every_word_query(text)}
    if query.collapse:
        aggs["postings"] = {"cardinality": {"field": DUPLICATE_FIELD, "precision_threshold": 40000}}
    return aggs


def _collapse() -> dict[str, Any]:
    """One hit per posting. No ``inner_hits``: OpenSearch runs one more search per hit for
    them (20 per page); ``copies.build_other_sources_body`` fetches every hit's copies at once."""
    return {"field": DUPLICATE_FIELD}


def match_query(query: SearchQuery) -> dict[str, Any]:
    """What a job must satisfy to be a hit of ``query``: its text and filters, without scoring,
    sort or paging. The one definition of "matches" that a search and a saved search share (the
    alerts run it over what each run wrote)."""
    text = (query.text or "").strip()
    bool_query: dict[str, Any] = {"filter": build_filters(query)}
    if text:
        bool_query["must"] = [text_query(text)]
    return {"bool": bool_query}


def build_search_body(query: SearchQuery) -> dict[str, Any]:
    """The OpenSearch request body of ``query`` (``near_city`` must be resolved already)."""
    _validate(query)
    text = (query.text or "").strip()
    scored = match_query(query)
    body: dict[str, Any] = {
        "query": _recency(scored) if text and query.sort == "relevance" else scored,
        "size": query.size,
        "sort": _sort(query),
        "track_total_hits": True,
        "track_scores": True,
        "_source": HIT_FIELDS,
    }
    aggs = _aggs(query, text)
    if aggs:
        body["aggs"] = aggs
    if query.highlight and text:
        body["highlight"] = _highlight()
    if query.collapse:
        body["collapse"] = _collapse()
    if query.search_after:
        _page_from(body, query)
    return body


def _page_from(body: dict[str, Any], query: SearchQuery) -> None:
    assert query.search_after is not None
    values = decode_after(query.search_after, query)
    if not query.collapse:
        if values[0] == _OFFSET:
            raise SearchError(_FOREIGN_TOKEN, param="after")
        body["search_after"] = values
        return
    if len(values) != 2 or values[0] != _OFFSET or not isinstance(values[1], int):
        raise SearchError(_FOREIGN_TOKEN, param="after")
    if values[1] + query.size > MAX_COLLAPSED_WINDOW:
        raise SearchError(
            f"page at offset {values[1]} is beyond the {MAX_COLLAPSED_WINDOW} postings a "
            "collapsed search can page through: narrow the search with filters",
            param="after",
        )
    body["from"] = values[1]


_OFFSET = "@from"
_FOREIGN_TOKEN = (
    "next-page token (--after) belongs to a search with another --show-duplicates setting: "
    "repeat the very search that printed it, or leave --after out to start at page 1"
)


def next_page_token(query: SearchQuery, last_sort: Sequence[Any], offset: int) -> str:
    """The token of the page after one that ended with ``last_sort`` at position ``offset``."""
    if query.collapse:
        return encode_after([_OFFSET, offset], query)
    return encode_after(last_sort, query)


# --------------------------------------------------------------------------- pagination token


def encode_after(sort_values: Sequence[Any], query: SearchQuery) -> str:
    """The next-page token: the sort values of the last hit (or an offset), bound to ``query``."""
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
        raise SearchError(str(error), param="after") from None
