# ruff: noqa: F811 (pytest fixtures imported from test_search_data shadow their parameters)
"""A fixed set of searches over the simulator-built index, each checked against the documents.

Every expected number is computed in Python from the documents that were loaded (haversine
distances, salary overlaps, same-location city and country), never hard-coded.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opensearchpy import OpenSearch

from indexer.search import (
    FACET_FIELDS,
    GeoPoint,
    SearchError,
    SearchPage,
    SearchQuery,
    UnknownCityError,
    build_search_body,
    build_suggest_body,
    count,
    fold,
    resolve_near_city,
    search,
    suggest,
)
from indexer.transform import parse_timestamp
from tests.integration.test_search_data import (  # noqa: F401 (the shared fixture)
    WorldIndex,
    most_common_city,
    world_index,
)

pytestmark = pytest.mark.integration

EARTH_RADIUS_KM = 6371.0088
# geo_distance runs on a slightly different ellipsoid model than plain haversine
DISTANCE_SLACK_KM = 0.5

Doc = dict[str, Any]


def haversine_km(a: GeoPoint, lat: float, lon: float) -> float:
    phi1, phi2 = math.radians(a.lat), math.radians(lat)
    dphi, dlon = phi2 - phi1, math.radians(lon - a.lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def folded(value: str | None) -> str:
    return fold(value or "")


def all_pages(client: OpenSearch, alias: str, query: SearchQuery) -> tuple[list[Doc], int]:
    """Follow ``next_after`` to the end; returns every hit and the total the first page gave."""
    first = search(client, alias, query)
    hits, page = list(first.hits), first
    while page.next_after is not None:
        page = search(client, alias, replace(query, search_after=page.next_after, facets=()))
        hits.extend(page.hits)
    return hits, first.total


def matching(world: WorldIndex, predicate: Callable[[Doc], bool]) -> list[Doc]:
    return [doc for doc in world.active if predicate(doc)]


# --------------------------------------------------------------------------- geo


def test_every_hit_lies_within_the_radius_of_a_city_resolved_from_the_index(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    alias = world_index.names.read_alias
    city, country = most_common_city(world_index)
    centre = resolve_near_city(os_client, alias, city, [country])
    radius_km = 400.0
    query = SearchQuery(
        collapse=False, near_city=city, country=[country], radius=f"{radius_km:g}km", size=50
    )
    hits, total = all_pages(os_client, alias, query)

    def near(doc: Doc) -> bool:
        return any(
            folded(loc["country"]) == folded(country)
            and loc["point"]
            and haversine_km(centre, loc["point"]["lat"], loc["point"]["lon"]) <= radius_km
            for loc in doc["locations"]
        )

    expected = {doc["id"] for doc in matching(world_index, near)}
    assert expected, "the test needs jobs near the most common city"
    assert {hit["id"] for hit in hits} == expected
    assert total == len(expected)
    for hit in hits:
        distances = [
            haversine_km(centre, loc["point"]["lat"], loc["point"]["lon"])
            for loc in hit["locations"]
            if loc["point"]
        ]
        assert min(distances) <= radius_km + DISTANCE_SLACK_KM, hit


def test_near_city_resolves_to_the_coordinates_the_jobs_carry(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    city, country = most_common_city(world_index)
    centre = resolve_near_city(os_client, world_index.names.read_alias, city.upper(), [country])
    points = [
        loc["point"]
        for doc in world_index.active
        for loc in doc["locations"]
        if loc["city"] == city and loc["country"] == country and loc["point"]
    ]
    # a name shared by two places of one country resolves to the region with more jobs
    assert any(
        abs(centre.lat - p["lat"]) < 0.01 and abs(centre.lon - p["lon"]) < 0.01 for p in points
    )


def test_an_unknown_city_is_a_clear_error(os_client: OpenSearch, world_index: WorldIndex) -> None:
    with pytest.raises(UnknownCityError, match="Atlantis"):
        search(
            os_client,
            world_index.names.read_alias,
            SearchQuery(collapse=False, near_city="Atlantis"),
        )


def test_distance_sort_orders_hits_by_their_nearest_location(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    city, country = most_common_city(world_index)
    alias = world_index.names.read_alias
    centre = resolve_near_city(os_client, alias, city, [country])
    page = search(
        os_client, alias, SearchQuery(collapse=False, near=centre, radius="2000km", sort="distance")
    )
    distances = [hit["distance_km"] for hit in page.hits]
    assert distances == sorted(distances)
    for hit in page.hits:
        nearest = min(
            haversine_km(centre, loc["point"]["lat"], loc["point"]["lon"])
            for loc in hit["locations"]
            if loc["point"]
        )
        assert abs(hit["distance_km"] - nearest) < DISTANCE_SLACK_KM + nearest * 0.005


# --------------------------------------------------------------------------- locations


def _split_city_country_pair(world: WorldIndex) -> tuple[str, str]:
    """A city and a country that share jobs only through *different* locations."""
    together: Counter[tuple[str, str]] = Counter()
    apart: Counter[tuple[str, str]] = Counter()
    for doc in world.active:
        places = {(loc["city"], loc["country"]) for loc in doc["locations"] if loc["city"]}
        for city, _ in places:
            for country in {loc["country"] for loc in doc["locations"]}:
                if (city, country) not in places:
                    apart[(city, country)] += 1
        together.update(places)
    return max(apart, key=lambda pair: (apart[pair] - 1000 * together[pair], pair))


@pytest.mark.parametrize("pair_kind", ["same_location", "different_locations"])
def test_city_and_country_must_match_within_one_location(
    os_client: OpenSearch, world_index: WorldIndex, pair_kind: str
) -> None:
    if pair_kind == "same_location":
        city, country = most_common_city(world_index)
    else:
        city, country = _split_city_country_pair(world_index)
    query = SearchQuery(collapse=False, city=[city], country=[country], size=100)
    hits, total = all_pages(os_client, world_index.names.read_alias, query)

    def same_location(doc: Doc) -> bool:
        return any(
            folded(loc["city"]) == folded(city) and folded(loc["country"]) == folded(country)
            for loc in doc["locations"]
        )

    expected = {doc["id"] for doc in matching(world_index, same_location)}
    assert {hit["id"] for hit in hits} == expected
    assert total == len(expected)
    for hit in hits:
        assert any(
            folded(loc["city"]) == folded(city) and folded(loc["country"]) == folded(country)
            for loc in hit["locations"]
        )
    if pair_kind == "different_locations":
        # The flat fields would match these jobs; the nested query must not.
        apart = matching(
            world_index,
            lambda doc: (
                folded(city) in map(folded, doc["cities"])
                and folded(country) in map(folded, doc["countries"])
            ),
        )
        assert len(apart) > len(expected)


# --------------------------------------------------------------------------- salary, dates


def test_every_salary_overlaps_the_asked_range(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    low, high = 80_000, 120_000
    query = SearchQuery(collapse=False, salary_min=low, salary_max=high, size=100, sort="salary")
    hits, total = all_pages(os_client, world_index.names.read_alias, query)

    def overlaps(doc: Doc) -> bool:
        bounds = doc["salary_usd"]
        if not bounds:
            return False
        return bounds.get("gte", -math.inf) <= high and bounds.get("lte", math.inf) >= low

    expected = {doc["id"] for doc in matching(world_index, overlaps)}
    assert expected
    assert {hit["id"] for hit in hits} == expected
    assert total == len(expected)
    for hit in hits:
        usd_min, usd_max = hit["salary"]["usd_min"], hit["salary"]["usd_max"]
        assert (usd_min if usd_min is not None else -math.inf) <= high
        assert (usd_max if usd_max is not None else math.inf) >= low
    maxima = [hit["salary"]["usd_max"] for hit in hits if hit["salary"]["usd_max"] is not None]
    assert maxima == sorted(maxima, reverse=True)


def test_posted_within_counts_posting_date_or_creation_date(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    days = 7

    def posted_since(moment: datetime) -> Callable[[Doc], bool]:
        def check(doc: Doc) -> bool:
            stamp = doc["date_posted"] or doc["created_at"]
            return parse_timestamp(stamp) >= moment

        return check

    before = datetime.now(UTC) - timedelta(days=days)
    hits, total = all_pages(
        os_client,
        world_index.names.read_alias,
        SearchQuery(collapse=False, posted_within_days=days, size=100, sort="recency"),
    )
    after = datetime.now(UTC) - timedelta(days=days)
    assert len(hits) == total
    assert len(matching(world_index, posted_since(after))) <= total
    assert total <= len(matching(world_index, posted_since(before)))
    assert total > 0
    for hit in hits:
        doc = next(d for d in world_index.active if d["id"] == hit["id"])
        assert posted_since(before)(doc)


# --------------------------------------------------------------------------- keyword filters


def test_keyword_and_boolean_filters_match_direct_counts(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    query = SearchQuery(
        collapse=False,
        workplace_type=["Remote"],  # any spelling: the fields are normalised
        experience_level=["senior", "lead"],
        h1b_sponsor=True,
        size=100,
    )
    hits, total = all_pages(os_client, world_index.names.read_alias, query)
    expected = matching(
        world_index,
        lambda doc: (
            doc["workplace_type"] == "remote"
            and doc["experience_level"] in ("senior", "lead")
            and doc["is_h1b_sponsor"] is True
        ),
    )
    assert expected
    assert {hit["id"] for hit in hits} == {doc["id"] for doc in expected}
    assert total == len(expected)


# --------------------------------------------------------------------------- facets


def _query_for_bucket(base: SearchQuery, facet: str, value: str) -> SearchQuery:
    if facet in ("is_h1b_sponsor", "is_clearance_required"):
        flag = value == "true"
        name = "h1b_sponsor" if facet == "is_h1b_sponsor" else "clearance_required"
        return replace(base, **{name: flag})
    if facet == "skill":
        return replace(base, skills=[value])
    return replace(base, **{facet: [value]})


def test_facet_counts_equal_direct_count_queries(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    alias = world_index.names.read_alias
    base = SearchQuery(collapse=False, text="engineer", workplace_type=["hybrid"], facet_size=5)
    page = search(os_client, alias, base)
    assert set(page.facets) == set(FACET_FIELDS)
    checked = 0
    for facet, buckets in page.facets.items():
        assert buckets, facet
        for bucket in buckets[:3]:
            direct = count(os_client, alias, _query_for_bucket(base, facet, bucket.value))
            assert direct == bucket.count, (facet, bucket)
            checked += 1
    assert checked >= len(FACET_FIELDS)


def test_location_facets_count_jobs_not_locations(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    page = search(
        os_client,
        world_index.names.read_alias,
        SearchQuery(collapse=False, facets=["country"], facet_size=3),
    )
    for bucket in page.facets["country"]:
        jobs = matching(
            world_index,
            lambda doc, value=bucket.value: value in {folded(c) for c in doc["countries"]},
        )
        assert bucket.count == len(jobs)


def test_labelled_facets_show_a_jobs_own_spelling_and_filter_by_the_folded_value(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    alias = world_index.names.read_alias
    page = search(
        os_client, alias, SearchQuery(collapse=False, facets=["city", "skill", "country"])
    )
    for facet, field_name in (("city", "cities"), ("skill", "skills"), ("country", "countries")):
        spellings = {value for doc in world_index.active for value in doc[field_name]}
        assert page.facets[facet], facet
        for bucket in page.facets[facet]:
            assert bucket.label in spellings, (facet, bucket)  # as a job wrote it
            assert folded(bucket.label) == bucket.value, (facet, bucket)
            shown = bucket.as_dict()
            assert shown["label"] == bucket.label
    city = page.facets["city"][0]
    assert city.label != city.value  # the world's cities are capitalised; the key is not
    found = count(os_client, alias, SearchQuery(collapse=False, city=[city.label or ""]))
    assert found == city.count


# --------------------------------------------------------------------------- pagination


@pytest.mark.parametrize("sort", ["recency", "salary", "relevance"])
def test_search_after_walks_the_whole_active_set_without_gaps_or_repeats(
    os_client: OpenSearch, world_index: WorldIndex, sort: str
) -> None:
    query = SearchQuery(collapse=False, sort=sort, size=100, facets=())  # type: ignore[arg-type]
    hits, total = all_pages(os_client, world_index.names.read_alias, query)
    ids = [hit["id"] for hit in hits]
    assert len(ids) == len(set(ids)), "a job appeared on two pages"
    assert set(ids) == {doc["id"] for doc in world_index.active}
    assert total == len(world_index.active)
    assert not set(ids) & world_index.expired_ids


def test_text_search_pages_through_every_match(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    query = SearchQuery(collapse=False, text="data engineer", size=37)
    hits, total = all_pages(os_client, world_index.names.read_alias, query)
    ids = [hit["id"] for hit in hits]
    assert len(ids) == len(set(ids)) == total > 37
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)


def test_a_forged_token_is_a_clear_error() -> None:
    with pytest.raises(SearchError, match=r"next-page token \(--after\)"):
        build_search_body(SearchQuery(collapse=False, search_after="not-a-token!"))
    with pytest.raises(SearchError, match=r"next-page token \(--after\)"):
        build_search_body(SearchQuery(search_after="not-a-token!"))


# --------------------------------------------------------------------------- text and highlight


def test_expired_jobs_never_match_even_by_their_exact_title(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    expired = next(d for d in world_index.documents if d["id"] in world_index.expired_ids)
    hits, _ = all_pages(
        os_client,
        world_index.names.read_alias,
        SearchQuery(
            collapse=False, text=expired["title"], company=[expired["company"]["name"]], size=100
        ),
    )
    assert expired["id"] not in {hit["id"] for hit in hits}


def test_title_matches_rank_above_description_matches_and_are_highlighted(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    page: SearchPage = search(
        os_client,
        world_index.names.read_alias,
        SearchQuery(collapse=False, text="pharmacist", size=10),
    )
    assert page.hits
    for hit in page.hits:
        assert "pharmacist" in hit["title"].lower()
        assert "<em>" in hit["highlight"]["title"][0].lower()
    word = "garage"  # in the description paragraphs, never in a title, skill or responsibility
    assert any(word in doc["description"] for doc in world_index.active)
    descriptions = search(
        os_client, world_index.names.read_alias, SearchQuery(collapse=False, text=word, size=5)
    )
    assert descriptions.hits
    for hit in descriptions.hits:
        fragments = " ".join(hit["highlight"]["description"]).lower()
        assert "<em>garage" in fragments


def test_accents_fold_in_full_text(os_client: OpenSearch, world_index: WorldIndex) -> None:
    page = search(
        os_client, world_index.names.read_alias, SearchQuery(collapse=False, text="senor")
    )
    assert page.total > 0
    assert all("señor" in hit["title"].lower() for hit in page.hits)


# --------------------------------------------------------------------------- suggest


def test_suggest_returns_deduplicated_titles_whose_words_start_with_the_prefix(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    suggestions = suggest(os_client, world_index.names.read_alias, "Soft", size=10)
    assert suggestions
    keys = [fold(s.text) for s in suggestions]
    assert len(keys) == len(set(keys))
    for suggestion in suggestions:
        assert any(word.startswith("soft") for word in fold(suggestion.text).split())
    titles = [s for s in suggestions if s.kind == "title"]
    assert titles
    assert fold(titles[0].text).startswith("soft")
    top = titles[0]
    direct = sum(1 for doc in world_index.active if doc["title"] == top.text)
    assert top.count >= direct > 0


def test_suggest_folds_accents_and_matches_every_word(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    alias = world_index.names.read_alias
    accented = suggest(os_client, alias, "developpeur back")
    assert any("développeur" in s.text.lower() for s in accented)
    for suggestion in accented:
        words = fold(suggestion.text).replace("·", " ").split()
        assert any(word.startswith("developpeur") for word in words)
        assert any(word.startswith("back") for word in words)


def test_suggest_offers_company_names(os_client: OpenSearch, world_index: WorldIndex) -> None:
    name = world_index.active[0]["company"]["name"]
    prefix = name.split()[0][:4]
    suggestions = suggest(os_client, world_index.names.read_alias, prefix, size=20)
    companies = [s for s in suggestions if s.kind == "company"]
    assert companies
    assert all(
        any(word.startswith(fold(prefix)) for word in fold(s.text).split()) for s in companies
    )


def test_suggest_cuts_prefix_words_to_the_longest_indexed_ngram() -> None:
    body = build_suggest_body("Softwareentwicklungsingenieur back", size=5)
    query = body["query"]["bool"]["should"][0]["match"]["title.autocomplete"]["query"]
    assert query == "Softwareentwicklungs back"  # 20 letters: the edge n-grams stop there
