"""The alert matches in ``<base>-alert-matches``: one document per (saved search, job) pair.

Id: derived from the search's name, when it was saved and the job id (:func:`match_id`), written
with ``op_type=create`` (:mod:`indexer.store.once`): the first matching version is recorded, and
no replay, overlap, crash or resume can record the pair again. A match records the pair, not the
job: what a reader is shown of the job (title, company, listing URL) is read from the jobs index
when matches are listed or delivered (:func:`with_job_details`), so a matching pass reads no
stored document. ``delivery`` holds the webhook's
side: ``delivered_at`` once a receiver acknowledged it, else ``attempts``, ``failed_at`` and
``last_error`` (redacted) of the deliveries that failed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opensearchpy import OpenSearch, helpers

from indexer.store.layout import ALERT_MATCHES_FILE, IndexNames, load_plain_mapping
from indexer.store.once import FACT_ID_LENGTH, ensure_index, fact_id, fact_text
from indexer.store.state import StateStore
from indexer.timestamps import format_timestamp

MAX_LISTED = 10_000
# The state document (``<base>-indexer-state``) of the matching passes: ``matched_through``, the
# end of the last window matched (:mod:`indexer.alerts.matcher`).
PASS_STATE_KEY = "alerts"


def matched_through(client: OpenSearch, names: IndexNames) -> str | None:
    """The end of the last completed matching pass: every job version written before it has been
    matched (None before the first pass)."""
    stored = StateStore(client, names.state).load(PASS_STATE_KEY)
    return stored.doc.get("matched_through") if stored else None


def match_id(search: str, saved_at: str, job_id: str) -> str:
    return fact_id("match", search, saved_at, job_id)


class MatchIds:
    """:func:`match_id` for one saved search and many jobs: the search's part of the hash is
    computed once (a pass may record tens of thousands of matches)."""

    def __init__(self, search: str, saved_at: str) -> None:
        self._prefix = hashlib.sha256(fact_text("match", search, saved_at, "").encode("utf-8"))

    def __call__(self, job_id: str) -> str:
        digest = self._prefix.copy()
        digest.update(job_id.encode("utf-8"))
        return digest.hexdigest()[:FACT_ID_LENGTH]


@dataclass(slots=True)
class Match:
    """One (saved search, job) pair, as recorded: the first version written after the search
    was saved that matched it."""

    search: str
    search_saved_at: str
    job_id: str
    version: int
    matched_at: str
    written_at: str
    run_id: str | None

    @property
    def id(self) -> str:
        return match_id(self.search, self.search_saved_at, self.job_id)

    def body(self) -> dict[str, Any]:
        return {
            "search": self.search,
            "search_saved_at": self.search_saved_at,
            "job_id": self.job_id,
            "version": self.version,
            "matched_at": self.matched_at,
            "written_at": self.written_at,
            "run_id": self.run_id,
        }


def ensure_matches_index(client: OpenSearch, names: IndexNames) -> bool:
    return ensure_index(
        client, names.alert_matches, load_plain_mapping(ALERT_MATCHES_FILE).index_body()
    )


def list_matches(
    client: OpenSearch,
    names: IndexNames,
    search: str,
    *,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """The matches of ``search``, newest first (``matched_at`` at or after ``since``)."""
    if not client.indices.exists(index=names.alert_matches):
        return []
    client.indices.refresh(index=names.alert_matches)
    filters: list[dict[str, Any]] = [{"term": {"search": search}}]
    if since is not None:
        filters.append({"range": {"matched_at": {"gte": format_timestamp(since)}}})
    answer = client.search(
        index=names.alert_matches,
        body={
            "size": min(limit, MAX_LISTED),
            "query": {"bool": {"filter": filters}},
            "sort": [{"matched_at": "desc"}, {"job_id": "asc"}],
        },
    )
    return with_job_details(client, names, [hit["_source"] for hit in answer["hits"]["hits"]])


JOB_DETAILS = ("title", "company", "listing_url")


def with_job_details(
    client: OpenSearch, names: IndexNames, matches: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``matches`` with the title, company and listing URL of their jobs as the index holds
    them (expired ones included; null for a job deleted since). A match recorded with them (by
    an earlier version) keeps its own."""
    wanted = sorted({m["job_id"] for m in matches if any(k not in m for k in JOB_DETAILS)})
    if not wanted:
        return matches
    answer = client.search(
        index=names.all_alias,
        body={
            "size": len(wanted),
            "query": {"ids": {"values": wanted}},
            "_source": ["title", "company.name", "listing_url"],
        },
    )
    jobs = {hit["_id"]: hit["_source"] for hit in answer["hits"]["hits"]}
    for match in matches:
        job = jobs.get(match["job_id"], {})
        company = job.get("company")
        found = {
            "title": job.get("title"),
            "company": company.get("name") if isinstance(company, dict) else None,
            "listing_url": job.get("listing_url"),
        }
        for name in JOB_DETAILS:
            match.setdefault(name, found[name])
    return matches


