"""Saved searches: a name, a search (text + filters), an optional webhook, in
``<base>-saved-searches``.

What is stored is the search as asked (the parts of a :class:`~indexer.search.SearchQuery` that
decide a match), not a query: each matching pass (:mod:`indexer.alerts.matcher`) builds it again
with :func:`indexer.search.match_query`, the very definition ``search`` runs, so a saved search
always matches what ``search`` finds. A ``near_city`` is resolved to coordinates when the search
is saved, against the jobs the index holds then, so the search never depends on a later lookup.
Document id: the name. Saving a name again replaces the search and forgets its matches (a new
definition starts over).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from opensearchpy import NotFoundError, OpenSearch

from indexer.errors import UsageError
from indexer.search import GeoPoint, SearchQuery, build_search_body, resolved
from indexer.store.layout import IndexNames
from indexer.store.once import ensure_index
from indexer.timestamps import format_timestamp, utcnow

MAX_SAVED_SEARCHES = 10_000  # one search lists them all (load_all)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:@-]{0,99}$")
# The parts of a SearchQuery that say which jobs match (not how a page of them is shown).
MATCH_FIELDS: tuple[str, ...] = (
    "text",
    "workplace_type",
    "employment_type",
    "experience_level",
    "source",
    "country",
    "city",
    "company",
    "skills",
    "h1b_sponsor",
    "clearance_required",
    "near",
    "near_city",
    "radius",
    "salary_min",
    "salary_max",
    "posted_within_days",
)


class SavedSearchError(UsageError):
    """A saved search cannot be stored or found as asked; the message says what to do."""


@dataclass
class SavedSearch:
    name: str
    query: SearchQuery  # near_city resolved (``near`` set)
    saved_at: str
    webhook: str | None = None

    def spec(self) -> dict[str, Any]:
        """The search as plain JSON (only the parts that decide a match; empty ones left out)."""
        values = asdict(self.query)
        spec: dict[str, Any] = {}
        for name in MATCH_FIELDS:
            value = values[name]
            if value in (None, "", [], ()):
                continue
            spec[name] = list(value) if isinstance(value, list | tuple) else value
        return spec

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "saved_at": self.saved_at,
            "search": self.spec(),
            "webhook": bool(self.webhook),
        }


def query_from_spec(spec: dict[str, Any]) -> SearchQuery:
    known = {f.name for f in fields(SearchQuery)}
    values = {k: v for k, v in spec.items() if k in known}
    if isinstance(values.get("near"), dict):
        values["near"] = GeoPoint(float(values["near"]["lat"]), float(values["near"]["lon"]))
    return SearchQuery(**values)


def saved_searches_body() -> dict[str, Any]:
    """The index body: one unindexed object per search (its name, the search as asked, when it
    was saved, its webhook); nothing is searched in it."""
    return {
        "settings": {"index": {"number_of_shards": 1}},
        "mappings": {
            "dynamic": False,
            "properties": {"saved_search": {"type": "object", "enabled": False}},
        },
    }


def ensure_saved_searches_index(client: OpenSearch, names: IndexNames) -> None:
    """Create ``<base>-saved-searches`` when missing. (One made by an earlier version, with a
    percolator field and the jobs mapping, is read as it is: only ``saved_search`` is used.)"""
    ensure_index(client, names.saved_searches, saved_searches_body())


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise SavedSearchError(
            f"saved search name {name!r} is not usable: 1-100 characters, letters, digits, "
            "space, '_', '.', ':', '@' or '-', starting with a letter or digit"
        )
    return name


def check_webhook(url: str | None) -> str | None:
    if url is None:
        return None
    if not re.match(r"^https?://[^\s/]+", url):
        raise SavedSearchError(
            f"--webhook {url!r} is not an http(s) URL: give one like https://example.org/hook"
        )
    return url


def save(
    client: OpenSearch,
    names: IndexNames,
    name: str,
    query: SearchQuery,
    *,
    webhook: str | None = None,
) -> tuple[SavedSearch, bool]:
    """Store (create or replace) the saved search ``name``; returns it and whether it replaced
    one. The replaced search's matches are deleted: a new definition starts over."""
    check_name(name)
    check_webhook(webhook)
    query = replace(query, size=1, facets=(), highlight=False, search_after=None)
    if query.near_city:
        query = resolved(client, names.read_alias, query)
    build_search_body(query)  # validates (radius, salary bounds, ...) with the search's rules
    ensure_saved_searches_index(client, names)
    if count_saved(client, names) >= MAX_SAVED_SEARCHES and load(client, names, name) is None:
        raise SavedSearchError(
            f"{names.saved_searches!r} already holds {MAX_SAVED_SEARCHES} saved searches: "
            "remove some first (`jobo-indexer alerts remove NAME`)"
        )
    saved = SavedSearch(name, query, format_timestamp(utcnow()), webhook)
    document = {"saved_search": {**saved.as_dict(), "webhook": webhook}}
    answer = client.index(
        index=names.saved_searches, id=name, body=document, params={"refresh": "true"}
    )
    replaced = answer.get("result") == "updated"
    if replaced:
        forget_matches(client, names, name)
    return saved, replaced


def forget_matches(client: OpenSearch, names: IndexNames, name: str) -> int:
    if not client.indices.exists(index=names.alert_matches):
        return 0
    answer = client.delete_by_query(
        index=names.alert_matches,
        body={"query": {"term": {"search": name}}},
        params={"conflicts": "proceed", "refresh": "true"},
    )
    return int(answer.get("deleted", 0))


def _from_source(source: dict[str, Any]) -> SavedSearch:
    meta = source["saved_search"]
    return SavedSearch(
        name=meta["name"],
        query=query_from_spec(meta.get("search") or {}),
        saved_at=meta["saved_at"],
        webhook=meta.get("webhook"),
    )


def load(client: OpenSearch, names: IndexNames, name: str) -> SavedSearch | None:
    try:
        found = client.get(index=names.saved_searches, id=name, params={"_source": "saved_search"})
    except NotFoundError:
        return None
    return _from_source(found["_source"])


def load_all(client: OpenSearch, names: IndexNames) -> list[SavedSearch]:
    if not client.indices.exists(index=names.saved_searches):
        return []
    answer = client.search(
        index=names.saved_searches,
        body={"size": MAX_SAVED_SEARCHES, "_source": ["saved_search"]},
    )
    found = [_from_source(hit["_source"]) for hit in answer["hits"]["hits"]]
    return sorted(found, key=lambda search: search.name)


def count_saved(client: OpenSearch, names: IndexNames) -> int:
    if not client.indices.exists(index=names.saved_searches):
        return 0
    return int(client.count(index=names.saved_searches)["count"])


def remove(client: OpenSearch, names: IndexNames, name: str) -> int:
    """Delete the saved search ``name`` and its matches; returns how many matches went."""
    try:
        client.delete(index=names.saved_searches, id=name, params={"refresh": "true"})
    except NotFoundError:
        known = ", ".join(s.name for s in load_all(client, names)[:10]) or "none"
        raise SavedSearchError(
            f"no saved search named {name!r} in {names.saved_searches!r} (saved: {known}); "
            "`jobo-indexer alerts list` shows them"
        ) from None
    return forget_matches(client, names, name)
