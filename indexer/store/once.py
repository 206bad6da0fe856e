"""Write documents at most once: ``_bulk`` with ``op_type=create`` under deterministic ids.

The change stream and the alert matches record facts that must appear once whatever happens to
the run that found them (a replay, an overlap, a crash then a resume): each fact has an id derived
from what it says, and a second write of the same id is answered 409, which counts as done. Only
429/5xx items are re-sent (bounded, with backoff, :mod:`indexer.retry`); any other refusal, or
retries that run out, raise :class:`OnceWriteError` so the caller does not acknowledge what it
could not record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson
from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import ConnectionTimeout, TransportError

from indexer.errors import ExitCode, IndexerError, SyncError
from indexer.retry import RetriesExhaustedError, RetryPolicy, retry_call

_NDJSON = {"content-type": "application/x-ndjson"}
# Bounded in time: a page's records that cannot be written within a minute fail the run (exit
# 6, the page unacknowledged), and the next run records them.
_RETRY = RetryPolicy(max_attempts=6, max_wait=10.0, max_total=60.0)


class OnceWriteError(SyncError):
    """Facts could not be recorded; what they describe must not be acknowledged either."""

    exit_code = ExitCode.OPENSEARCH_FAILED


class _RetryableError(IndexerError):
    pass


FACT_ID_LENGTH = 40


def fact_text(*parts: object) -> str:
    """What a fact's id hashes: its parts, separated by the unit separator."""
    return "\x1f".join(str(part) for part in parts)


def fact_id(*parts: object) -> str:
    """A deterministic document id for the fact made of ``parts``."""
    return hashlib.sha256(fact_text(*parts).encode("utf-8")).hexdigest()[:FACT_ID_LENGTH]


def create_once(
    client: OpenSearch,
    documents: Sequence[tuple[str, str, dict[str, Any]]],
    *,
    policy: RetryPolicy = _RETRY,
) -> int:
    """Create each ``(index, id, body)`` unless it exists (one ``_bulk`` for all of them);
    returns how many were new."""
    pending = list(documents)
    created = 0

    def attempt() -> None:
        nonlocal pending, created
        if not pending:
            return
        lines = b"".join(
            orjson.dumps({"create": {"_index": index, "_id": ident}})
            + b"\n"
            + orjson.dumps(body)
            + b"\n"
            for index, ident, body in pending
        )
        try:
            answer = client.transport.perform_request("POST", "/_bulk", body=lines, headers=_NDJSON)
        except (OSConnectionError, ConnectionTimeout) as error:
            raise _RetryableError(f"{type(error).__name__}: {error}") from error
        except TransportError as error:
            status = error.status_code if isinstance(error.status_code, int) else 0
            if status == 429 or status >= 500:
                raise _RetryableError(f"HTTP {error.status_code}: {error.error}") from error
            raise OnceWriteError(
                f"could not record {len(pending)} documents: HTTP {error.status_code} "
                f"{error.error}; fix the cause, then re-run: the run resumes and records them"
            ) from error
        again: list[tuple[str, str, dict[str, Any]]] = []
        for (index, ident, body), item in zip(pending, answer.get("items", []), strict=True):
            result = item["create"]
            status = int(result.get("status", 0))
            if 200 <= status < 300:
                created += 1
            elif status == 409:
                continue  # recorded before: that is the point
            elif status == 429 or status >= 500:
                again.append((index, ident, body))
            else:
                raise OnceWriteError(
                    f"{index!r} refused document {ident}: {result.get('error')}; fix the index "
                    "(mapping, block, disk), then re-run: the run resumes and records it"
                )
        pending = again
        if pending:
            raise _RetryableError(f"{len(pending)} items answered 429/5xx")

    try:
        retry_call(attempt, policy, retryable=lambda error: isinstance(error, _RetryableError))
    except RetriesExhaustedError as error:
        raise OnceWriteError(
            f"could not record {len(pending)} documents ({error}). Check that OpenSearch is "
            "up and healthy (GET /_cluster/health), then re-run the same command: it resumes "
            "from the last stored checkpoint and records are written once"
        ) from error
    return created


def ensure_index(client: OpenSearch, index: str, body: dict[str, Any]) -> bool:
    """Create ``index`` with ``body`` unless it exists (racing creators both succeed)."""
    # One replica wherever there is a second node (none on a single node): the alerts' and the
    # change stream's indices must survive the loss of one node, as the jobs index does.
    settings = body.setdefault("settings", {})
    index_settings = settings.get("index", settings)  # nested or flat settings
    index_settings.pop("number_of_replicas", None)
    index_settings["auto_expand_replicas"] = "0-1"
    if client.indices.exists(index=index):
        return False
    try:
        client.indices.create(index=index, body=body)
    except TransportError as error:
        if "resource_already_exists_exception" not in str(error.error):
            raise
        return False
    return True
