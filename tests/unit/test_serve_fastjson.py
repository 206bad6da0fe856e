"""The service's orjson serializer decodes and encodes as opensearch-py's own does."""

from __future__ import annotations

import json

import pytest
from opensearchpy import OpenSearch
from opensearchpy.exceptions import SerializationError
from opensearchpy.serializer import JSONSerializer

from indexer.serve.fastjson import OrjsonSerializer, use_orjson

ANSWER = {
    "took": 3,
    "hits": {
        "total": {"value": 2, "relation": "eq"},
        "hits": [
            {"_id": "é-1", "_score": 1.5, "_source": {"title": "Ingénieur", "skills": ["C++"]}},
            {"_id": "2", "_score": None, "sort": [1733097600000, "2"], "_source": {"n": 10**15}},
        ],
    },
    "aggregations": {"country": {"buckets": [{"key": "北京", "doc_count": 7}]}},
}


def test_same_values_as_the_standard_serializer() -> None:
    text = json.dumps(ANSWER, ensure_ascii=False)
    assert OrjsonSerializer().loads(text) == JSONSerializer().loads(text) == ANSWER
    assert OrjsonSerializer().loads(text.encode()) == ANSWER
    encoded = OrjsonSerializer().dumps(ANSWER)
    assert json.loads(encoded) == ANSWER
    assert OrjsonSerializer().dumps("already text") == "already text"


def test_bad_json_is_opensearch_py_s_serialization_error() -> None:
    with pytest.raises(SerializationError):
        OrjsonSerializer().loads("{not json")
    with pytest.raises(SerializationError):
        OrjsonSerializer().dumps({"x": object()})


def test_use_orjson_sets_both_directions() -> None:
    client = use_orjson(OpenSearch("http://127.0.0.1:9"))
    assert isinstance(client.transport.serializer, OrjsonSerializer)
    assert isinstance(client.transport.deserializer.loads("{}", "application/json"), dict)
    assert isinstance(
        client.transport.deserializer.serializers["application/json"], OrjsonSerializer
    )
    assert isinstance(client.transport.deserializer.default, OrjsonSerializer)
