"""The id scan on the real node: order, completeness, doc values, filters, the PIT's lifetime."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opensearchpy import OpenSearch

from indexer.progress import Progress
from indexer.store.bulk import BulkWriter, IndexOp
from indexer.store.scan import (
    PointInTimeUnavailableError,
    iter_index_ids,
    iter_index_pages,
    lookup_versions,
)
from indexer.sync.index_read import IndexRead, IndexReadError
from indexer.sync.resync_spill import ResyncSpill

pytestmark = pytest.mark.integration

INDEX_BODY = {
    "settings": {"number_of_shards": 2, "number_of_replicas": 0, "refresh_interval": "-1"},
    "mappings": {
        "dynamic": "strict",
        "properties": {
            "id": {"type": "keyword"},
            "updated_at": {"type": "date"},
            "status": {"type": "keyword"},
            "indexed_at": {"type": "date"},
        },
    },
}
UNUSUAL_IDS = ["ABC", "abc", "Zebra", "zebra", "é", "É", "日本語", "ß", "😀", "0", "-x", "a b"]


def fill(client: OpenSearch, index: str, ids: list[str]) -> None:
    def op(number: int, job_id: str) -> IndexOp:
        document = {
            "id": job_id,
            "updated_at": 1_700_000_000_000 + number,
            "status": "expired" if number % 10 == 0 else "active",
            "indexed_at": "2025-01-01T00:00:00Z",
        }
        return IndexOp(job_id, 1, document)

    result = BulkWriter(client, index=index, dead_letter_index=None, max_docs=5000).write(
        op(n, job_id) for n, job_id in enumerate(ids)
    )
    assert result.indexed == len(ids)
    client.indices.refresh(index=index)


def open_pits(client: OpenSearch) -> set[str]:
    return {pit["pit_id"] for pit in client.get_all_pits().get("pits", [])}


@pytest.fixture(scope="module")
def big_index(os_client: OpenSearch) -> Iterator[tuple[str, list[str]]]:
    """20,000 documents: uuids (some upper-cased) and a few unusual ids."""
    name = f"test-scan-{uuid.uuid4().hex[:10]}"
    rng = random.Random(42)
    ids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(20_000 - len(UNUSUAL_IDS))]
    ids = [i.upper() if n % 7 == 0 else i for n, i in enumerate(ids)] + UNUSUAL_IDS
    os_client.indices.create(index=name, body=INDEX_BODY)
    try:
        fill(os_client, name, ids)
        yield name, ids
    finally:
        os_client.indices.delete(index=name, ignore_unavailable=True)


def test_scan_yields_every_id_once_in_sorted_order_and_deletes_its_pit(
    os_client: OpenSearch, big_index: tuple[str, list[str]]
) -> None:
    name, ids = big_index
    before = open_pits(os_client)
    scan = iter_index_ids(os_client, name, page_size=3000)
    first = next(scan)
    during = open_pits(os_client) - before
    scanned = [first, *scan]

    assert [entry.id for entry in scanned] == sorted(ids)
    assert len(during) == 1
    assert not (during & open_pits(os_client))
    by_id = {entry.id: entry for entry in scanned}
    assert by_id["ABC"].status in {"active", "expired"}
    assert by_id[ids[0]].updated_at == "2023-11-14T22:13:20.000Z"
    assert by_id[ids[0]].indexed_at == "2025-01-01T00:00:00.000Z"


def test_scan_with_a_query_and_an_abandoned_iterator_still_frees_the_pit(
    os_client: OpenSearch, big_index: tuple[str, list[str]]
) -> None:
    name, ids = big_index
    expired = [
        entry.id
        for entry in iter_index_ids(
            os_client, name, query={"term": {"status": "expired"}}, fields=("status",)
        )
    ]
    assert expired == sorted(job_id for n, job_id in enumerate(ids) if n % 10 == 0)

    before = open_pits(os_client)
    scan = iter_index_ids(os_client, name, page_size=100)
    next(scan)
    assert len(open_pits(os_client) - before) == 1
    scan.close()
    assert not (open_pits(os_client) - before)


def test_index_pages_give_every_document_once_with_its_values_and_free_the_pit(
    os_client: OpenSearch, big_index: tuple[str, list[str]]
) -> None:
    name, ids = big_index
    before = open_pits(os_client)
    fields = ({"field": "updated_at", "format": "epoch_millis"}, "status")
    pages = iter_index_pages(os_client, name, fields=fields, page_size=3000)
    first = next(pages)
    assert len(open_pits(os_client) - before) == 1
    rows = [*first, *(row for page in pages for row in page)]
    assert len(first) == 3000
    assert sorted(row[0] for row in rows) == sorted(ids)  # each once, unusual ids included
    by_id = {row[0]: row[1:] for row in rows}
    assert by_id[ids[0]] == ("1700000000000", "expired")  # n = 0: the first, expired
    assert by_id[ids[1]] == ("1700000000001", "active")
    assert not (open_pits(os_client) - before)

    abandoned = iter_index_pages(os_client, name, fields=(), page_size=100)
    next(abandoned)
    abandoned.close()
    assert not (open_pits(os_client) - before)


def test_the_anti_join_over_the_real_scan_finds_ids_absent_from_the_feed(
    os_client: OpenSearch, big_index: tuple[str, list[str]], tmp_path: Path
) -> None:
    """The index's sort order and the spill's agree on ids that differ only in case or
    accents: the anti-join on disk of a real scan is exactly the set difference."""
    name, ids = big_index
    rng = random.Random(3)
    gone = set(rng.sample(ids, 500)) | {"É", "ABC", "😀"}
    feed = [*(set(ids) - gone), "new-1", "NEW-2", "ü-new"]
    rng.shuffle(feed)
    spill = ResyncSpill(tmp_path / "spill.sqlite")
    read = IndexRead(
        os_client,
        name,
        spill,
        progress=lambda label, total: Progress(label, total=total, enabled=False),
        stop=threading.Event(),
        page_size=1000,
    )
    read.start()
    assert read.finish() is True
    spill.add_feed_ids(feed)
    spill.compute_missing(chunk=700)
    expired = {job_id for n, job_id in enumerate(ids) if n % 10 == 0}  # never candidates
    assert list(spill.missing_ids()) == sorted(gone - expired)


def test_scanning_an_absent_index_says_so(os_client: OpenSearch) -> None:
    with pytest.raises(PointInTimeUnavailableError, match="no-such-index-here"):
        list(iter_index_ids(os_client, "no-such-index-here"))


def test_an_empty_index_yields_nothing(
    os_client: OpenSearch, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("empty")
    os_client.indices.create(index=name, body=INDEX_BODY)
    assert list(iter_index_ids(os_client, name)) == []


def _versions(ids: list[str]) -> dict[str, int]:
    return {job_id: 1_700_000_000_000 + n for n, job_id in enumerate(ids)}


def test_lookup_versions_gives_updated_at_in_ms_of_the_ids_the_index_holds(
    os_client: OpenSearch, big_index: tuple[str, list[str]]
) -> None:
    name, ids = big_index
    asked = [*ids[::7], "not-in-the-index", *UNUSUAL_IDS]  # 2,900 ids: more than one search
    expected = {i: v for i, v in _versions(ids).items() if i in set(asked)}
    assert lookup_versions(os_client, name, asked) == expected
    assert lookup_versions(os_client, name, []) == {}


def test_the_index_read_spills_every_id_with_its_version_and_status(
    os_client: OpenSearch, big_index: tuple[str, list[str]], tmp_path: Path
) -> None:
    name, ids = big_index
    spill = ResyncSpill(tmp_path / "spill.sqlite")
    read = IndexRead(
        os_client,
        name,
        spill,
        progress=lambda label, total: Progress(label, total=total, enabled=False),
        stop=threading.Event(),
        page_size=3000,
    )
    read.start()
    versions = _versions(ids)
    # While it runs, and after: the same answer, from the spill or from the index.
    assert read.known_versions([*ids[:1000], "absent"]) == {i: versions[i] for i in ids[:1000]}
    assert read.finish() is True
    assert spill.index_complete
    assert spill.versions_of(ids) == versions
    active = {job_id for n, job_id in enumerate(ids) if n % 10 != 0}
    assert spill.index_count(active_only=True) == len(active)
    feed = sorted(active)[10:]  # the feed lost ten active ids (and every expired one)
    spill.add_feed_ids(feed)
    assert spill.compute_missing() == 10
    assert list(spill.missing_ids()) == sorted(active)[:10]


def test_a_failed_index_read_refuses_to_reconcile(os_client: OpenSearch, tmp_path: Path) -> None:
    spill = ResyncSpill(tmp_path / "spill.sqlite")
    read = IndexRead(
        os_client,
        "no-such-index-here",
        spill,
        progress=lambda label, total: Progress(label, total=total, enabled=False),
        stop=threading.Event(),
    )
    read.start()
    with pytest.raises(IndexReadError, match="no-such-index-here"):
        read.finish()
    assert not spill.index_complete


def test_a_stopped_index_read_leaves_the_spill_incomplete(
    os_client: OpenSearch, big_index: tuple[str, list[str]], tmp_path: Path
) -> None:
    name, _ids = big_index
    spill = ResyncSpill(tmp_path / "spill.sqlite")
    stop = threading.Event()
    stop.set()
    read = IndexRead(
        os_client,
        name,
        spill,
        progress=lambda label, total: Progress(label, total=total, enabled=False),
        stop=stop,
        page_size=3000,
    )
    read.start()
    assert read.finish() is False
    assert not spill.index_complete
    with pytest.raises(RuntimeError, match="incomplete"):
        spill.compute_missing()
