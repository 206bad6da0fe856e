"""``--opensearch-url`` with several node URLs on the real node: a node that refuses connections
is failed over at once, for the first contact and for a whole backfill, and the index is exact.

The dead node is a loopback port that nothing listens on (a real refused connection, as from a
node that was killed); the live one is the test node.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from opensearchpy import OpenSearch

from indexer.cli import main
from indexer.simulator import start_simulator
from tests.support.e2e import Indexer, Sim, assert_exact

pytestmark = pytest.mark.integration

API_KEY = "failover-key-77"


@pytest.fixture
def dead_url() -> str:
    """A loopback URL that refuses connections (the port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def sim() -> Iterator[Sim]:
    running = start_simulator(jobs=900, api_key=API_KEY, seed=11, retry_after=0, subscription=True)
    yield Sim(running.url, API_KEY)
    running.stop()


def test_ping_fails_over_to_the_node_that_answers(opensearch_url: str, dead_url: str) -> None:
    urls = f"{dead_url},{opensearch_url}"
    done = CliRunner().invoke(main, ["ping", "--opensearch-url", urls, "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["url"] == urls
    assert summary["version"][0].isdigit()


def test_every_node_down_is_one_clear_line_and_exit_6(dead_url: str) -> None:
    done = CliRunner().invoke(main, ["ping", "--opensearch-url", f"{dead_url},{dead_url}/"])
    assert done.exit_code == 6
    assert f"could not reach OpenSearch at {dead_url},{dead_url}" in done.output


def test_a_backfill_with_one_node_down_is_exact(
    opensearch_url: str, dead_url: str, sim: Sim, os_client: OpenSearch, unique_name, tmp_path: Path
) -> None:
    indexer = Indexer(f"{dead_url},{opensearch_url}", sim, unique_name("fo"), tmp_path / "w")
    indexer.run("init")
    summary = indexer.run("backfill", "--batch-size", "200")
    assert summary["outcome"] == "success"
    assert_exact(os_client, indexer.base, sim)
