"""Which physical versions of a base exist, whether a migration is due, and the orphans.

A migration is due when the live index's mapping differs from ``mappings/`` or when an earlier
migration stopped half way (the write alias moved but the readers did not, or its target exists
with no alias yet). Otherwise ``migrate`` has nothing to do: copying every document into an
identical index would only leave one more index behind.

An orphan is a physical job index that no alias reaches and no unfinished migration is about to
use: a superseded version kept after a flip, or the leftover of a forced rebuild. They can be
listed and deleted without running another migration.
"""

from __future__ import annotations

from dataclasses import dataclass

from opensearchpy import OpenSearch

from indexer.store.layout import IndexNames, index_names, load_jobs_mapping
from indexer.store.migrate import _unaliased_after
from indexer.store.schema import (
    NotInitialisedError,
    alias_targets,
    mapping_meta,
    physical_indices,
    write_target,
)


@dataclass(frozen=True)
class Orphan:
    index: str
    documents: int
    size_bytes: int

    def as_dict(self) -> dict[str, object]:
        return {"index": self.index, "documents": self.documents, "size_bytes": self.size_bytes}


def _live(client: OpenSearch, names: IndexNames) -> str:
    readers = alias_targets(client, names.all_alias)
    if not readers:
        raise NotInitialisedError(
            f"no index behind alias {names.all_alias!r}: run "
            f"`jobo-indexer init --index {names.base}` first"
        )
    return readers[-1]


def migration_due(client: OpenSearch, base: str) -> str | None:
    """Why ``migrate`` should run for ``base``, or None when the live index is up to date."""
    names = index_names(base)
    live = _live(client, names)
    writer = write_target(client, names.write_alias)
    if writer is not None and writer != live:
        return f"a migration {live} -> {writer} did not finish"
    jobs = load_jobs_mapping()
    meta = mapping_meta(client, live)
    if meta.get("version") == jobs.version and meta.get("digest") == jobs.digest:
        return None
    target = _unaliased_after(client, names, live)
    if target is not None:
        return f"a migration {live} -> {target} stopped before moving any alias"
    return (
        f"live index {live} has mapping v{meta.get('version')} ({meta.get('digest')}); "
        f"mappings/ is v{jobs.version} ({jobs.digest})"
    )


def orphaned_versions(client: OpenSearch, base: str) -> list[Orphan]:
    """Physical job indices of ``base`` that no alias reaches (oldest first), except the target
    an unfinished migration will resume with."""
    names = index_names(base)
    live = _live(client, names)
    due = migration_due(client, base)
    keep = _unaliased_after(client, names, live) if due else None
    aliases = client.indices.get_alias(index=names.physical_pattern)
    unaliased = [
        name
        for name in physical_indices(client, base)
        if not aliases.get(name, {}).get("aliases") and name != keep
    ]
    if not unaliased:
        return []
    stats = client.indices.stats(index=",".join(unaliased), metric="docs,store")["indices"]
    return [
        Orphan(
            index=name,
            documents=int(stats[name]["primaries"]["docs"]["count"]),
            size_bytes=int(stats[name]["total"]["store"]["size_in_bytes"]),
        )
        for name in unaliased
    ]


def delete_orphans(client: OpenSearch, base: str) -> list[Orphan]:
    """Delete every orphaned version of ``base``; returns what was deleted."""
    orphans = orphaned_versions(client, base)
    for orphan in orphans:
        client.indices.delete(index=orphan.index)
    return orphans
