# ruff: noqa: F811 (pytest fixtures imported from test_search_data shadow their parameters)
"""What a search sends: facet labels looked up once per value, a page's copies in one request."""

from __future__ import annotations

from typing import Any

import pytest
from opensearchpy import OpenSearch

from indexer.search import SearchQuery, build_search_body, search
from indexer.search import labels as labels_module
from tests.integration.test_search_data import WorldIndex, world_index  # noqa: F401

pytestmark = pytest.mark.integration


class Counting:
    """The real client, counting the searches sent through it."""

    def __init__(self, client: OpenSearch) -> None:
        self.client, self.bodies = client, []  # type: ignore[var-annotated]

    def search(self, **kwargs: Any) -> dict[str, Any]:
        self.bodies.append(kwargs["body"])
        return self.client.search(**kwargs)


def test_facet_labels_are_fetched_once_per_value_and_stay_the_same(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    alias = world_index.names.read_alias
    labels_module._cache.clear()
    query = SearchQuery(collapse=False, facets=["skill", "city", "workplace_type"])
    first_client = Counting(os_client)
    first = search(first_client, alias, query)  # type: ignore[arg-type]
    assert len(first_client.bodies) == 2  # the page, then the labels of its buckets
    again_client = Counting(os_client)
    again = search(again_client, alias, query)  # type: ignore[arg-type]
    assert len(again_client.bodies) == 1  # every label known
    assert again.as_dict()["facets"] == first.as_dict()["facets"]
    assert any(b.label and b.label != b.value for b in first.facets["city"])
    assert all(b.label is None for b in first.facets["workplace_type"])  # not a labelled facet
    assert "top_hits" not in str(build_search_body(query))


def test_a_collapsed_page_fetches_its_copies_in_one_request(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    alias = world_index.names.read_alias
    counting = Counting(os_client)
    page = search(counting, alias, SearchQuery(text="engineer", size=50, facets=()))  # type: ignore[arg-type]
    assert page.postings is not None
    assert page.postings < page.total
    assert len(counting.bodies) == 2
    assert "inner_hits" not in str(counting.bodies[0])
    assert any(hit["other_sources"] for hit in page.hits)
