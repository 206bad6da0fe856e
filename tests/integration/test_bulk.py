"""The bulk writer on the real node: versions, expiry, dead letters, chunking, retries, blocks.

Every index is made with 0 replicas so the single node stays green.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest
from opensearchpy import OpenSearch

from indexer.store.bulk import (
    BulkResult,
    BulkWriteError,
    BulkWriter,
    DeadLetter,
    DeleteOp,
    ExpireOp,
    IndexBlockedError,
    IndexOp,
)

pytestmark = pytest.mark.integration

JOB_MAPPING = {
    "dynamic": "strict",
    "properties": {
        "id": {"type": "keyword"},
        "updated_at": {"type": "date"},
        "status": {"type": "keyword"},
        "expired_at": {"type": "date"},
        "indexed_at": {"type": "date"},
        "title": {"type": "text"},
        "n": {"type": "integer"},
    },
}
DEAD_LETTER_MAPPING = {
    "dynamic": False,
    "properties": {
        "id": {"type": "keyword"},
        "stage": {"type": "keyword"},
        "at": {"type": "date"},
        "job": {"type": "object", "enabled": False},
    },
}
NO_REPLICAS = {"number_of_shards": 1, "number_of_replicas": 0}
DEAD_LETTER_INDEX = {"settings": NO_REPLICAS, "mappings": DEAD_LETTER_MAPPING}
T0 = 1_700_000_000_000  # an updated_at in epoch ms


def job(job_id: str, version: int, **extra: Any) -> IndexOp:
    document = {"id": job_id, "status": "active", "title": f"job {job_id}", "n": 1, **extra}
    return IndexOp(job_id, version, document, raw={"id": job_id, "from": "feed"})


@pytest.fixture
def indices(os_client: OpenSearch, unique_name: Callable[[str], str]) -> tuple[str, str]:
    jobs = unique_name("bulk")
    letters = f"{jobs}-dead-letters"
    os_client.indices.create(index=jobs, body={"settings": NO_REPLICAS, "mappings": JOB_MAPPING})
    os_client.indices.create(index=letters, body=DEAD_LETTER_INDEX)
    return jobs, letters


def writer(client: OpenSearch, indices: tuple[str, str], **options: Any) -> BulkWriter:
    return BulkWriter(
        client, index=indices[0], dead_letter_index=indices[1], refresh=True, **options
    )


def source(client: OpenSearch, index: str, job_id: str) -> dict[str, Any]:
    return client.get(index=index, id=job_id)["_source"]


def test_external_versions_keep_the_newest(os_client: OpenSearch, indices: tuple[str, str]) -> None:
    bulk = writer(os_client, indices)
    first = bulk.write([job("a", T0, title="first"), job("b", T0)])
    assert (first.indexed, first.unchanged, first.requests) == (2, 0, 1)

    replay = bulk.write([job("a", T0, title="equal"), job("b", T0 - 5, title="older")])
    assert (replay.indexed, replay.unchanged, replay.dead_lettered) == (0, 2, 0)
    assert source(os_client, indices[0], "a")["title"] == "first"

    newer = bulk.write([job("a", T0 + 1000, title="newer")])
    assert (newer.indexed, newer.unchanged) == (1, 0)
    assert source(os_client, indices[0], "a")["title"] == "newer"
    assert newer.acknowledged == 1


def test_expired_stays_expired_on_replay_and_comes_back_on_newer_repost(
    os_client: OpenSearch, indices: tuple[str, str]
) -> None:
    bulk = writer(os_client, indices)
    bulk.write([job("a", T0), job("b", T0)])

    expired = bulk.write(
        [ExpireOp("a", "2024-05-01T00:00:00Z"), ExpireOp("ghost", "2024-05-01T00:00:00Z")]
    )
    assert (expired.expired, expired.missing, expired.dead_lettered) == (1, 1, 0)
    assert source(os_client, indices[0], "a")["status"] == "expired"

    again = bulk.write([ExpireOp("a", "2024-05-01T00:00:00Z")])
    assert (again.expired, again.unchanged) == (0, 1)  # already expired: a noop

    stale = bulk.write([job("a", T0)])
    assert (stale.indexed, stale.unchanged) == (0, 1)
    assert source(os_client, indices[0], "a")["status"] == "expired"

    repost = bulk.write([job("a", T0 + 60_000)])
    assert repost.indexed == 1
    assert source(os_client, indices[0], "a")["status"] == "active"

    deleted = bulk.write([DeleteOp("b"), DeleteOp("b")])
    assert (deleted.deleted, deleted.missing) == (1, 1)


def test_rejected_document_is_dead_lettered_while_the_others_land(
    os_client: OpenSearch, indices: tuple[str, str]
) -> None:
    bulk = writer(os_client, indices, run_id="run-1")
    bad = IndexOp("bad", T0, {"id": "bad", "n": "not a number"}, raw={"id": "bad", "n": "x"})
    unknown = IndexOp("odd", T0, {"id": "odd", "surprise": 1}, raw={"id": "odd"})
    rejected_by_transform = DeadLetter("raw-1", "no updated_at", "transform", {"id": "raw-1"})
    result = bulk.write([job("a", T0), bad, job("b", T0), unknown, rejected_by_transform])

    assert (result.indexed, result.dead_lettered, result.failed) == (2, 3, 0)
    assert result.acknowledged == 5
    assert any("mapper_parsing_exception" in sample for sample in result.error_samples)
    assert os_client.count(index=indices[0])["count"] == 2

    letter = source(os_client, indices[1], "index:bad")
    assert letter["id"] == "bad"
    assert letter["stage"] == "index"
    assert letter["job"] == {"id": "bad", "n": "x"}
    assert letter["reason"].startswith("mapper_parsing_exception")
    assert letter["run_id"] == "run-1"
    assert (
        "strict_dynamic_mapping_exception" in source(os_client, indices[1], "index:odd")["reason"]
    )
    assert source(os_client, indices[1], "transform:raw-1")["reason"] == "no updated_at"


def test_dead_letters_without_a_dead_letter_index_raise(
    os_client: OpenSearch, indices: tuple[str, str]
) -> None:
    bulk = BulkWriter(os_client, index=indices[0], dead_letter_index=None)
    with pytest.raises(BulkWriteError, match="no dead-letter index"):
        bulk.write([IndexOp("bad", T0, {"id": "bad", "n": "x"})])


def test_chunks_by_count_and_by_bytes(os_client: OpenSearch, indices: tuple[str, str]) -> None:
    by_count = writer(os_client, indices, max_docs=10).write(job(str(i), T0) for i in range(25))
    assert (by_count.indexed, by_count.requests) == (25, 3)

    pad = "x" * 2000
    ops = [job(f"p{i}", T0, title=pad) for i in range(6)]
    by_bytes = writer(os_client, indices, max_bytes=5000).write(ops)  # two ~2.2 kB docs a body
    assert (by_bytes.indexed, by_bytes.requests) == (6, 3)

    huge = [job("huge", T0, title="y" * 20_000), job("after", T0)]
    alone = writer(os_client, indices, max_bytes=5000).write(huge)
    assert (alone.indexed, alone.requests) == (2, 2)
    assert os_client.count(index=indices[0])["count"] == 25 + 6 + 2


def _two_shards_one_unassigned(client: OpenSearch, name: str) -> None:
    """A real source of 503 items: one of two primaries cannot be allocated on a single node."""
    settings = {
        "number_of_shards": 2,
        "number_of_replicas": 0,
        "index.routing.allocation.total_shards_per_node": 1,
    }
    client.indices.create(
        index=name,
        body={"settings": settings, "mappings": JOB_MAPPING},
        params={"wait_for_active_shards": "0"},
    )


def test_only_items_answered_503_are_retried(
    os_client: OpenSearch, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("retry")
    letters = f"{name}-dl"
    _two_shards_one_unassigned(os_client, name)
    os_client.indices.create(index=letters, body=DEAD_LETTER_INDEX)
    sleeps: list[float] = []

    def allocate_then_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        os_client.indices.put_settings(
            index=name, body={"index.routing.allocation.total_shards_per_node": -1}
        )
        os_client.cluster.health(index=name, wait_for_status="green")

    bulk = BulkWriter(
        os_client,
        index=name,
        dead_letter_index=letters,
        refresh=True,
        timeout="1s",
        sleep=allocate_then_sleep,
        backoff_base=0.5,
    )
    result = bulk.write(job(f"j{i}", T0) for i in range(40))

    on_second_shard = os_client.count(
        index=name, body={"query": {"match_all": {}}}, params={"preference": "_shards:1"}
    )["count"]
    assert 0 < on_second_shard < 40
    assert result.indexed == 40
    assert (result.requests, result.retries) == (2, 1)
    assert result.retried_items == on_second_shard  # only the failed items were re-sent
    assert len(sleeps) == 1
    assert 0.25 <= sleeps[0] <= 0.5  # jittered within [base/2, base]


def test_items_that_exhaust_retries_are_failed_and_dead_lettered(
    os_client: OpenSearch, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("exhaust")
    letters = f"{name}-dl"
    _two_shards_one_unassigned(os_client, name)
    os_client.indices.create(index=letters, body=DEAD_LETTER_INDEX)
    sleeps: list[float] = []
    bulk = BulkWriter(
        os_client,
        index=name,
        dead_letter_index=letters,
        refresh=True,
        timeout="500ms",
        max_retries=1,
        sleep=sleeps.append,
    )
    result = bulk.write(job(f"j{i}", T0) for i in range(12))

    assert result.failed > 0
    assert result.indexed + result.failed == 12
    assert result.dead_lettered == result.failed
    assert result.retried_items == result.failed
    assert len(sleeps) == 1
    os_client.indices.refresh(index=letters)
    hits = os_client.search(index=letters, body={"size": 20})["hits"]["hits"]
    assert len(hits) == result.failed
    assert all(
        hit["_source"]["reason"].startswith("retries exhausted: unavailable") for hit in hits
    )


class _ForwardOnce:
    """A plain TCP forwarder to the real node, started late on a port that refused at first."""

    def __init__(self, target: str) -> None:
        host, port = target.split("//")[1].split(":")
        self.target = (host, int(port))
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()  # nothing listens there now: connections are refused
        self.server: socket.socket | None = None

    def start(self) -> None:
        self.server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self.server is not None
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source_socket: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source_socket.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source_socket, sink):
                s.close()

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()


def test_whole_request_is_retried_after_a_refused_connection(
    opensearch_url: str, os_client: OpenSearch, indices: tuple[str, str]
) -> None:
    forward = _ForwardOnce(opensearch_url)
    late_client = OpenSearch(hosts=[f"http://127.0.0.1:{forward.port}"], timeout=30)
    sleeps: list[float] = []

    def start_listening(seconds: float) -> None:
        sleeps.append(seconds)
        forward.start()

    try:
        bulk = BulkWriter(
            late_client,
            index=indices[0],
            dead_letter_index=indices[1],
            refresh=True,
            sleep=start_listening,
        )
        result = bulk.write([job("a", T0), job("b", T0)])
    finally:
        forward.stop()
    assert (result.indexed, result.retries, result.requests) == (2, 1, 2)
    assert len(sleeps) == 1
    assert os_client.count(index=indices[0])["count"] == 2


def test_closed_port_exhausts_retries_with_a_clear_error(indices: tuple[str, str]) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    sleeps: list[float] = []
    bulk = BulkWriter(
        OpenSearch(hosts=[f"http://127.0.0.1:{port}"], timeout=5),
        index=indices[0],
        dead_letter_index=indices[1],
        max_retries=3,
        backoff_base=1.0,
        backoff_max=3.0,
        sleep=sleeps.append,
    )
    with pytest.raises(
        BulkWriteError, match=r"failed after 4 attempt\(s\): ConnectionError"
    ) as err:
        bulk.write([job("a", T0)])
    assert "0 items were acknowledged before" in str(err.value)
    assert "re-run the same command" in str(err.value)
    assert err.value.result.requests == 4
    assert len(sleeps) == 3
    assert [0.5 <= sleeps[0] <= 1.0, 1.0 <= sleeps[1] <= 2.0, 1.5 <= sleeps[2] <= 3.0] == [True] * 3


def test_write_block_raises_index_blocked_at_once(
    os_client: OpenSearch, indices: tuple[str, str]
) -> None:
    bulk = writer(os_client, indices, sleep=lambda _: pytest.fail("a block must not be retried"))
    bulk.write([job("a", T0)])
    os_client.indices.put_settings(index=indices[0], body={"index.blocks.write": True})
    try:
        with pytest.raises(IndexBlockedError, match=r"index\.blocks\.write") as err:
            bulk.write([job("b", T0), ExpireOp("a", "2024-05-01T00:00:00Z")])
    finally:
        os_client.indices.put_settings(index=indices[0], body={"index.blocks.write": None})
    assert err.value.index == indices[0]
    assert "FORBIDDEN/8/index write" in str(err.value)
    assert err.value.result.requests == 1


def test_one_writer_shared_by_threads_keeps_separate_results(
    os_client: OpenSearch, indices: tuple[str, str]
) -> None:
    bulk = writer(os_client, indices, max_docs=50)
    results: list[Any] = [None] * 4

    def work(worker: int) -> None:
        ops = [job(f"w{worker}-{i}", T0 + worker) for i in range(300)]
        ops += [job(f"shared-{i}", T0) for i in range(20)]  # every worker also sends these
        results[worker] = bulk.write(ops)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(result.acknowledged == 320 for result in results)
    total = BulkResult()
    for result in results:
        total.merge(result)
    assert total.indexed + total.unchanged == 4 * 320
    assert total.unchanged == 3 * 20  # each shared job lands once, the other three conflict
    assert os_client.count(index=indices[0])["count"] == 4 * 300 + 20
