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

import math
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote

import orjson
from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import ConnectionTimeout

from indexer.errors import ExitCode, IndexerError
from indexer.retry import RetriesExhaustedError, RetryPolicy, parse_retry_after, retry_call
from indexer.store.bulk_wire import (
    OUTCOME_BLOCKED,
    OUTCOME_INDEX_MISSING,
    OUTCOME_REJECTED,
    OUTCOME_RETRY,
    Encoded,
    chunk_encoded,
    classify_item,
    describe_error,
    encode_dead_letter,
    encode_op,
    item_body,
)
from indexer.store.operations import (
    BulkResult,
    DeadLetter,
    DeleteOp,
    ErrorBudget,
    ExpireOp,
    IndexOp,
    Operation,
)
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
    "ItemObserver",
    "Operation",
    "classify_item",
]

RETRYABLE_REQUEST_STATUSES = frozenset({429, 502, 503, 504})
_ALL_ERROR_STATUSES = range(300, 600)
_NDJSON = {"content-type": "application/x-ndjson"}

#: ``observe(op, outcome, answer)``: one operation's final outcome and its bulk item answer.
ItemObserver = Callable[[Operation, str, dict[str, Any]], None]


class BulkWriteError(IndexerError):
    """A bulk write could not complete. ``result`` holds what was acknowledged before."""

    exit_code = ExitCode.OPENSEARCH_FAILED

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
# The writer
# ---------------------------------------------------------------------------------------------


class _RequestFailedError(IndexerError):
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
        self.retry = RetryPolicy(
            max_attempts=max_retries + 1,
            base_backoff=backoff_base,
            max_wait=backoff_max,
            max_total=math.inf,
            sleep=sleep,
        )
        self.refresh = refresh
        self.timeout = timeout
        self.run_id = run_id

    # -- public ---------------------------------------------------------------------------------

    def write(self, ops: Iterable[Operation], observe: ItemObserver | None = None) -> BulkResult:
        """Send ``ops`` in chunks; return the counts. Raises BulkWriteError / IndexBlockedError.

        ``observe(op, outcome, answer)`` is called with each operation's final outcome (one of
        ``bulk_wire.OUTCOME_*``) and its item answer (``result``, ``_version``, ...): the change
        stream and the alerts learn from it which versions this write created or replaced.
        """
        result = BulkResult()
        letters: list[DeadLetter] = []
        for chunk in chunk_encoded(
            self._encode_all(ops, letters), max_docs=self.max_docs, max_bytes=self.max_bytes
        ):
            self._write_chunk(chunk, result, letters, observe)
            self._flush_dead_letters(letters, result)
        self._flush_dead_letters(letters, result)
        return result

    # -- chunks ---------------------------------------------------------------------------------

    def _encode_all(self, ops: Iterable[Operation], letters: list[DeadLetter]) -> Iterator[Encoded]:
        for op in ops:
            if isinstance(op, DeadLetter):
                letters.append(op)
            else:
                yield encode_op(op)

    def _write_chunk(
        self,
        chunk: list[Encoded],
        result: BulkResult,
        letters: list[DeadLetter],
        observe: ItemObserver | None = None,
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
                if observe is not None:
                    observe(encoded.op, outcome, item_body(item))
        if blocked is not None:
            self._flush_dead_letters(letters, result)
            raise IndexBlockedError(self.index, blocked, result)

    def _count(
        self,
        encoded: Encoded,
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
            result.note_error(f"{encoded.op.id}: {reason}")
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
        encoded = [encode_dead_letter(letter, self.index, at, self.run_id) for letter in letters]
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
                    result.note_error(f"{done.op.id}: {done.op.stage}: {done.op.reason}")
        letters.clear()

    # -- requests -------------------------------------------------------------------------------

    def _send_with_item_retries(
        self, chunk: list[Encoded], path: str, result: BulkResult
    ) -> list[tuple[Encoded, dict[str, Any]]]:
        """Send ``chunk``; re-send only items answered 429/5xx, up to ``max_retries`` rounds.

        Returns every operation with its last answer (a still-retryable answer means exhausted).
        """
        final: list[tuple[Encoded, dict[str, Any]]] = []
        pending = chunk
        for round_number in range(self.max_retries + 1):
            items = self._send(pending, path, result)
            retry: list[Encoded] = []
            for encoded, item in zip(pending, items, strict=True):
                wants_retry = classify_item(encoded.kind, item) == OUTCOME_RETRY
                if wants_retry and round_number < self.max_retries:
                    retry.append(encoded)
                else:
                    final.append((encoded, item))
            if not retry:
                break
            self.retry.sleep(self.retry.backoff(round_number + 1))
            result.retries += 1
            result.retried_items += len(retry)
            pending = retry
        return final

    def _send(self, chunk: list[Encoded], path: str, result: BulkResult) -> list[dict[str, Any]]:
        """POST one body, retrying the whole request on connection errors, timeouts, 429/5xx."""
        body = b"".join(encoded.data for encoded in chunk)
        attempts = 0

        def attempt() -> list[dict[str, Any]]:
            nonlocal attempts
            attempts += 1
            result.requests += 1
            result.bytes_sent += len(body)
            try:
                return self._post(path, body)
            except IndexBlockedError as blocked:
                raise IndexBlockedError(blocked.index, blocked.reason, result) from None

        def count_retry(_attempt: int, _error: BaseException, _wait: float) -> None:
            result.retries += 1

        try:
            items = retry_call(
                attempt,
                self.retry,
                retryable=lambda error: isinstance(error, _RequestFailedError) and error.retryable,
                server_wait=lambda error: getattr(error, "retry_after", None),
                on_retry=count_retry,
            )
        except (_RequestFailedError, RetriesExhaustedError) as error:
            failure = error.last if isinstance(error, RetriesExhaustedError) else error
            raise BulkWriteError(
                f"bulk request to {path} failed after {attempts} attempt(s): "
                f"{failure}. {result.acknowledged} items were acknowledged "
                f"before; this chunk of {len(chunk)} items has no confirmed outcome. Check "
                "that OpenSearch is up and healthy (GET /_cluster/health), then re-run the "
                "same command: writes are idempotent (external versioning), so nothing is "
                "duplicated.",
                result,
            ) from failure
        if len(items) != len(chunk):
            raise BulkWriteError(
                f"bulk request to {path} answered {len(items)} items for {len(chunk)} sent; "
                "the outcome of this chunk is unknown. Re-run the same command.",
                result,
            )
        return items

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
        retry_after = parse_retry_after(_header(headers, "Retry-After"))
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


def _header(headers: Any, name: str) -> str | None:
    """A header by name, whatever mapping (case-insensitive or not) the connection returns."""
    if not headers:
        return None
    return headers.get(name) or headers.get(name.lower())
