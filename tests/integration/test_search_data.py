"""One index of simulator-world jobs shared by the search, stats and dashboards tests.

``world_index`` (session scope) generates 2,000 jobs with the simulator's deterministic world,
transforms them with ``to_document``, marks every tenth one expired (as the expire flow does) and
bulk-loads them into a layout made by ``schema.init_index`` for a unique base. It also records a
few runs in ``<base>-indexer-runs`` and dead letters in ``<base>-dead-letters`` so the stats and the
sync-health visualisations have data. Everything starting with the base is deleted afterwards.

The other test modules import the fixture from here
(``from tests.integration.test_search_data import world_index``).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from opensearchpy import OpenSearch, helpers

from indexer.simulator.world import FeedQuery, World, wall_clock_ms
from indexer.store.runs import RunRecorder
from indexer.store.schema import IndexNames, index_names, init_index
from indexer.transform import STATUS_EXPIRED, epoch_millis, format_timestamp, to_document

pytestmark = pytest.mark.integration

WORLD_SEED = 20240611
WORLD_JOBS = 2000
EXPIRED_EVERY = 10
DEAD_LETTERS = 3
RUN_KINDS = ("backfill", "sync", "sync", "expire")


@dataclass
class WorldIndex:
    names: IndexNames
    documents: list[dict[str, Any]]  # every document loaded, expired ones included
    indexed_at: datetime

    @property
    def active(self) -> list[dict[str, Any]]:
        return [doc for doc in self.documents if doc["status"] == "active"]

    @property
    def expired_ids(self) -> set[str]:
        return {doc["id"] for doc in self.documents if doc["status"] == STATUS_EXPIRED}


def world_jobs(count: int = WORLD_JOBS, seed: int = WORLD_SEED) -> list[dict[str, Any]]:
    """JobDto dicts of a fresh simulator world anchored now (dates relative to today)."""
    world = World(seed=seed, jobs=count, anchor_ms=wall_clock_ms(), expired_jobs=0)
    page = world.feed_page(FeedQuery(), None, count, with_total=False)
    return [orjson.loads(encoded) for encoded in page.jobs]


def world_documents(indexed_at: datetime) -> list[dict[str, Any]]:
    documents = [to_document(job, indexed_at=indexed_at) for job in world_jobs()]
    for position, doc in enumerate(documents):
        if position % EXPIRED_EVERY == 0:
            doc["status"] = STATUS_EXPIRED
            doc["expired_at"] = format_timestamp(indexed_at)
    return documents


def _load(client: OpenSearch, names: IndexNames, documents: list[dict[str, Any]]) -> None:
    actions = (
        {
            "_op_type": "index",
            "_index": names.write_alias,
            "_id": doc["id"],
            "_source": doc,
            "version": epoch_millis(datetime.fromisoformat(doc["updated_at"])),
            "version_type": "external",
        }
        for doc in documents
    )
    ok, errors = helpers.bulk(client, actions, chunk_size=500, raise_on_error=False)
    assert not errors, errors[:3]
    assert ok == len(documents)


def _record_runs(client: OpenSearch, names: IndexNames) -> None:
    recorder = RunRecorder(client, names.runs)
    for position, kind in enumerate(RUN_KINDS):
        run_id = recorder.start(kind, {"page_size": 500})
        recorder.finish(
            run_id,
            "failed" if position == len(RUN_KINDS) - 1 else "succeeded",
            {  # the numeric fields of the sync flows' RunSummary
                "pages": position + 1,
                "fetched": 100 * (position + 1),
                "indexed": 90 * (position + 1),
                "unchanged": 10,
                "failed": position,
                "dead_lettered": position,
                "duration_s": 1.5 * (position + 1),
            },
            ["simulated failure"] if position == len(RUN_KINDS) - 1 else [],
        )


def _dead_letters(client: OpenSearch, names: IndexNames, now: datetime) -> None:
    for position in range(DEAD_LETTERS):
        client.index(
            index=names.dead_letters,
            id=f"dead-{position}",
            body={
                "id": f"dead-{position}",
                "reason": "field 'updated_at' is missing",
                "stage": "transform",
                "at": format_timestamp(now),
            },
        )
    client.indices.refresh(index=names.dead_letters)


@pytest.fixture(scope="session")
def world_index(os_client: OpenSearch) -> Iterator[WorldIndex]:
    base = f"test-world-{uuid.uuid4().hex[:10]}"
    names = index_names(base)
    indexed_at = datetime.now(UTC) - timedelta(seconds=5)
    try:
        init_index(os_client, base)
        documents = world_documents(indexed_at)
        _load(os_client, names, documents)
        os_client.indices.refresh(index=names.all_alias)
        _record_runs(os_client, names)
        _dead_letters(os_client, names, indexed_at)
        yield WorldIndex(names=names, documents=documents, indexed_at=indexed_at)
    finally:
        os_client.indices.delete(index=f"{base}*", ignore_unavailable=True, expand_wildcards="all")
        os_client.indices.delete_index_template(name=f"{base}*", ignore=[404])


def test_world_index_holds_every_document_and_hides_expired(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    names = world_index.names
    assert os_client.count(index=names.all_alias)["count"] == WORLD_JOBS
    assert os_client.count(index=names.read_alias)["count"] == len(world_index.active)
    assert 0 < len(world_index.expired_ids) < WORLD_JOBS


def most_common_city(world: WorldIndex) -> tuple[str, str]:
    """The (city, country) with the most located jobs, among names only one place carries (a
    shared name such as Portland, Maine and Portland, Oregon is refused as ambiguous by
    --near-city unless the region is named)."""
    counts = Counter(
        (loc["city"], loc["country"])
        for doc in world.active
        for loc in doc["locations"]
        if loc["city"] and loc["point"]
    )
    regions: dict[tuple[str, str], set[str]] = {}
    for doc in world.active:
        for loc in doc["locations"]:
            if loc["city"]:
                regions.setdefault((loc["city"], loc["country"]), set()).add(loc["region"])
    return next(place for place, _ in counts.most_common() if len(regions[place]) == 1)
