"""Match what runs wrote against the saved searches: each search run on the jobs index, in passes.

A pass covers the job versions written in one window of ``indexed_at``, ``[start, end)``:

1. the jobs index is refreshed (every version in the window is durable: the page writer hands
   over only an ``end`` no page still being written can fall before, :class:`WriteClock`);
2. each saved search's own match part (:func:`indexer.search.match_query`, the definition
   ``search`` runs), on active jobs, narrowed to the window and to versions written at or after
   the search was saved, is run on the write alias (``_msearch``, paged with ``search_after``);
3. the (saved search, job) pairs found are written once (deterministic ids, ``op_type=create``:
   a pass repeated after a crash records nothing twice);
4. only then does the window's end become the next pass's start (the ``alerts`` document of the
   state index). A run that dies before step 4 leaves its window to the next run's first pass,
   so nothing is lost and no job is fetched again for it.

Why search rather than percolate: the node already analysed every job the bulk write sent. A
percolator analyses each job a second time, into an in-memory index per request, and builds
each typo-tolerant query's automata once per request: with 100 saved searches that doubled the
node's CPU per job. A pass costs one search per saved search, whatever the number of jobs it
covers, plus the hits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import ConnectionTimeout, TransportError

from indexer.alerts.matches import (
    PASS_STATE_KEY,
    Match,
    MatchIds,
    ensure_matches_index,
    matched_through,
)
from indexer.alerts.saved import SavedSearch, load_all
from indexer.logs import redact
from indexer.retry import RetriesExhaustedError, RetryPolicy, retry_call
from indexer.search import match_query
from indexer.store.layout import IndexNames, read_alias_filter
from indexer.store.once import OnceWriteError, create_once
from indexer.store.state import StateStore, Versioned
from indexer.timestamps import format_timestamp, parse_timestamp, utcnow

log = logging.getLogger("indexer.alerts")

STATE_KEY = PASS_STATE_KEY
PAGE_HITS = 2_000  # hits per saved search per request (search_after pages the rest)
SEARCHES_PER_REQUEST = 50  # saved searches per _msearch
WRITE_BATCH = 5_000  # matches per _bulk: a pass holds at most this many, whatever it finds
# A hit is read from doc values only: no stored document is loaded (not even ``_id``); its
# job id is its sort value.
HIT_FIELDS = ["indexed_at"]
_RETRY = RetryPolicy(max_attempts=5, max_wait=10.0, max_total=60.0)


def _transient(error: BaseException) -> bool:
    if isinstance(error, OSConnectionError | ConnectionTimeout):
        return True
    status = getattr(error, "status_code", None)
    return (
        isinstance(error, TransportError)
        and isinstance(status, int)
        and (status == 429 or status >= 500)
    )


def window_query(search: SavedSearch, start: str, end: str) -> dict[str, Any]:
    """The jobs ``search`` matches among the versions written in ``[start, end)`` at or after it
    was saved (active jobs only, as the read alias)."""
    since = max(parse_timestamp(start), parse_timestamp(search.saved_at))
    written = {"range": {"indexed_at": {"gte": format_timestamp(since), "lt": end}}}
    return {"bool": {"filter": [read_alias_filter(), written, match_query(search.query)]}}


@dataclass
class PassReport:
    """What one pass did."""

    start: str
    end: str
    searches: int = 0
    matches: int = 0  # pairs found (new ones and ones a repeated pass had recorded)
    recorded: int = 0  # of ``matches``: written now


class Matcher:
    """Runs passes for the index base ``names``; see the module docstring. ``run_id()`` names
    the run a match is recorded under."""

    def __init__(
        self,
        client: OpenSearch,
        names: IndexNames,
        *,
        run_id: Callable[[], str | None] = lambda: None,
        policy: RetryPolicy = _RETRY,
    ) -> None:
        self.client = client
        self.names = names
        self.run_id = run_id
        self.policy = policy
        self.state = StateStore(client, names.state)

    def matched_through(self) -> str | None:
        """The end of the last completed pass (None before the first)."""
        return matched_through(self.client, self.names)

    def run_pass(self, end: datetime) -> PassReport | None:
        """Match the versions written from the last pass's end up to ``end``; None when there is
        nothing to cover (``end`` not after it)."""
        stored = self.state.load(STATE_KEY)
        end_text = format_timestamp(end)
        start = stored.doc.get("matched_through") if stored else None
        if start is not None and parse_timestamp(start) >= parse_timestamp(end_text):
            return None
        searches = load_all(self.client, self.names)
        # Before the first pass, no search can have a match to miss earlier than its saving.
        start = start or min((s.saved_at for s in searches), default=end_text)
        report = PassReport(start, end_text, searches=len(searches))
        if searches:
            ensure_matches_index(self.client, self.names)
            self._call(lambda: self.client.indices.refresh(index=self.names.write_alias))
            batch: list[tuple[str, str, dict[str, Any]]] = []
            for chunk in _chunks(searches, SEARCHES_PER_REQUEST):
                for ident, body in self._matches(chunk, start, end_text):
                    batch.append((self.names.alert_matches, ident, body))
                    if len(batch) >= WRITE_BATCH:
                        self._write(batch, report)
            self._write(batch, report)
        self._store_end(stored, end_text)
        return report

    def _write(self, batch: list[tuple[str, str, dict[str, Any]]], report: PassReport) -> None:
        """Write ``batch`` (index, id, body) once, and empty it."""
        if batch:
            report.recorded += create_once(self.client, batch)
            report.matches += len(batch)
            batch.clear()

    def _store_end(self, stored: Versioned[dict[str, Any]] | None, end: str) -> None:
        value = {**(stored.doc if stored else {}), "matched_through": end}
        self.state.save(STATE_KEY, value, expected=stored, kind="alerts")

    def _matches(
        self, searches: Sequence[SavedSearch], start: str, end: str
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every match (id, body) of ``searches`` in the window: one ``_msearch`` per round,
        each search paged on with ``search_after`` until it has no more hits."""
        now = format_timestamp(utcnow())
        run_id = self.run_id()
        after: dict[str, list[Any] | None] = {search.name: None for search in searches}
        by_name = {search.name: search for search in searches}
        match_ids = {search.name: MatchIds(search.name, search.saved_at) for search in searches}
        while after:
            names = list(after)
            lines: list[dict[str, Any]] = []
            for name in names:
                body = {
                    "size": PAGE_HITS,
                    "stored_fields": "_none_",
                    "docvalue_fields": HIT_FIELDS,
                    "version": True,
                    "track_total_hits": False,
                    "sort": [{"id": "asc"}],
                    "query": window_query(by_name[name], start, end),
                }
                if after[name] is not None:
                    body["search_after"] = after[name]
                lines.extend(({"index": self.names.write_alias}, body))
            answer = self._call(lambda lines=lines: self.client.msearch(body=lines))
            for name, response in zip(names, answer["responses"], strict=True):
                if "error" in response:
                    raise OnceWriteError(
                        f"could not match the jobs written from {start} to {end} against the "
                        f"saved search {name!r}: {redact(str(response['error']))[:300]}"
                    )
                hits = response["hits"]["hits"]
                search, ids = by_name[name], match_ids[name]
                for hit in hits:
                    match = _match(search, hit, now, run_id)
                    yield ids(match.job_id), match.body()
                if len(hits) < PAGE_HITS:
                    del after[name]
                else:
                    after[name] = hits[-1]["sort"]

    def _call(self, request: Callable[[], Any]) -> Any:
        try:
            return retry_call(request, self.policy, retryable=_transient)
        except RetriesExhaustedError as error:
            raise OnceWriteError(
                f"could not match the written jobs against the saved searches ({error}); check "
                "OpenSearch: the next run matches them (nothing is lost)"
            ) from error


