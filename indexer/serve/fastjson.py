"""orjson for the service's OpenSearch client: every search answer is decoded once per request.

opensearch-py decodes answers with the standard library's ``json``; a search page (20 hits with
their sources, highlights, other boards, ten facets) is tens of kilobytes, and decoding it is the
larger part of what the service spends beyond OpenSearch's own time. orjson (already a
dependency, for the feed pages and bulk bodies) decodes the same text to the same values.
"""

from __future__ import annotations

from typing import Any

import orjson
from opensearchpy import OpenSearch
from opensearchpy.exceptions import SerializationError
from opensearchpy.serializer import JSONSerializer


class OrjsonSerializer(JSONSerializer):
    def loads(self, s: str | bytes) -> Any:
        try:
            return orjson.loads(s)
        except orjson.JSONDecodeError as error:
            raise SerializationError(s, error) from None

    def dumps(self, data: Any) -> Any:
        if isinstance(data, str | bytes):
            return data
        try:
            return orjson.dumps(data, default=self.default).decode("utf-8")
        except TypeError as error:
            raise SerializationError(data, error) from None


def use_orjson(client: OpenSearch) -> OpenSearch:
    """``client`` with orjson encoding its requests and decoding its JSON answers."""
    serializer = OrjsonSerializer()
    client.transport.serializer = serializer
    client.transport.deserializer.serializers[serializer.mimetype] = serializer
    client.transport.deserializer.default = serializer
    return client
