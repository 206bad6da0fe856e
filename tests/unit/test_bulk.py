"""Pure parts of the bulk writer: item classification over bulk answers captured from the real
OpenSearch 2.19.1 node, chunking, encoding, result arithmetic and the error budget."""

from __future__ import annotations

import orjson
import pytest

from indexer.store.bulk import (
    BulkResult,
    DeleteOp,
    ErrorBudget,
    ExpireOp,
    IndexOp,
    classify_item,
)
from indexer.store.bulk_wire import _encode_other, chunk_encoded, describe_error, encode_op

# Items answered by the local node (see the module docstring): a two-shard index with one shard
# unassigned (503), a strict mapping (400), external versions (409), updates and deletes.
CAPTURED = orjson.loads(
    b"""[
 ["index", {"index":{"_index":"x","_id":"1","_version":5,"result":"created","status":201}},
  "indexed"],
 ["index", {"index":{"_index":"x","_id":"4","status":503,"error":{"type":
  "unavailable_shards_exception","reason":"[x][1] primary shard is not active Timeout: [1s]"}}},
  "retry"],
 ["index", {"index":{"_index":"x","_id":"1","status":409,"error":{"type":
  "version_conflict_engine_exception","reason":"[1]: version conflict, current version [5] is
  higher or equal to the one provided [5]"}}}, "unchanged"],
 ["index", {"index":{"_index":"x","_id":"5","status":400,"error":{"type":
  "mapper_parsing_exception","reason":"failed to parse field [n] of type [integer]","caused_by":
  {"type":"number_format_exception","reason":"For input string: \\"x\\""}}}}, "rejected"],
 ["update", {"update":{"_index":"x","_id":"1","_version":6,"result":"updated","status":200}},
  "expired"],
 ["update", {"update":{"_index":"x","_id":"1","_version":6,"result":"noop","status":200}},
  "unchanged"],
 ["update", {"update":{"_index":"x","_id":"9","status":404,"error":{"type":
  "document_missing_exception","reason":"[9]: document missing"}}}, "missing"],
 ["delete", {"delete":{"_index":"x","_id":"9","_version":1,"result":"not_found","status":404}},
  "missing"],
 ["delete", {"delete":{"_index":"x","_id":"9","_version":2,"result":"deleted","status":200}},
  "deleted"],
 ["index", {"index":{"_index":"x","_id":"1","status":403,"error":{"type":
  "cluster_block_exception","reason":"index [x] blocked by: [FORBIDDEN/8/index write (api)];"}}},
  "blocked"],
 ["update", {"update":{"_index":"x","_id":"1","status":429,"error":{"type":
  "cluster_block_exception","reason":"index [x] blocked by: [TOO_MANY_REQUESTS/12/disk usage
  exceeded flood-stage watermark, index has read-only-allow-delete block];"}}}, "blocked"],
 ["index", {"index":{"_index":"x","_id":"1","status":429,"error":{"type":
  "es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}}},
  "retry"]
]""".replace(b"\n  ", b" ")
)


@pytest.mark.parametrize(("kind", "item", "expected"), CAPTURED)
def test_classify_item_gives_each_answer_its_outcome(kind: str, item: dict, expected: str) -> None:
    assert classify_item(kind, item) == expected


def test_describe_error_names_type_reason_and_cause() -> None:
    body = CAPTURED[3][1]["index"]
    text = describe_error(body)
    assert text.startswith("mapper_parsing_exception: failed to parse field [n]")
    assert "caused by number_format_exception" in text


def test_encoding_is_ndjson_with_external_version_and_scripted_expire() -> None:
    index_lines = encode_op(IndexOp("a", 17, {"id": "a", "title": "é"})).data.splitlines()
    assert orjson.loads(index_lines[0]) == {
        "index": {"_id": "a", "version": 17, "version_type": "external"}
    }
    assert orjson.loads(index_lines[1]) == {"id": "a", "title": "é"}
    expire = encode_op(ExpireOp("a", "2024-05-01T00:00:00Z"))
    assert expire.kind == "update"
    script = orjson.loads(expire.data.splitlines()[1])["script"]
    assert script["params"] == {"expired_at": "2024-05-01T00:00:00Z"}
    assert "ctx.op = 'noop'" in script["source"]  # an expired job keeps its first expired_at
    delete = encode_op(DeleteOp("a"))
    assert delete.data == b'{"delete":{"_id":"a"}}\n'


@pytest.mark.parametrize(
    "op",
    [
        IndexOp(id="a-1", version=1_760_000_000_123, document={"id": "a-1", "title": "Dev"}),
        IndexOp(
            id='quote " back\\slash \u00e9 \U0001f600 \n',
            version=0,
            document={"id": "x", "nested": {"list": [1, 2.5, None, True]}, "text": "ü\u2028"},
        ),
        IndexOp(id="big", version=2**53, document={"description": "x" * 1_000_000}),
    ],
)
def test_index_lines_are_byte_identical_to_the_action_dict_encoding(op: IndexOp) -> None:
    fast, reference = encode_op(op), _encode_other(op)
    assert fast.data == reference.data
    assert fast.kind == reference.kind == "index"
    action, source, end = fast.data.split(b"\n")
    assert orjson.loads(action) == {
        "index": {"_id": op.id, "version": op.version, "version_type": "external"}
    }
    assert orjson.loads(source) == op.document
    assert end == b""


def test_chunks_respect_count_and_bytes_and_a_big_document_goes_alone() -> None:
    small = [encode_op(IndexOp(str(i), 1, {"pad": "x" * 50})) for i in range(7)]
    big = encode_op(IndexOp("big", 1, {"pad": "y" * 1000}))
    assert len(small[0].data) == 121
    ops = [*small[:3], big, *small[3:]]

    by_bytes = list(chunk_encoded(ops, max_docs=3, max_bytes=300))  # two small ones fit in 300
    assert [[e.op.id for e in c] for c in by_bytes] == [
        ["0", "1"],
        ["2"],
        ["big"],
        ["3", "4"],
        ["5", "6"],
    ]
    by_count = list(chunk_encoded(ops, max_docs=3, max_bytes=400))  # three fit: count binds
    assert [[e.op.id for e in c] for c in by_count] == [
        ["0", "1", "2"],
        ["big"],
        ["3", "4", "5"],
        ["6"],
    ]


def test_merge_adds_counts_in_place_and_acknowledged_sums_outcomes() -> None:
    total = BulkResult(indexed=2, unchanged=1, retries=1, error_samples=["a"])
    same = total.merge(BulkResult(expired=3, missing=1, dead_lettered=2, failed=1, requests=4))
    assert same is total
    assert (total.indexed, total.expired, total.failed, total.requests) == (2, 3, 1, 4)
    assert total.acknowledged == 2 + 1 + 3 + 1 + 2
    assert total.as_dict()["acknowledged"] == total.acknowledged


def test_error_budget_needs_both_the_minimum_and_the_fraction() -> None:
    budget = ErrorBudget(max_fraction=0.01, min_failures=10)
    assert not BulkResult(indexed=10, dead_lettered=9).exceeds(budget)  # below the minimum
    assert not BulkResult(indexed=5000, dead_lettered=20).exceeds(budget)  # 0.4 %
    assert BulkResult(indexed=900, dead_lettered=20).exceeds(budget)  # 2.2 %
