"""Run records: one document per run in ``<base>-indexer-runs``, what ran, when, how it ended.

Parameter values whose names look secret (api key, token, password, ...) are replaced by
``"***"`` before storing.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import NotFoundError

from indexer.timestamps import format_timestamp, parse_timestamp, utcnow

Clock = Callable[[], datetime]
MAX_ERRORS_KEPT = 50
MAX_ERROR_CHARS = 2000
SECRET_NAME = re.compile(r"(api[_-]?key|secret|passw|token|authori[sz]ation|credential)", re.I)

OUTCOME_RUNNING = "running"
OUTCOME_SUCCESS = "success"
OUTCOME_FAILED = "failed"
OUTCOME_INTERRUPTED = "interrupted"


def redact(params: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``params`` with secret-looking values replaced by ``"***"`` (recursively)."""
    clean: dict[str, Any] = {}
    for name, value in params.items():
        if SECRET_NAME.search(str(name)):
            clean[name] = "***" if value is not None else None
        elif isinstance(value, Mapping):
            clean[name] = redact(value)
        else:
            clean[name] = value
    return clean


class RunRecorder:
    """One document per run in the runs index: what ran, when, how it ended, with what counts.

    Document: ``run_id``, ``kind``, ``params`` (secrets redacted), ``started_at``, ``outcome``
    ("running", then "success" | "failed" | "interrupted" or any word the caller uses), ``host``,
    ``pid``; after ``finish``: ``ended_at``, ``duration_ms``, ``counts`` (dict of numbers),
    ``errors`` (at most 50 strings of at most 2000 characters), ``error_count`` (all of them),
    ``credits_balance``, ``message``, ``exit_code``.
    Writes refresh the index so ``last_runs`` sees them at once (runs are rare).
    """

    def __init__(self, client: OpenSearch, runs_index: str, *, clock: Clock = utcnow) -> None:
        self.client = client
        self.index = runs_index
        self.clock = clock
        self.last_run_id: str | None = None  # the run this recorder started last

    def start(self, kind: str, params: Mapping[str, Any] | None = None) -> str:
        started = self.clock()
        run_id = f"{started.strftime('%Y%m%dT%H%M%S')}-{kind}-{uuid.uuid4().hex[:8]}"
        document = {
            "run_id": run_id,
            "kind": kind,
            "params": redact(params or {}),
            "started_at": format_timestamp(started),
            "outcome": OUTCOME_RUNNING,
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        self.client.index(
            index=self.index,
            id=run_id,
            body=document,
            params={"op_type": "create", "refresh": "true"},
        )
        self.last_run_id = run_id
        return run_id

    def finish(
        self,
        run_id: str,
        outcome: str,
        counts: Mapping[str, Any] | None = None,
        errors: list[str] | None = None,
        credits_balance: float | None = None,
        *,
        message: str | None = None,
        exit_code: int | None = None,
    ) -> dict[str, Any]:
        """Record the end of ``run_id``; returns the complete run document."""
        record = self.get(run_id)
        if record is None:
            raise KeyError(
                f"no run {run_id!r} in index {self.index!r}; start() it first (or check the index)"
            )
        ended = self.clock()
        update = {
            "outcome": outcome,
            "ended_at": format_timestamp(ended),
            "duration_ms": int(
                (ended - parse_timestamp(record["started_at"])).total_seconds() * 1000
            ),
            "counts": dict(counts or {}),
            "errors": [str(error)[:MAX_ERROR_CHARS] for error in (errors or [])[:MAX_ERRORS_KEPT]],
            "error_count": len(errors or []),
            "credits_balance": credits_balance,
            "message": message,
            "exit_code": exit_code,
        }
        self.client.update(
            index=self.index, id=run_id, body={"doc": update}, params={"refresh": "true"}
        )
        return {**record, **update}

    def get(self, run_id: str) -> dict[str, Any] | None:
        try:
            return dict(self.client.get(index=self.index, id=run_id)["_source"])
        except NotFoundError:
            return None

    def last_runs(self, n: int = 10, *, kind: str | None = None) -> list[dict[str, Any]]:
        """The ``n`` most recent runs, newest first (optionally of one kind)."""
        query: dict[str, Any] = {"term": {"kind": kind}} if kind else {"match_all": {}}
        return self._search(query, n)

    def last_successful(self, kind: str) -> dict[str, Any] | None:
        """The most recent run of ``kind`` that finished with outcome "success"."""
        query = {
            "bool": {"filter": [{"term": {"kind": kind}}, {"term": {"outcome": OUTCOME_SUCCESS}}]}
        }
        runs = self._search(query, 1)
        return runs[0] if runs else None

    def _search(self, query: dict[str, Any], size: int) -> list[dict[str, Any]]:
        body = {"query": query, "size": size, "sort": [{"started_at": "desc"}]}
        try:
            answer = self.client.search(index=self.index, body=body)
        except NotFoundError:
            return []
        return [dict(hit["_source"]) for hit in answer["hits"]["hits"]]
