"""The ``_bulk`` wire format: operations encoded once into NDJSON lines, chunked by count and
bytes, and each item of the answer classified into one outcome.

Pure functions (no client): the writer in :mod:`indexer.store.bulk` sends what these build.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from indexer.store.operations import DeadLetter, DeleteOp, ExpireOp, IndexOp, Operation

# ---------------------------------------------------------------------------------------------
# Item classification (pure; tested over real responses)
# ---------------------------------------------------------------------------------------------

OUTCOME_INDEXED = "indexed"
OUTCOME_UNCHANGED = "unchanged"
OUTCOME_EXPIRED = "expired"
OUTCOME_DELETED = "deleted"
OUTCOME_MISSING = "missing"
OUTCOME_RETRY = "retry"
OUTCOME_REJECTED = "rejected"
OUTCOME_BLOCKED = "blocked"
OUTCOME_INDEX_MISSING = "index_missing"

_KIND_OF_OP = {IndexOp: "index", ExpireOp: "update", DeleteOp: "delete"}
_SUCCESS_OUTCOME = {"index": OUTCOME_INDEXED, "update": OUTCOME_EXPIRED, "delete": OUTCOME_DELETED}


def item_body(item: dict[str, Any]) -> dict[str, Any]:
    """The inner object of one ``items[]`` entry (``{"index": {...}}`` -> ``{...}``)."""
    return next(iter(item.values()))


def describe_error(body: dict[str, Any]) -> str:
    """``type: reason`` of an item error, including the root cause when it differs."""
    error = body.get("error")
    if not isinstance(error, dict):
        return f"status {body.get('status')}: {error or body.get('result', 'no reason given')}"
    text = f"{error.get('type', 'unknown_error')}: {error.get('reason', '')}"
    cause = error.get("caused_by")
    if isinstance(cause, dict):
        text += f" (caused by {cause.get('type')}: {cause.get('reason')})"
    return text


def classify_item(kind: str, item: dict[str, Any]) -> str:
    """The outcome of one bulk item answer for an action of ``kind`` (index, update, delete)."""
    body = item_body(item)
    status = int(body.get("status", 0))
    error = body.get("error")
    error_type = error.get("type", "") if isinstance(error, dict) else ""
    if error_type == "cluster_block_exception":
        return OUTCOME_BLOCKED
    if error_type == "index_not_found_exception":
        return OUTCOME_INDEX_MISSING
    if 200 <= status < 300:
        return OUTCOME_UNCHANGED if body.get("result") == "noop" else _SUCCESS_OUTCOME[kind]
    if status == 409 and kind == "index":
        return OUTCOME_UNCHANGED
    if status == 409:
        return OUTCOME_RETRY  # a concurrent write raced the update; try again
    if status == 404 and kind in ("update", "delete"):
        return OUTCOME_MISSING
    if status == 429 or status >= 500:
        return OUTCOME_RETRY
    return OUTCOME_REJECTED


# ---------------------------------------------------------------------------------------------
# Encoding and chunking
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Encoded:
    op: Operation
    kind: str
    data: bytes


# Expiry keeps the first time a job was seen expired: overlapping sweeps report the same ids again,
# and re-marking them would move ``expired_at`` (and the version) on every run.
_EXPIRE_SCRIPT = (
    "if (ctx._source.status == 'expired') { ctx.op = 'noop' } "
    "else { ctx._source.status = 'expired'; ctx._source.expired_at = params.expired_at }"
)


# The action line of an index operation, filled in without building its dict (what orjson would
# write for {"index": {"_id": ..., "version": ..., "version_type": "external"}}).
_INDEX_LINES = b'{"index":{"_id":%b,"version":%d,"version_type":"external"}}\n%b\n'


def encode_op(op: IndexOp | ExpireOp | DeleteOp) -> Encoded:
    if type(op) is IndexOp:  # the hot path: one formatting, one copy of the document's bytes
        data = _INDEX_LINES % (orjson.dumps(op.id), op.version, orjson.dumps(op.document))
        return Encoded(op, "index", data)
    return _encode_other(op)


def _encode_other(op: IndexOp | ExpireOp | DeleteOp) -> Encoded:
    """Every operation through its action dict (the reference form of :func:`encode_op`)."""
    if isinstance(op, IndexOp):
        action = {"index": {"_id": op.id, "version": op.version, "version_type": "external"}}
        source: bytes | None = orjson.dumps(op.document)
    elif isinstance(op, ExpireOp):
        action = {"update": {"_id": op.id, "retry_on_conflict": 3}}
        source = orjson.dumps(
            {
                "script": {
                    "source": _EXPIRE_SCRIPT,
                    "lang": "painless",
                    "params": {"expired_at": op.expired_at},
                }
            }
        )
    elif isinstance(op, DeleteOp):
        action = {"delete": {"_id": op.id}}
        source = None
    else:
        raise TypeError(f"not a bulk operation: {op!r}")
    data = orjson.dumps(action) + b"\n"
    if source is not None:
        data += source + b"\n"
    return Encoded(op, next(iter(action)), data)


def encode_dead_letter(
    letter: DeadLetter, target_index: str, at: str, run_id: str | None
) -> Encoded:
    """One dead-letter document (mappings/dead-letters.json), ``_id`` = ``<stage>:<job id>``.

    The same job failing again at the same stage replaces its previous dead letter.
    """
    action = {"index": {"_id": f"{letter.stage}:{letter.id or _content_key(letter.raw)}"}}
    document = {
        "id": letter.id,
        "reason": letter.reason,
        "stage": letter.stage,
        "field": letter.field,
        "index": target_index,
        "run_id": run_id,
        "job": letter.raw,
        "at": at,
    }
    data = orjson.dumps(action) + b"\n" + orjson.dumps(document) + b"\n"
    return Encoded(letter, "index", data)


def _content_key(raw: dict[str, Any] | None) -> str:
    """A stable key for a job without an id, so id-less dead letters never overwrite each other."""
    digest = hashlib.sha256(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS, default=str))
    return "no-id-" + digest.hexdigest()[:24]


def chunk_encoded(
    encoded: Iterable[Encoded], *, max_docs: int, max_bytes: int
) -> Iterator[list[Encoded]]:
    """Group encoded operations: at most ``max_docs`` and ``max_bytes`` per chunk.

    An operation larger than ``max_bytes`` on its own goes alone in its chunk.
    """
    chunk: list[Encoded] = []
    size = 0
    for item in encoded:
        if chunk and (len(chunk) >= max_docs or size + len(item.data) > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += len(item.data)
    if chunk:
        yield chunk
