"""The first integration test: a real node takes an explicit mapping and bulk-indexed documents."""

from __future__ import annotations

import pytest
from opensearchpy import OpenSearch, RequestError, helpers

pytestmark = pytest.mark.integration


# The standard modules later work needs; OpenSearch 3.0 renamed their plugin classes from
# ``*Plugin`` to ``*ModulePlugin`` (the geo module already had the new name in 2.x).
MODULES_2X = (
    "org.opensearch.analysis.common.CommonAnalysisPlugin",
    "org.opensearch.index.mapper.MapperExtrasPlugin",
    "org.opensearch.geo.GeoModulePlugin",
    "org.opensearch.index.reindex.ReindexPlugin",
    "org.opensearch.painless.PainlessPlugin",
    "org.opensearch.transport.Netty4Plugin",
)
MODULES_3X = (
    "org.opensearch.analysis.common.CommonAnalysisModulePlugin",
    "org.opensearch.index.mapper.MapperExtrasModulePlugin",
    "org.opensearch.geo.GeoModulePlugin",
    "org.opensearch.index.reindex.ReindexModulePlugin",
    "org.opensearch.painless.PainlessModulePlugin",
    "org.opensearch.transport.Netty4ModulePlugin",
)


def test_node_loads_the_modules_later_work_needs(os_client: OpenSearch) -> None:
    major = int(os_client.info()["version"]["number"].split(".")[0])
    expected = MODULES_3X if major >= 3 else MODULES_2X
    plugins = os_client.cat.plugins(format="json")
    components = {p["component"] for p in plugins}
    missing = [module for module in expected if module not in components]
    assert not missing, f"OpenSearch {major}.x lacks {missing}; it has {sorted(components)}"


def test_bulk_index_with_explicit_mapping_and_read_back(os_client: OpenSearch, unique_name) -> None:
    index = unique_name("node")
    os_client.indices.create(
        index=index,
        body={
            "settings": {"number_of_shards": 1, "number_of_replicas": 0},
            "mappings": {
                "dynamic": "strict",
                "properties": {
                    "title": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
                    "where": {"type": "geo_point"},
                    "salary": {"type": "integer_range"},
                },
            },
        },
    )
    docs = [
        {
            "_index": index,
            "_id": str(i),
            "title": f"Engineer {i}",
            "where": {"lat": 52.52, "lon": 13.4 + i / 100},
            "salary": {"gte": 1000 * i, "lte": 2000 * i},
        }
        for i in range(1, 51)
    ]
    ok, errors = helpers.bulk(os_client, docs, refresh="wait_for")
    assert ok == 50
    assert errors == []
    assert os_client.count(index=index)["count"] == 50
    got = os_client.get(index=index, id="7")["_source"]
    assert got["title"] == "Engineer 7"
    hits = os_client.search(
        index=index,
        body={
            "query": {"geo_distance": {"distance": "300m", "where": {"lat": 52.52, "lon": 13.41}}}
        },
    )["hits"]["hits"]
    assert {h["_id"] for h in hits} == {"1"}
    strict = pytest.raises(RequestError, match="strict_dynamic_mapping_exception")
    with strict:
        os_client.index(index=index, id="x", body={"unknown": 1})
