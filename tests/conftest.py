"""Shared fixtures: a real OpenSearch node for integration tests.

``opensearch_url`` uses ``OPENSEARCH_URL`` when it is set (one URL, or a comma-separated list of
a cluster's nodes; it waits up to two minutes for a busy node to answer and fails the session if
it does not); otherwise it starts the project's local node through
``scripts/opensearch-local start`` (idempotent, the script's default version) and uses the URLs
that the script prints as its last line. Tests never stop or restart the node they are given.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from opensearchpy import OpenSearch

REPO = Path(__file__).resolve().parent.parent
NODE_SCRIPT = REPO / "scripts" / "opensearch-local"


def node_urls(urls: str) -> list[str]:
    """``"http://a:9200,http://b:9201"`` -> the node URLs, without trailing slashes."""
    return [url.strip().rstrip("/") for url in urls.split(",") if url.strip()]


def _answers(urls: str) -> bool:
    for url in node_urls(urls):
        try:
            if requests.get(f"{url}/_cluster/health", timeout=3).ok:
                return True
        except requests.RequestException:
            continue
    return False


@pytest.fixture(scope="session")
def opensearch_url() -> str:
    url = os.environ.get("OPENSEARCH_URL")
    if url:  # the node asked for, and no other: never start one beside it (same ports)
        deadline = time.monotonic() + 120
        while not _answers(url):
            if time.monotonic() > deadline:
                pytest.fail(
                    f"OPENSEARCH_URL={url} does not answer GET /_cluster/health: start that "
                    "node, or unset OPENSEARCH_URL to let the tests start the local one"
                )
            time.sleep(2)
        return ",".join(node_urls(url))
    done = subprocess.run([str(NODE_SCRIPT), "start"], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        pytest.fail(f"could not start the local OpenSearch node:\n{done.stderr}\n{done.stdout}")
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def os_client(opensearch_url: str) -> OpenSearch:
    return OpenSearch(hosts=node_urls(opensearch_url), timeout=60)


@pytest.fixture
def unique_name(os_client: OpenSearch) -> Iterator[Callable[[str], str]]:
    """A factory of unique, lower-case names; every index or alias starting with one is removed."""
    made: list[str] = []

    def make(prefix: str = "t") -> str:
        name = f"test-{prefix}-{uuid.uuid4().hex[:10]}"
        made.append(name)
        return name

    yield make
    for name in made:
        os_client.indices.delete(index=f"{name}*", ignore_unavailable=True, expand_wildcards="all")
        os_client.indices.delete_index_template(name=f"{name}*", ignore=[404])
