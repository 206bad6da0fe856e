"""The queries the jobs mapping exists for, on the real node, with documents from the transform."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from opensearchpy import OpenSearch, RequestError

from indexer.store.schema import IndexNames, ensure_initialised
from indexer.transform import to_document, version_of

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def job(job_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": job_id, "updated_at": "2026-10-01T00:00:00Z", "created_at": None, **fields}


JOBS = [
    job(
        "paris-fr",
        title="Senior Software Engineer",
        description="Our engineers are building résumé tooling.",
        company={"id": "c1", "name": "Société Générale", "industries": ["Banking"]},
        source="Greenhouse",
        employment_type="full-time",
        locations=[
            {"city": "Paris", "country": "France", "latitude": 48.8566, "longitude": 2.3522},
            {"city": "Berlin", "country": "Germany", "latitude": 52.52, "longitude": 13.405},
        ],
        compensation={"min": 80000, "max": 100000, "currency": "EUR", "period": "yearly"},
        qualifications={"must_have": {"skills": [{"name": "Python", "type": "hard"}]}},
    ),
    job(
        "paris-tx",
        title="Data Scientist",
        company={"id": "c2", "name": "Lone Star Analytics"},
        source="lever_co",
        employment_type="full_time",
        locations=[
            {"city": "Paris", "country": "United States", "latitude": 33.66, "longitude": -95.55},
            {"city": "Lyon", "country": "France", "latitude": 45.764, "longitude": 4.8357},
        ],
        compensation={"min": 150000, "max": None, "currency": "USD", "period": "yearly"},
        qualifications={"preferred": {"skills": [{"name": "python", "type": "hard"}]}},
    ),
    job(
        "no-point",
        title="Warehouse Associate",
        company={"id": "c3", "name": "Depot"},
        source="workday",
        locations=[{"city": "Paris", "country": "France", "latitude": None, "longitude": None}],
        compensation={"min": None, "max": 30, "currency": "USD", "period": "hourly"},
    ),
]


def load(client: OpenSearch, base: str) -> IndexNames:
    names = ensure_initialised(client, base)
    for raw in JOBS:
        client.index(
            index=names.write_alias,
            id=raw["id"],
            body=to_document(raw, indexed_at=NOW),
            version=version_of(raw),
            version_type="external",
        )
    client.indices.refresh(index=names.write_alias)
    return names


@pytest.fixture(scope="module")
def loaded(os_client: OpenSearch) -> Iterator[IndexNames]:
    """Shared, read-only data for the query tests (tests that write use ``own``)."""
    base = f"test-mapq-{uuid.uuid4().hex[:10]}"
    yield load(os_client, base)
    os_client.indices.delete(index=f"{base}*", ignore_unavailable=True, expand_wildcards="all")
    os_client.indices.delete_index_template(name=f"{base}*", ignore=[404])


@pytest.fixture
def own(os_client: OpenSearch, unique_name: Callable[[str], str]) -> IndexNames:
    return load(os_client, unique_name("map"))


def ids(client: OpenSearch, index: str, query: dict[str, Any], **body: Any) -> set[str]:
    found = client.search(index=index, body={"query": query, "size": 100, **body})
    return {hit["_id"] for hit in found["hits"]["hits"]}


def nested(query: dict[str, Any]) -> dict[str, Any]:
    return {"nested": {"path": "locations", "query": query}}


def test_city_and_country_must_match_in_the_same_location(
    os_client: OpenSearch, loaded: IndexNames
) -> None:
    same_location = nested(
        {
            "bool": {
                "filter": [
                    {"term": {"locations.city": "paris"}},
                    {"term": {"locations.country": "france"}},
                ]
            }
        }
    )
    assert ids(os_client, loaded.read_alias, same_location) == {"paris-fr", "no-point"}
    # The flat copies cannot tell Paris, Texas + Lyon, France from Paris, France:
    flat = {"bool": {"filter": [{"term": {"cities": "paris"}}, {"term": {"countries": "france"}}]}}
    assert ids(os_client, loaded.read_alias, flat) == {"paris-fr", "paris-tx", "no-point"}


def test_geo_distance_applies_per_nested_location(
    os_client: OpenSearch, loaded: IndexNames
) -> None:
    near_paris_fr = {"geo_distance": {"distance": "50km", "locations.point": [2.35, 48.85]}}
    assert ids(os_client, loaded.read_alias, nested(near_paris_fr)) == {"paris-fr"}
    near_lyon = {"geo_distance": {"distance": "20km", "locations.point": [4.83, 45.76]}}
    assert ids(os_client, loaded.read_alias, nested(near_lyon)) == {"paris-tx"}
    # Within 50 km of Paris, France *and* the city named Paris: only the French one.
    both = nested({"bool": {"filter": [near_paris_fr, {"term": {"locations.city": "Paris"}}]}})
    assert ids(os_client, loaded.read_alias, both) == {"paris-fr"}


def test_flat_location_points_serve_maps(os_client: OpenSearch, loaded: IndexNames) -> None:
    europe = {
        "geo_bounding_box": {"location_points": {"top_left": [-10, 60], "bottom_right": [30, 35]}}
    }
    assert ids(os_client, loaded.read_alias, europe) == {"paris-fr", "paris-tx"}


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ((100_000, 120_000), {"paris-fr"}),  # 89,800..112,250 USD overlaps
        ((140_000, 200_000), {"paris-tx"}),  # min-only 150,000.. overlaps
        ((50_000, 70_000), {"no-point"}),  # max-only ..62,400 overlaps
        ((300_000, 400_000), {"paris-tx"}),  # an open upper bound overlaps everything above
        ((10_000, 20_000), {"no-point"}),
    ],
)
def test_salary_overlap_with_intersects(
    os_client: OpenSearch, loaded: IndexNames, wanted: tuple[int, int], expected: set[str]
) -> None:
    low, high = wanted
    query = {"range": {"salary_usd": {"gte": low, "lte": high, "relation": "intersects"}}}
    assert ids(os_client, loaded.read_alias, query) == expected


def test_facets_are_case_insensitive(os_client: OpenSearch, loaded: IndexNames) -> None:
    assert ids(os_client, loaded.read_alias, {"term": {"source": "GREENHOUSE"}}) == {"paris-fr"}
    assert ids(os_client, loaded.read_alias, {"term": {"skills": "PYTHON"}}) == {
        "paris-fr",
        "paris-tx",
    }
    assert ids(os_client, loaded.read_alias, {"term": {"employment_type": "FULL_TIME"}}) == {
        "paris-fr",
        "paris-tx",
    }
    aggs = os_client.search(
        index=loaded.read_alias,
        body={"size": 0, "aggs": {"countries": {"terms": {"field": "countries"}}}},
    )["aggregations"]["countries"]["buckets"]
    assert {bucket["key"]: bucket["doc_count"] for bucket in aggs} == {
        "france": 3,
        "germany": 1,
        "united states": 1,
    }


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [("softw", {"paris-fr"}), ("Sen Soft", {"paris-fr"}), ("dat", {"paris-tx"}), ("zzz", set())],
)
def test_title_autocomplete_from_a_prefix(
    os_client: OpenSearch, loaded: IndexNames, prefix: str, expected: set[str]
) -> None:
    query = {"match": {"title.autocomplete": {"query": prefix, "operator": "and"}}}
    assert ids(os_client, loaded.read_alias, query) == expected


def test_company_autocomplete_and_ascii_folding(os_client: OpenSearch, loaded: IndexNames) -> None:
    prefix = {"match": {"company.name.autocomplete": {"query": "soci", "operator": "and"}}}
    assert ids(os_client, loaded.read_alias, prefix) == {"paris-fr"}
    folded = {"match": {"company.name": "societe generale"}}
    assert ids(os_client, loaded.read_alias, folded) == {"paris-fr"}


def test_english_stemming_and_folding_in_descriptions(
    os_client: OpenSearch, loaded: IndexNames
) -> None:
    assert ids(os_client, loaded.read_alias, {"match": {"description": "engineer"}}) == {"paris-fr"}
    assert ids(os_client, loaded.read_alias, {"match": {"description": "resume"}}) == {"paris-fr"}


def test_strict_mapping_rejects_an_unknown_field(os_client: OpenSearch, own: IndexNames) -> None:
    with pytest.raises(RequestError) as caught:
        os_client.index(index=own.write_alias, id="bad", body={"id": "bad", "bogus": 1})
    assert "strict_dynamic_mapping_exception" in str(caught.value)


def test_unknown_feed_fields_survive_in_extra(os_client: OpenSearch, own: IndexNames) -> None:
    raw = job("extra", title="X", new_upstream_field={"deep": [1, "two"]})
    os_client.index(
        index=own.write_alias, id="extra", body=to_document(raw, indexed_at=NOW), refresh=True
    )
    stored = os_client.get(index=own.write_alias, id="extra")["_source"]
    assert stored["extra"] == {"new_upstream_field": {"deep": [1, "two"]}}


def test_read_alias_hides_expired_documents(os_client: OpenSearch, own: IndexNames) -> None:
    expired = to_document(JOBS[1], indexed_at=NOW)
    expired.update(status="expired", expired_at="2026-11-01T00:00:00.000Z")
    os_client.index(
        index=own.write_alias,
        id="paris-tx",
        body=expired,
        version=version_of(JOBS[1]) + 1,
        version_type="external",
        refresh=True,
    )
    everything = {"match_all": {}}
    assert ids(os_client, own.read_alias, everything) == {"paris-fr", "no-point"}
    assert ids(os_client, own.all_alias, everything) == {"paris-fr", "paris-tx", "no-point"}


def test_resync_can_sort_on_the_id_keyword(os_client: OpenSearch, loaded: IndexNames) -> None:
    found = os_client.search(
        index=loaded.all_alias,
        body={"size": 10, "sort": [{"id": "asc"}], "_source": False},
    )["hits"]["hits"]
    assert [hit["sort"][0] for hit in found] == sorted(raw["id"] for raw in JOBS)
