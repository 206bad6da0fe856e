"""The pure parts of the alerts: signatures, batch keys, what a percolated job carries, the
saved-searches mapping, the status lines."""

from __future__ import annotations

import hashlib
import hmac

from indexer.alerts.delivery import DeliveryConfig, batch_key, sign, verify
from indexer.alerts.percolate import slim
from indexer.alerts.saved import SavedSearch, percolator_query, query_from_spec, saved_searches_body
from indexer.cli.status_view import alerts_lines
from indexer.search import GeoPoint, SearchQuery, match_query


def test_the_signature_is_the_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"search":"x","matches":[]}'
    expected = hmac.new(b"s3cret-value", body, hashlib.sha256).hexdigest()
    assert sign("s3cret-value", body) == f"sha256={expected}"
    assert verify("s3cret-value", body, sign("s3cret-value", body))
    assert not verify("s3cret-value", body + b" ", sign("s3cret-value", body))
    assert not verify("s3cret-value", body, None)


def test_a_batch_key_names_the_search_and_its_matches_in_order() -> None:
    assert batch_key("a", ["1", "2"]) == batch_key("a", ["1", "2"])
    assert batch_key("a", ["1", "2"]) != batch_key("b", ["1", "2"])
    assert batch_key("a", ["1", "2"]) != batch_key("a", ["2", "1"])


def test_the_secret_is_never_in_the_config_repr() -> None:
    assert "hush-hush-123" not in repr(DeliveryConfig(secret="hush-hush-123"))


def test_a_percolated_job_carries_only_what_a_search_reads() -> None:
    document = {
        "id": "j1",
        "status": "active",
        "title": "Data Engineer",
        "benefits": "a long text no search reads",
        "apply_url": "https://example.org",
        "company": {"name": "Acme", "summary": "long profile", "industries": ["x"]},
        "locations": [{"location": "Berlin, DE", "city": "Berlin", "country": "DE", "point": None}],
    }
    slimmed = slim(document)
    assert set(slimmed) == {"id", "status", "title", "company", "locations"}
    assert slimmed["company"] == {"name": "Acme"}
    assert slimmed["locations"] == [{"city": "Berlin", "country": "DE"}]


def test_the_saved_searches_index_maps_the_job_fields_a_search_reads() -> None:
    properties = saved_searches_body()["mappings"]["properties"]
    assert properties["query"] == {"type": "percolator"}
    assert properties["locations"]["type"] == "nested"
    assert properties["salary_usd"]["type"] == "integer_range"
    assert set(properties["skills"]["fields"]) == {"words"}
    assert set(properties["company"]["properties"]["name"]["fields"]) == {"words", "keyword"}
    assert "fields" not in properties["title"]  # no autocomplete n-grams to analyse
    assert all("copy_to" not in spec for spec in properties.values())


def test_the_stored_query_is_the_search_on_active_jobs() -> None:
    query = SearchQuery(text="python", country=["US"])
    stored = percolator_query(query)
    assert stored["bool"]["filter"] == [{"term": {"status": "active"}}, match_query(query)]


def test_a_spec_round_trips_to_the_same_query() -> None:
    query = SearchQuery(text="go", near=GeoPoint(52.5, 13.4), radius="10km", salary_min=5)
    spec = SavedSearch("n", query, "2026-12-01T00:00:00.000Z").spec()
    assert spec == {
        "text": "go",
        "near": {"lat": 52.5, "lon": 13.4},
        "radius": "10km",
        "salary_min": 5,
    }
    assert match_query(query_from_spec(spec)) == match_query(query)


def test_status_lines_name_failing_deliveries() -> None:
    lines = alerts_lines(
        {
            "saved_searches": 2,
            "matches": 5,
            "undelivered": 3,
            "change_events": None,
            "failing_deliveries": {
                "x": {"failing": 3, "failed_at": "2026-12-01T00:00:00Z", "last_error": "HTTP 503"}
            },
        }
    )
    assert lines[0] == "alerts: 2 saved searches, 5 matches, 3 undelivered; change stream: off"
    assert "'x'" in lines[1]
    assert "HTTP 503" in lines[1]
    assert alerts_lines(None) == []
