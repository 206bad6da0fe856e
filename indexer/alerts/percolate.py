"""Match job documents against every saved search at once: one multi-document ``percolate``.

A page of documents goes in one request (``documents: [...]``); each hit is a saved search and
``fields._percolator_document_slot`` lists the documents (by position) it matched. Only the fields
a search can ask about are sent (:data:`PERCOLATED_FIELDS`): the node analyses every field it is
given, and the rest (qualifications, benefits, URLs, ...) would only cost it time.

The number of saved searches is cached for a few seconds, so a page with no search to match
costs no request at all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import ConnectionTimeout, TransportError

from indexer.alerts.saved import MAX_SAVED_SEARCHES
from indexer.retry import RetriesExhaustedError, RetryPolicy, retry_call
from indexer.store.once import OnceWriteError

# Every root field the search's match part reads (mappings/jobs.json names; a unit test walks
# match_query for a search that sets every option and checks each field it names is here).
PERCOLATED_FIELDS: tuple[str, ...] = (
    "id",
    "status",
    "title",
    "normalized_title",
    "skills",
    "company",
    "summary",
    "responsibilities",
    "description",
    "workplace_type",
    "employment_type",
    "experience_level",
    "source",
    "is_h1b_sponsor",
    "is_clearance_required",
    "locations",
    "salary_usd",
    "date_posted",
    "created_at",
)
COUNT_TTL_S = 5.0
_RETRY = RetryPolicy(max_attempts=5, max_wait=10.0, max_total=60.0)


@dataclass(frozen=True, slots=True)
class Hit:
    """Saved search ``search`` (saved at ``saved_at``) matched document number ``slot``."""

    search: str
    saved_at: str
    slot: int


_LOCATION_KEYS = ("city", "region", "country", "point")


def slim(document: dict[str, Any]) -> dict[str, Any]:
    """The parts of ``document`` a search reads (the company's name, not its profile; a
    location's city, region, country and point, not its display text)."""
    found = {name: document[name] for name in PERCOLATED_FIELDS if name in document}
    company = found.get("company")
    if isinstance(company, dict):
        found["company"] = {"name": company.get("name")}
    locations = found.get("locations")
    if isinstance(locations, list):
        found["locations"] = [
            {key: loc.get(key) for key in _LOCATION_KEYS if loc.get(key) is not None}
            for loc in locations
            if isinstance(loc, dict)
        ]
    return found


def _transient(error: BaseException) -> bool:
    if isinstance(error, OSConnectionError | ConnectionTimeout):
        return True
    status = getattr(error, "status_code", None)
    return (
        isinstance(error, TransportError)
        and isinstance(status, int)
        and (status == 429 or status >= 500)
    )


class Percolator:
    """Percolates documents against ``index`` (``<base>-saved-searches``). Thread-safe."""

    def __init__(self, client: OpenSearch, index: str, *, policy: RetryPolicy = _RETRY) -> None:
        self.client = client
        self.index = index
        self.policy = policy
        self._lock = threading.Lock()
        self._count: tuple[float, int] | None = None

    def saved_count(self) -> int:
        """How many saved searches there are (cached for COUNT_TTL_S seconds)."""
        with self._lock:
            cached = self._count
            if cached is not None and time.monotonic() - cached[0] < COUNT_TTL_S:
                return cached[1]
        if not self.client.indices.exists(index=self.index):
            count = 0
        else:
            count = int(self.client.count(index=self.index)["count"])
        with self._lock:
            self._count = (time.monotonic(), count)
        return count

    def percolate(self, documents: Sequence[dict[str, Any]]) -> list[Hit]:
        """Every (saved search, document) pair that matches; ``[]`` when nothing is saved."""
        if not documents or self.saved_count() == 0:
            return []
        body = {
            "size": MAX_SAVED_SEARCHES,
            "_source": ["saved_search.name", "saved_search.saved_at"],
            "query": {
                "percolate": {"field": "query", "documents": [slim(doc) for doc in documents]}
            },
        }

        def attempt() -> dict[str, Any]:
            return self.client.search(index=self.index, body=body)

        try:
            answer = retry_call(attempt, self.policy, retryable=_transient)
        except RetriesExhaustedError as error:
            raise OnceWriteError(
                f"could not match {len(documents)} jobs against the saved searches in "
                f"{self.index!r} ({error}); check OpenSearch, then re-run: the run resumes"
            ) from error
        hits: list[Hit] = []
        for raw in answer["hits"]["hits"]:
            meta = raw["_source"]["saved_search"]
            slots = raw.get("fields", {}).get("_percolator_document_slot", [0])
            hits.extend(Hit(meta["name"], meta["saved_at"], int(slot)) for slot in slots)
        return hits
