"""The search-time synonyms of ``mappings/synonyms.txt``, inlined into the jobs index settings.

The rules travel inside the index settings (``synonyms``, not ``synonyms_path``) so no file has to
exist on the OpenSearch nodes. Because they are part of the settings, they are part of the mapping
digest: an edited file shows as drift in ``init`` and is applied by ``migrate``.
"""

from __future__ import annotations

from typing import Any

from indexer.errors import IndexerError
from indexer.resources import mappings_dir

SYNONYMS_FILE = "synonyms.txt"
SYNONYM_FILTER = "job_synonyms"


class SynonymsError(IndexerError, ValueError):
    """``mappings/synonyms.txt`` cannot be read or holds a malformed rule."""


def read_synonyms(text: str) -> list[str]:
    """The rules of a synonyms file: comments and blank lines dropped, each rule checked."""
    rules: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        rule = line.split("#", 1)[0].strip()
        if not rule:
            continue
        sides = rule.split("=>")
        words = [word.strip() for side in sides for word in side.split(",")]
        if len(sides) > 2 or not all(words):
            raise SynonymsError(
                f"{SYNONYMS_FILE} line {number}: {line.strip()!r} is not a rule: write "
                "'a, b, c' (equivalent) or 'a => b' (one way), with no empty entry"
            )
        rules.append(rule.lower())
    return rules


def with_synonyms(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with the rules of ``mappings/synonyms.txt`` in filter ``job_synonyms``."""
    filters = settings.get("analysis", {}).get("filter", {})
    if SYNONYM_FILTER not in filters:
        return settings
    path = mappings_dir() / SYNONYMS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SynonymsError(f"cannot read {path}: {error}") from error
    filters[SYNONYM_FILTER] = {**filters[SYNONYM_FILTER], "synonyms": read_synonyms(text)}
    return settings