def match_counts(client: OpenSearch, names: IndexNames) -> dict[str, dict[str, Any]]:
    """Per saved search: ``total``, ``undelivered`` and ``failing`` (delivery attempts failed)."""
    if not client.indices.exists(index=names.alert_matches):
        return {}
    client.indices.refresh(index=names.alert_matches)
    undelivered = {"bool": {"must_not": [{"exists": {"field": "delivery.delivered_at"}}]}}
    failed = {"exists": {"field": "delivery.failed_at"}}
    answer = client.search(
        index=names.alert_matches,
        body={
            "size": 0,
            "aggs": {
                "searches": {
                    "terms": {"field": "search", "size": MAX_LISTED},
                    "aggs": {
                        "undelivered": {"filter": undelivered},
                        "last_failure": {
                            "filter": {"bool": {"filter": [undelivered, failed]}},
                            "aggs": {
                                "newest": {
                                    "top_hits": {
                                        "size": 1,
                                        "sort": [{"delivery.failed_at": "desc"}],
                                        "_source": ["delivery.last_error", "delivery.failed_at"],
                                    }
                                }
                            },
                        },
                        "failing": {"filter": {"bool": {"filter": [undelivered, failed]}}},
                    },
                }
            },
        },
    )
    counts: dict[str, dict[str, Any]] = {}
    for bucket in answer["aggregations"]["searches"]["buckets"]:
        newest = bucket["last_failure"]["newest"]["hits"]["hits"]
        delivery = newest[0]["_source"].get("delivery", {}) if newest else {}
        counts[bucket["key"]] = {
            "total": bucket["doc_count"],
            "undelivered": bucket["undelivered"]["doc_count"],
            "failing": bucket["failing"]["doc_count"],
            "last_error": delivery.get("last_error"),
            "failed_at": delivery.get("failed_at"),
        }
    return counts


def alerts_status(client: OpenSearch, names: IndexNames) -> dict[str, Any]:
    """What ``status`` shows: saved searches, matches, deliveries (failing ones with their last
    error) and the change stream's size."""
    counts = match_counts(client, names)
    searches = (
        int(client.count(index=names.saved_searches)["count"])
        if client.indices.exists(index=names.saved_searches)
        else 0
    )
    changes = None
    if client.indices.exists(index=names.changes):
        client.indices.refresh(index=names.changes)
        changes = int(client.count(index=names.changes)["count"])
    return {
        "saved_searches": searches,
        "matches": sum(c["total"] for c in counts.values()),
        "undelivered": sum(c["undelivered"] for c in counts.values()),
        "failing_deliveries": {
            name: {k: c[k] for k in ("failing", "last_error", "failed_at")}
            for name, c in counts.items()
            if c["failing"]
        },
        "change_events": changes,
        "matched_through": matched_through(client, names),
    }


def undelivered(
    client: OpenSearch, names: IndexNames, search: str, limit: int
) -> list[tuple[str, dict[str, Any]]]:
    """Up to ``limit`` matches of ``search`` no receiver acknowledged yet, oldest first."""
    if not client.indices.exists(index=names.alert_matches):
        return []
    client.indices.refresh(index=names.alert_matches)
    answer = client.search(
        index=names.alert_matches,
        body={
            "size": limit,
            "query": {
                "bool": {
                    "filter": [{"term": {"search": search}}],
                    "must_not": [{"exists": {"field": "delivery.delivered_at"}}],
                }
            },
            "sort": [{"matched_at": "asc"}, {"job_id": "asc"}],
        },
    )
    hits = answer["hits"]["hits"]
    sources = with_job_details(client, names, [hit["_source"] for hit in hits])
    return [(hit["_id"], source) for hit, source in zip(hits, sources, strict=True)]


def mark_delivery(
    client: OpenSearch,
    names: IndexNames,
    ids: Sequence[str],
    *,
    delivered_at: str | None = None,
    failed_at: str | None = None,
    error: str | None = None,
    attempts: int = 0,
) -> None:
    """Record a delivery outcome on each match (a partial update of ``delivery``)."""
    if delivered_at is not None:
        delivery: dict[str, Any] = {"delivered_at": delivered_at}
    else:
        delivery = {"failed_at": failed_at, "last_error": error}
    script = (
        "if (ctx._source.delivery == null) { ctx._source.delivery = new HashMap(); } "
        "for (entry in params.delivery.entrySet()) { "
        "ctx._source.delivery[entry.getKey()] = entry.getValue(); } "
        "def seen = ctx._source.delivery.attempts; "
        "ctx._source.delivery.attempts = (seen == null ? 0 : seen) + params.attempts;"
    )
    actions = (
        {
            "_op_type": "update",
            "_index": names.alert_matches,
            "_id": ident,
            "retry_on_conflict": 3,
            "script": {
                "source": script,
                "lang": "painless",
                "params": {"delivery": delivery, "attempts": attempts},
            },
        }
        for ident in ids
    )
    helpers.bulk(client, actions, refresh=True)
