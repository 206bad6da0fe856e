"""The bulk writer: chunked ``_bulk`` requests with per-item outcomes and item-level retries.

Why not ``opensearchpy.helpers``: ``streaming_bulk`` retries only 429 items and ``parallel_bulk``
never retries; neither tells a version conflict ("already newer or equal") from a real failure.
This writer:

- encodes every action and source line once (orjson) and chunks by count and by bytes;
- sends the bytes as they are, straight through one of the client's connections, and parses the
  answer with orjson;
- classifies every item: written, ``unchanged`` (409 under external versioning, or an update that
  was a noop), ``missing`` (404 on expire/delete), retryable (429 and 5xx: only those items are
  re-sent, with bounded jittered exponential backoff) or rejected (dead-lettered with its raw job);
- retries a whole request only when the request itself failed (connection error, timeout, 429/5xx
  on ``_bulk``), honouring ``Retry-After``; writes are idempotent, so re-sending is safe;
- never retries a block: a ``cluster_block_exception`` raises :class:`IndexBlockedError` at once.

One ``BulkWriter`` holds only configuration; every ``write`` call builds its own result, so one
writer can be shared by several threads (the client's connection pool is thread-safe).
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import quote

import orjson
from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import ConnectionTimeout

from indexer.timestamps import now_iso

__all__ = [
    "BulkResult",
    "BulkWriteError",
    "BulkWriter",
    "DeadLetter",
    "DeadLetterWriteError",
    "DeleteOp",
    "ErrorBudget",
    "ExpireOp",
    "IndexBlockedError",
    "IndexOp",
    "Operation",
    "classify_item",
]

ERROR_SAMPLES_KEPT = 20
RETRYABLE_REQUEST_STATUSES = frozenset({429, 502, 503, 504})
_ALL_ERROR_STATUSES = range(300, 600)
_NDJSON = {"content-type": "application/x-ndjson"}


# ---------------------------------------------------------------------------------------------
# Operations (plain data)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndexOp:
    """Index ``document`` under ``id`` with external version ``version`` (updated_at in ms).

    ``raw`` is the original job as received, kept only for the dead letter if the node rejects
    the document.
    """

    id: str
    version: int
    document: dict[str, Any]
    raw: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ExpireOp:
    """Mark a job expired: a scripted update setting ``status: expired`` and ``expired_at``.

    The update bumps the internal version by one, so a replay of the same ``updated_at`` then
    conflicts (stays expired) while a repost with a newer ``updated_at`` wins. Expiring a job that
    is already expired is a noop (``unchanged``) that keeps its first ``expired_at``, so the
    version moves at most once per expiry (a repost 1 ms newer than the last version would
    conflict; reposts stamp a new ``updated_at`` well past that).
    """

    id: str
    expired_at: str


@dataclass(frozen=True, slots=True)
class DeleteOp:
    """Delete the document (a 404 counts as ``missing``)."""

    id: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A job rejected before indexing (for example by the transform), written to the dead letters.

    ``stage`` names where it failed ("transform", "index", ...); ``raw`` is the job as received;
    ``field`` optionally names the offending field.
    """

    id: str
    reason: str
    stage: str
    raw: dict[str, Any] | None = None
    field: str | None = None


Operation = IndexOp | ExpireOp | DeleteOp | DeadLetter


# ---------------------------------------------------------------------------------------------
# Results, budget and errors
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorBudget:
    """How many rejected items a run tolerates before the caller stops it.

    Exceeded when at least ``min_failures`` items failed AND they are more than ``max_fraction``
    of the items OpenSearch answered for.
    """

    max_fraction: float = 0.01
    min_failures: int = 10


