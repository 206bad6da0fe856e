"""The page writer's seam: the jobs written with a new version, handed over per acknowledged
page (where an alert on new or changed jobs hooks in), on the real node and the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opensearchpy import OpenSearch

from indexer.feed import FeedPage, FeedRequest, JoboClient
from indexer.store.bulk import IndexOp
from indexer.store.scan import lookup_versions
from indexer.sync.context import RunSummary, SyncSettings
from indexer.sync.feed_scan import scan_feed
from indexer.sync.runner import connect
from tests.support.e2e import assert_exact, simulated_envs

pytestmark = pytest.mark.integration

API_KEY = "page-writer-key-123"


@pytest.fixture
def make_env(opensearch_url: str, unique_name, tmp_path: Path) -> Iterator:
    with simulated_envs(
        opensearch_url,
        unique_name,
        tmp_path / "work",
        api_key=API_KEY,
        prefix="pw",
        jobs=300,
        seed=5,
    ) as make:
        yield make


class IndexVersions:
    """Evidence that only knows the index's versions (as a re-sync's index read gives them)."""

    def __init__(self, client: OpenSearch, index: str) -> None:
        self.client, self.index = client, index

    def fresh_start(self, doc: dict[str, Any]) -> None:
        pass

    def can_resume(self, doc: dict[str, Any]) -> bool:
        return False

    def start(self, doc: dict[str, Any]) -> None:
        self.client.indices.refresh(index=self.index)

    def known_versions(self, ids: list[str]) -> dict[str, int]:
        return lookup_versions(self.client, self.index, ids)

    def record_ids(self, ids: list[str]) -> None:
        pass


def test_new_versions_are_handed_over_once_per_acknowledged_page_in_feed_order(
    make_env, os_client: OpenSearch
) -> None:
    env = make_env(jobs=300)
    env.run("backfill", "--batch-size", "100")
    changed = env.sim.mutate(update=4, create=3)
    handed: list[tuple[list[str], list[str]]] = []

    def on_new_versions(page: FeedPage, ops: list[IndexOp]) -> None:
        handed.append(([job["id"] for job in page.jobs], [op.id for op in ops]))

    with JoboClient(env.sim.url, API_KEY) as jobo:
        svc = connect(os_client, env.base, jobo, show_progress=False)
        summary = RunSummary(kind="test")
        checkpoint = scan_feed(
            svc,
            SyncSettings(base=env.base, batch_size=100, work_dir=env.work_dir),
            summary,
            key="page-writer-test",
            request=FeedRequest(batch_size=100),
            label="test",
            evidence=IndexVersions(os_client, f"{env.base}-all"),
            on_new_versions=on_new_versions,
        )
    assert checkpoint.completed
    assert len(handed) == summary.pages == 4  # 303 jobs, pages of 100
    feed_order = [i for page_ids, _ops in handed for i in page_ids]
    assert len(feed_order) == len(set(feed_order)) == 303  # each page once, in feed order
    for page_ids, new in handed:
        assert set(new) <= set(page_ids)  # a page hands over its own jobs only
    new_ids = [i for _page, new in handed for i in new]
    assert sorted(new_ids) == sorted(changed["updated"] + changed["created"])
    assert summary.indexed == 7
    assert summary.unchanged == 296
    assert_exact(os_client, env.base, env.sim)