def _match(search: SavedSearch, hit: dict[str, Any], now: str, run_id: str | None) -> Match:
    written = (hit.get("fields") or {}).get("indexed_at") or [now]
    return Match(
        search=search.name,
        search_saved_at=search.saved_at,
        job_id=str(hit["sort"][0]),
        version=int(hit.get("_version") or 0),
        matched_at=now,
        written_at=str(written[0]),
        run_id=run_id,
    )


def _chunks(items: Sequence[SavedSearch], size: int) -> Iterator[Sequence[SavedSearch]]:
    for begin in range(0, len(items), size):
        yield items[begin : begin + size]


class Passes:
    """Passes run off the pipeline's path: one at a time on a helper thread.

    ``request(end)`` starts a pass unless one is running (the next request covers more);
    ``finish(end)`` waits for it, then runs a last pass on the caller's thread. A pass that
    fails is logged and kept in ``error`` (its window stays for the next pass: nothing is lost);
    it never fails the run that wrote the jobs.
    """

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher
        self.matches = 0
        self.recorded = 0
        self.passes = 0
        self.error: str | None = None
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alerts-match")
        self._running: Future[None] | None = None

    def request(self, end: datetime) -> None:
        with self._lock:
            if self._running is not None and not self._running.done():
                return
            self._running = self._pool.submit(self._run, end)

    def finish(self, end: datetime) -> None:
        with self._lock:
            running = self._running
        if running is not None:
            running.result()
        self._run(end)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _run(self, end: datetime) -> None:
        try:
            report = self.matcher.run_pass(end)
        except Exception as exc:  # the window stays: the next pass (or run) covers it
            self.error = redact(f"{type(exc).__name__}: {exc}")
            log.warning("alerts: matching the written jobs failed: %s", self.error)
            return
        if report is None:
            return
        with self._lock:
            self.passes += 1
            self.matches += report.matches
            self.recorded += report.recorded
            self.error = None
        log.info(
            "alerts: %d saved searches, jobs written %s .. %s: %d matches (%d new)",
            report.searches,
            report.start,
            report.end,
            report.matches,
            report.recorded,
        )