@dataclass(slots=True)
class BulkResult:
    """Counts of one or more ``write`` calls.

    - ``indexed``: documents created or replaced (IndexOp 200/201).
    - ``unchanged``: version conflicts under external versioning (the stored document is newer or
      equal) and updates that changed nothing (expiring an already expired document).
    - ``expired``, ``deleted``: ExpireOp / DeleteOp applied.
    - ``missing``: ExpireOp / DeleteOp for a document that does not exist.
    - ``dead_lettered``: operations that ended in the dead-letter index: transform rejects
      (DeadLetter ops), item errors such as mapper_parsing_exception, and exhausted retries.
    - ``failed``: the subset of ``dead_lettered`` whose retries (429/5xx) were exhausted.
    - ``retries``: retry requests sent (whole-request retries plus item-retry rounds).
    - ``retried_items``: items re-sent by item-level retries (counted once per re-send).
    - ``bytes_sent``, ``requests``: ``_bulk`` bodies sent, including retries and dead letters.
    - ``error_samples``: the first few error reasons (at most 20), for run records and logs.
    """

    indexed: int = 0
    unchanged: int = 0
    expired: int = 0
    deleted: int = 0
    missing: int = 0
    dead_lettered: int = 0
    failed: int = 0
    retries: int = 0
    retried_items: int = 0
    bytes_sent: int = 0
    requests: int = 0
    error_samples: list[str] = field(default_factory=list)

    @property
    def acknowledged(self) -> int:
        """Operations with a final outcome (OpenSearch answered for each of them)."""
        return (
            self.indexed
            + self.unchanged
            + self.expired
            + self.deleted
            + self.missing
            + self.dead_lettered
        )

    def merge(self, other: BulkResult) -> BulkResult:
        """Add ``other``'s counts into this result (in place) and return this result."""
        for spec in fields(self):
            if spec.name == "error_samples":
                room = ERROR_SAMPLES_KEPT - len(self.error_samples)
                self.error_samples.extend(other.error_samples[: max(room, 0)])
            else:
                setattr(self, spec.name, getattr(self, spec.name) + getattr(other, spec.name))
        return self

    def exceeds(self, budget: ErrorBudget) -> bool:
        """True when the dead-lettered items exceed the error budget."""
        failures = self.dead_lettered
        if failures < budget.min_failures:
            return False
        return failures > budget.max_fraction * max(self.acknowledged, 1)

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain dict (for run records), without the error samples."""
        counts = {spec.name: getattr(self, spec.name) for spec in fields(self)}
        counts.pop("error_samples")
        counts["acknowledged"] = self.acknowledged
        return counts

    def _note_error(self, message: str) -> None:
        if len(self.error_samples) < ERROR_SAMPLES_KEPT:
            self.error_samples.append(message)


class BulkWriteError(RuntimeError):
    """A bulk write could not complete. ``result`` holds what was acknowledged before."""

    def __init__(self, message: str, result: BulkResult | None = None) -> None:
        super().__init__(message)
        self.result = result if result is not None else BulkResult()


class IndexBlockedError(BulkWriteError):
    """The target index (or the cluster) has a write block; retrying cannot help."""

    def __init__(self, index: str, reason: str, result: BulkResult | None = None) -> None:
        self.index = index
        self.reason = reason
        message = (
            f"index {index!r} refuses writes: {reason}. Nothing more was written. Lift the block, "
            f"then re-run: for a manual block run PUT /{index}/_settings "
            '{"index.blocks.write": null} (or "index.blocks.read_only": null); for the disk '
            "flood-stage block (read_only_allow_delete) free disk space first, then PUT "
            f'/{index}/_settings {{"index.blocks.read_only_allow_delete": null}}.'
        )
        super().__init__(message, result)


class DeadLetterWriteError(BulkWriteError):
    """Dead letters could not be stored; they are never dropped silently."""


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
class _Encoded:
    op: Operation
    kind: str
    data: bytes


# Expiry keeps the first time a job was seen expired: overlapping sweeps report the same ids again,
# and re-marking them would move ``expired_at`` (and the version) on every run.
_EXPIRE_SCRIPT = (
    "if (ctx._source.status == 'expired') { ctx.op = 'noop' } "
    "else { ctx._source.status = 'expired'; ctx._source.expired_at = params.expired_at }"
)


def _encode(op: IndexOp | ExpireOp | DeleteOp) -> _Encoded:
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
    return _Encoded(op, next(iter(action)), data)


def _encode_dead_letter(
    letter: DeadLetter, target_index: str, at: str, run_id: str | None
) -> _Encoded:
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
    return _Encoded(letter, "index", data)


def _content_key(raw: dict[str, Any] | None) -> str:
    """A stable key for a job without an id, so id-less dead letters never overwrite each other."""
    digest = hashlib.sha256(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS, default=str))
    return "no-id-" + digest.hexdigest()[:24]


def chunk_encoded(
    encoded: Iterable[_Encoded], *, max_docs: int, max_bytes: int
) -> Iterator[list[_Encoded]]:
    """Group encoded operations: at most ``max_docs`` and ``max_bytes`` per chunk.

    An operation larger than ``max_bytes`` on its own goes alone in its chunk.
    """
    chunk: list[_Encoded] = []
    size = 0
    for item in encoded:
        if chunk and (len(chunk) >= max_docs or size + len(item.data) > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += len(item.data)
    if chunk:
        yield chunk


# ---------------------------------------------------------------------------------------------
# The writer
# ---------------------------------------------------------------------------------------------


class _RequestFailedError(Exception):
    """One ``_bulk`` request failed as a whole; ``retryable`` says whether to try again."""

    def __init__(self, description: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(description)
        self.description = description
        self.retryable = retryable
        self.retry_after = retry_after


class BulkWriter:
    """Writes operations to ``index`` (an index or a write alias) through ``_bulk``.

    ``max_retries`` bounds both whole-request retries (per request) and item-retry rounds (per
    chunk). ``sleep`` is injectable so callers can observe or shorten waits. ``refresh`` is passed
    to ``_bulk`` (False, True or "wait_for"). ``timeout`` is the ``_bulk`` ``timeout`` parameter:
    how long a shard operation waits for an unavailable shard before it answers 503. ``run_id``
    is stored in each dead letter.
    """

    def __init__(
        self,
        client: OpenSearch,
        *,
        index: str,
        dead_letter_index: str | None,
        max_docs: int = 500,
        max_bytes: int = 5 * 1024 * 1024,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        refresh: bool | str = False,
        timeout: str | None = None,
        run_id: str | None = None,
    ) -> None:
        if max_docs < 1 or max_bytes < 1 or max_retries < 0:
            raise ValueError(
                f"max_docs ({max_docs}) and max_bytes ({max_bytes}) must be >= 1 and "
                f"max_retries ({max_retries}) >= 0"
            )
        self.client = client
        self.index = index
        self.dead_letter_index = dead_letter_index
        self.max_docs = max_docs
        self.max_bytes = max_bytes
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.sleep = sleep
        self.refresh = refresh
        self.timeout = timeout
        self.run_id = run_id
        self._random = random.Random()
        self._random_lock = threading.Lock()

    # -- public ---------------------------------------------------------------------------------

    def write(self, ops: Iterable[Operation]) -> BulkResult:
        """Send ``ops`` in chunks; return the counts. Raises BulkWriteError / IndexBlockedError."""
        result = BulkResult()
        letters: list[DeadLetter] = []
        for chunk in chunk_encoded(
            self._encode_all(ops, letters), max_docs=self.max_docs, max_bytes=self.max_bytes
        ):
            self._write_chunk(chunk, result, letters)
            self._flush_dead_letters(letters, result)
        self._flush_dead_letters(letters, result)
        return result

    # -- chunks ---------------------------------------------------------------------------------

    def _encode_all(
        self, ops: Iterable[Operation], letters: list[DeadLetter]
    ) -> Iterator[_Encoded]:
        for op in ops:
            if isinstance(op, DeadLetter):
                letters.append(op)
            else:
                yield _encode(op)

    def _write_chunk(
        self, chunk: list[_Encoded], result: BulkResult, letters: list[DeadLetter]
    ) -> None:
        answers = self._send_with_item_retries(chunk, self._path(self.index), result)
        blocked: str | None = None
        for encoded, item in answers:
            outcome = classify_item(encoded.kind, item)
            if outcome == OUTCOME_BLOCKED:
                blocked = describe_error(item_body(item))
            elif outcome == OUTCOME_INDEX_MISSING:
                raise BulkWriteError(
                    f"index {self.index!r} does not exist ({describe_error(item_body(item))}); "
                    f"{result.acknowledged} items were acknowledged before. Create the index and "
                    "its aliases first (the schema setup command), then re-run.",
                    result,
                )
            else:
                self._count(encoded, item, outcome, result, letters)
        if blocked is not None:
            self._flush_dead_letters(letters, result)
            raise IndexBlockedError(self.index, blocked, result)

    def _count(
        self,
        encoded: _Encoded,
        item: dict[str, Any],
        outcome: str,
        result: BulkResult,
        letters: list[DeadLetter],
    ) -> None:
        if outcome in (OUTCOME_RETRY, OUTCOME_REJECTED):
            reason = describe_error(item_body(item))
            if outcome == OUTCOME_RETRY:
                reason = f"retries exhausted: {reason}"
                result.failed += 1
            result._note_error(f"{encoded.op.id}: {reason}")
            raw = encoded.op.raw if isinstance(encoded.op, IndexOp) else None
            letters.append(DeadLetter(encoded.op.id, reason, "index", raw))
            return
        setattr(result, outcome, getattr(result, outcome) + 1)

    def _flush_dead_letters(self, letters: list[DeadLetter], result: BulkResult) -> None:
        if not letters:
            return
        if self.dead_letter_index is None:
            raise DeadLetterWriteError(
                f"{len(letters)} operations were rejected (first: {letters[0].id}: "
                f"{letters[0].reason}) but this writer has no dead-letter index; configure one "
                "so rejected jobs are kept, then re-run.",
                result,
            )
        at = now_iso()
        encoded = [_encode_dead_letter(letter, self.index, at, self.run_id) for letter in letters]
        path = self._path(self.dead_letter_index)
        for chunk in chunk_encoded(encoded, max_docs=self.max_docs, max_bytes=self.max_bytes):
            for done, item in self._send_with_item_retries(chunk, path, result):
                body = item_body(item)
                if not 200 <= int(body.get("status", 0)) < 300:
                    raise DeadLetterWriteError(
                        f"could not store the dead letter for job {done.op.id!r} in index "
                        f"{self.dead_letter_index!r}: {describe_error(body)}; "
                        f"{result.acknowledged} items were acknowledged before. Fix the "
                        "dead-letter index (mapping, block, disk), then re-run.",
                        result,
                    )
                result.dead_lettered += 1
                if isinstance(done.op, DeadLetter) and done.op.stage != "index":
                    result._note_error(f"{done.op.id}: {done.op.stage}: {done.op.reason}")
        letters.clear()

    # -- requests -------------------------------------------------------------------------------

    def _send_with_item_retries(
        self, chunk: list[_Encoded], path: str, result: BulkResult
    ) -> list[tuple[_Encoded, dict[str, Any]]]:
        """Send ``chunk``; re-send only items answered 429/5xx, up to ``max_retries`` rounds.

        Returns every operation with its last answer (a still-retryable answer means exhausted).
        """
        final: list[tuple[_Encoded, dict[str, Any]]] = []
        pending = chunk
        for round_number in range(self.max_retries + 1):
            items = self._send(pending, path, result)
            retry: list[_Encoded] = []
            for encoded, item in zip(pending, items, strict=True):
                wants_retry = classify_item(encoded.kind, item) == OUTCOME_RETRY
                if wants_retry and round_number < self.max_retries:
                    retry.append(encoded)
                else:
                    final.append((encoded, item))
            if not retry:
                break
            self.sleep(self._backoff(round_number))
            result.retries += 1
            result.retried_items += len(retry)
            pending = retry
        return final

    def _send(self, chunk: list[_Encoded], path: str, result: BulkResult) -> list[dict[str, Any]]:
        """POST one body, retrying the whole request on connection errors, timeouts, 429/5xx."""
        body = b"".join(encoded.data for encoded in chunk)
        for attempt in range(self.max_retries + 1):
            result.requests += 1
            result.bytes_sent += len(body)
            try:
                items = self._post(path, body)
            except IndexBlockedError as blocked:
                raise IndexBlockedError(blocked.index, blocked.reason, result) from None
            except _RequestFailedError as failure:
                if not failure.retryable or attempt == self.max_retries:
                    raise BulkWriteError(
                        f"bulk request to {path} failed after {attempt + 1} attempt(s): "
                        f"{failure.description}. {result.acknowledged} items were acknowledged "
                        f"before; this chunk of {len(chunk)} items has no confirmed outcome. Check "
                        "that OpenSearch is up and healthy (GET /_cluster/health), then re-run the "
                        "same command: writes are idempotent (external versioning), so nothing is "
                        "duplicated.",
                        result,
                    ) from failure
                delay = self._backoff(attempt)
                if failure.retry_after is not None:
                    delay = max(delay, min(failure.retry_after, self.backoff_max))
                self.sleep(delay)
                result.retries += 1
                continue
            if len(items) != len(chunk):
                raise BulkWriteError(
                    f"bulk request to {path} answered {len(items)} items for {len(chunk)} sent; "
                    "the outcome of this chunk is unknown. Re-run the same command.",
                    result,
                )
            return items
        raise AssertionError("unreachable")  # pragma: no cover

    def _post(self, path: str, body: bytes) -> list[dict[str, Any]]:
        transport = self.client.transport
        connection = transport.get_connection()
        try:
            status, headers, raw = connection.perform_request(
                "POST", path, self._params(), body, headers=_NDJSON, ignore=_ALL_ERROR_STATUSES
            )
        except (OSConnectionError, ConnectionTimeout) as error:
            transport.mark_dead(connection)
            raise _RequestFailedError(f"{type(error).__name__}: {error}", retryable=True) from error
        transport.connection_pool.mark_live(connection)
        answer = _loads(raw)
        if 200 <= status < 300:
            return list(answer.get("items", [])) if isinstance(answer, dict) else []
        error = answer.get("error") if isinstance(answer, dict) else None
        description = f"HTTP {status}: {_request_error_text(error, raw)}"
        if isinstance(error, dict) and error.get("type") == "cluster_block_exception":
            index = path.strip("/").split("/")[0]
            raise IndexBlockedError(index, str(error.get("reason")))
        retry_after = _retry_after_seconds(headers)
        retryable = status in RETRYABLE_REQUEST_STATUSES or status >= 500
        raise _RequestFailedError(description, retryable=retryable, retry_after=retry_after)

    def _params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        if self.refresh:
            params["refresh"] = "true" if self.refresh is True else str(self.refresh)
        if self.timeout:
            params["timeout"] = self.timeout
        return params

    def _path(self, index: str) -> str:
        return f"/{quote(index, safe='')}/_bulk"

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff capped at ``backoff_max``, with jitter in [half, full]."""
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        with self._random_lock:
            return ceiling / 2 + self._random.uniform(0, ceiling / 2)


def _loads(raw: Any) -> Any:
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"error": str(raw)[:500]}


def _request_error_text(error: Any, raw: Any) -> str:
    if isinstance(error, dict):
        return f"{error.get('type')}: {error.get('reason')}"
    return str(error if error is not None else raw)[:500]


def _retry_after_seconds(headers: Any) -> float | None:
    value = headers.get("retry-after") or headers.get("Retry-After") if headers else None
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None
