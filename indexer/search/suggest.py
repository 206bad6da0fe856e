"""Autocomplete: titles and company names whose words start with what was typed."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from opensearchpy import OpenSearch

from indexer.search.errors import SearchError

# --------------------------------------------------------------------------- suggestions


@dataclass(frozen=True)
class Suggestion:
    text: str
    kind: Literal["title", "company"]
    count: int  # active jobs carrying it


def fold(text: str) -> str:
    """Lower case without accents: how the autocomplete analysers compare text."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


AUTOCOMPLETE_MAX_GRAM = 20  # mappings/jobs.json autocomplete_edge max_gram


def build_suggest_body(prefix: str, size: int = 10) -> dict[str, Any]:
    # Words longer than the longest indexed edge n-gram would never match: cut them to it.
    prefix = " ".join(word[:AUTOCOMPLETE_MAX_GRAM] for word in prefix.split())

    def matches(field_name: str) -> dict[str, Any]:
        return {"match": {field_name: {"query": prefix, "operator": "and"}}}

    # Ask for more buckets than shown: case variants are merged and whole-prefix matches go first.
    wanted = max(size * 3, 30)
    return {
        "size": 0,
        "query": {
            "bool": {
                "should": [matches("title.autocomplete"), matches("company.name.autocomplete")],
                "minimum_should_match": 1,
            }
        },
        "aggs": {
            "titles": {
                "filter": matches("title.autocomplete"),
                "aggs": {"values": {"terms": {"field": "title.keyword", "size": wanted}}},
            },
            "companies": {
                "filter": matches("company.name.autocomplete"),
                "aggs": {"values": {"terms": {"field": "company.name.keyword", "size": wanted}}},
            },
        },
    }


def _ranked(
    buckets: Sequence[Mapping[str, Any]], kind: Literal["title", "company"], prefix: str
) -> list[Suggestion]:
    merged: dict[str, Suggestion] = {}
    for bucket in buckets:
        text = str(bucket["key"])
        key = fold(text).strip()
        known = merged.get(key)
        count_ = int(bucket["doc_count"]) + (known.count if known else 0)
        shown = known.text if known else text
        merged[key] = Suggestion(text=shown, kind=kind, count=count_)
    folded_prefix = fold(prefix).strip()
    return sorted(
        merged.values(),
        key=lambda s: (not fold(s.text).startswith(folded_prefix), -s.count, s.text),
    )


def suggest(client: OpenSearch, alias: str, prefix: str, size: int = 10) -> list[Suggestion]:
    """Titles and company names whose words start with the words of ``prefix``, deduplicated.

    Matching is case- and accent-insensitive (the ``autocomplete`` sub-fields). Titles and names
    that start with the whole prefix come first, then the most frequent.
    """
    if not prefix.strip():
        raise SearchError("suggest needs a non-empty prefix")
    answer = client.search(index=alias, body=build_suggest_body(prefix, size))
    aggregations = answer["aggregations"]
    titles = _ranked(aggregations["titles"]["values"]["buckets"], "title", prefix)
    companies = _ranked(aggregations["companies"]["values"]["buckets"], "company", prefix)
    combined: list[Suggestion] = []
    seen: set[str] = set()
    # Interleave so both kinds show; de-duplicate a company named like a title.
    for pair in _interleave(titles, companies):
        key = fold(pair.text).strip()
        if key not in seen:
            seen.add(key)
            combined.append(pair)
        if len(combined) == size:
            break
    return combined


def _interleave(first: list[Suggestion], second: list[Suggestion]) -> list[Suggestion]:
    out: list[Suggestion] = []
    for index in range(max(len(first), len(second))):
        out.extend(group[index] for group in (first, second) if index < len(group))
    return out
