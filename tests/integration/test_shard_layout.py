"""``init --shards/--replicas`` and bulk-load replicas on the real node.

On the single test node a replica cannot be assigned (the index is yellow until deleted); the
settings are what these tests check. The cluster cases of the fault suite check the behaviour.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import CliRunner
from opensearchpy import OpenSearch

import indexer.cli.index  # noqa: F401  (registers init on the group)
from indexer.cli import main
from indexer.store.migrate import migrate
from indexer.store.schema import (
    ShardLayout,
    enter_bulk_load,
    exit_bulk_load,
    index_names,
    init_index,
    live_physical_index,
)

pytestmark = pytest.mark.integration


def shards_and_replicas(client: OpenSearch, index: str) -> tuple[int, int]:
    values = client.indices.get_settings(index=index)[index]["settings"]["index"]
    return int(values["number_of_shards"]), int(values["number_of_replicas"])


def init_cli(url: str, base: str, *extra: str) -> dict:
    done = CliRunner().invoke(
        main, ["init", "--opensearch-url", url, "--index", base, "--json", *extra]
    )
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_init_creates_the_shards_and_replicas_asked_for(
    opensearch_url: str, os_client: OpenSearch, unique_name: Callable
) -> None:
    base = unique_name("lay")
    init_cli(opensearch_url, base, "--shards", "3", "--replicas", "1")
    names = index_names(base)
    assert shards_and_replicas(os_client, live_physical_index(os_client, base)) == (3, 1)
    for bookkeeping in (names.state, names.runs, names.dead_letters):
        assert shards_and_replicas(os_client, bookkeeping) == (1, 1)
    again = init_cli(opensearch_url, base)  # what flows do: init without options
    assert again["drift"] == []
    assert again["changed"] is False


def test_init_on_existing_indices_sets_replicas_and_reports_shards(
    opensearch_url: str, os_client: OpenSearch, unique_name: Callable
) -> None:
    base = unique_name("lay")
    init_cli(opensearch_url, base)
    physical = live_physical_index(os_client, base)
    assert shards_and_replicas(os_client, physical) == (1, 0)
    report = init_index(os_client, base, layout=ShardLayout(shards=2, replicas=1))
    assert shards_and_replicas(os_client, physical) == (1, 1)
    assert shards_and_replicas(os_client, index_names(base).state) == (1, 1)
    assert any("replicas 0 -> 1" in action for action in report.actions)
    assert len(report.drift) == 1
    assert "fixed when an index is created" in report.drift[0]


def test_migrate_keeps_the_live_index_layout(os_client: OpenSearch, unique_name: Callable) -> None:
    base = unique_name("lay")
    init_index(os_client, base, layout=ShardLayout(shards=2, replicas=1))
    report = migrate(os_client, base)
    assert shards_and_replicas(os_client, report.new_index) == (2, 1)


def test_bulk_load_keeps_replicas_unless_asked_to_drop_them(
    os_client: OpenSearch, unique_name: Callable
) -> None:
    base = unique_name("lay")
    init_index(os_client, base, layout=ShardLayout(replicas=1))
    physical = live_physical_index(os_client, base)
    enter_bulk_load(os_client, physical)
    assert shards_and_replicas(os_client, physical) == (1, 1)
    assert exit_bulk_load(os_client, physical) is True
    enter_bulk_load(os_client, physical, drop_replicas=True)
    assert shards_and_replicas(os_client, physical) == (1, 0)
    assert exit_bulk_load(os_client, physical) is True
    assert shards_and_replicas(os_client, physical) == (1, 1)
