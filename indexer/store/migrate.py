"""Migration to a new mapping version without downtime or lost writes.

Migration keeps every write. The old index is copied into the new one with ``version_type:
external`` and ``conflicts: proceed`` while writes still go to the old index; then the write alias
moves to the new index (so expiry updates find the copied documents there), and catch-up passes copy
whatever reached the old index since the copy began (``_seq_no`` above the last one copied) until
nothing is left. External versions (``updated_at`` in ms) make every copy idempotent: an older copy
never overwrites a newer write. Only then do the read aliases flip, in one atomic ``_aliases`` call:
readers see the old, complete index until that instant and the new, complete one after it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opensearchpy import OpenSearch

from indexer.store.layout import (
    IndexNames,
    MappingFile,
    NotInitialisedError,
    SchemaError,
    index_names,
    load_jobs_mapping,
    read_alias_filter,
    template_body,
)
from indexer.store.schema import (
    alias_targets,
    enter_bulk_load,
    exit_bulk_load,
    free_physical_name,
    live_layout,
    mapping_meta,
    physical_indices,
    write_target,
)

Progress = Callable[[str], None]


@dataclass
class MigrationReport:
    base: str
    old_index: str
    new_index: str
    copied: int = 0
    kept_newer: int = 0
    catch_up_passes: int = 0
    documents_old: int = 0
    documents_new: int = 0
    resumed: bool = False
    deleted_old: bool = False
    duration_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class MigrationError(SchemaError):
    pass


@dataclass(frozen=True)
class _ShardSeqNo:
    local_checkpoint: int  # every operation up to here has completed
    max_seq_no: int  # the highest operation number handed out


def _shard_seq_nos(client: OpenSearch, index: str) -> dict[str, _ShardSeqNo]:
    stats = client.indices.stats(index=index, metric="docs", level="shards")
    found: dict[str, _ShardSeqNo] = {}
    for shard, copies in stats["indices"][index]["shards"].items():
        for copy_ in copies:
            if copy_["routing"]["primary"]:
                seq_no = copy_["seq_no"]
                found[shard] = _ShardSeqNo(seq_no["local_checkpoint"], seq_no["max_seq_no"])
    return found


def _local_checkpoints(client: OpenSearch, index: str) -> dict[str, int]:
    return {shard: seq.local_checkpoint for shard, seq in _shard_seq_nos(client, index).items()}


def _catch_up(
    client: OpenSearch,
    old: str,
    new: str,
    copied: dict[str, int],
    report: MigrationReport,
    max_passes: int,
) -> None:
    """Copy what reached ``old`` after ``copied`` (per-shard checkpoints), then seal ``old``.

    Sequence numbers are per shard, so a pass copies ``_seq_no`` above the lowest shard
    checkpoint (a superset; copies are idempotent). When nothing new is left the old index gets a
    write block, and one more check catches operations that were in flight: a write that still
    addresses ``old`` after that fails loudly instead of being lost.
    """
    sealed = False
    for _ in range(max_passes):
        current = _shard_seq_nos(client, old)
        pending = any(seq.max_seq_no > copied.get(shard, -1) for shard, seq in current.items())
        if not pending:
            if sealed:
                return
            client.indices.put_settings(index=old, body={"index": {"blocks.write": True}})
            sealed = True
            continue
        client.indices.refresh(index=old)
        above = min(copied.values(), default=-1)
        _account(report, _reindex(client, old, new, {"range": {"_seq_no": {"gt": above}}}))
        report.catch_up_passes += 1
        copied = {shard: seq.local_checkpoint for shard, seq in current.items()}
    raise MigrationError(
        f"{old} kept receiving writes through {max_passes} catch-up passes: stop the writers "
        f"still addressing {old} directly, then run `jobo-indexer migrate` again"
    )


def _reindex(
    client: OpenSearch, source: str, dest: str, query: dict[str, Any] | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "conflicts": "proceed",
        "source": {"index": source, "size": 1000},
        "dest": {"index": dest, "version_type": "external"},
    }
    if query is not None:
        body["source"]["query"] = query
    task = client.reindex(body=body, wait_for_completion=False, refresh=False)["task"]
    while True:
        status = client.tasks.get(task_id=task)
        if status.get("completed"):
            break
        time.sleep(0.2)
    if status.get("error"):
        raise MigrationError(f"copying {source} -> {dest} failed: {status['error']}")
    response = status.get("response", {})
    failures = [f for f in response.get("failures", []) if f.get("status") != 409]
    if failures:
        raise MigrationError(
            f"copying {source} -> {dest}: {len(failures)} documents failed, first: {failures[0]}; "
            "aliases were not flipped; fix the cause and run `jobo-indexer migrate` again"
        )
    return response


def _count(client: OpenSearch, index: str) -> int:
    return int(client.count(index=index)["count"])


def _start_or_resume(
    client: OpenSearch, names: IndexNames, jobs: MappingFile, now: datetime
) -> tuple[str, str, bool]:
    readers = alias_targets(client, names.all_alias)
    writer = write_target(client, names.write_alias)
    if writer is None or len(readers) != 1:
        raise NotInitialisedError(
            f"aliases {names.all_alias} / {names.write_alias} do not point to one index each: "
            f"run `jobo-indexer init --index {names.base}` first"
        )
    old = readers[0]
    if writer != old:  # a previous migrate moved the write alias and stopped before the flip
        return old, writer, True
    client.indices.put_index_template(name=names.template, body=template_body(names, jobs))
    unfinished = _unaliased_after(client, names, old)
    if unfinished:  # a previous migrate created its target and stopped before moving any alias
        return old, unfinished, True
    new = free_physical_name(client, names, jobs.version, now)
    # The new index keeps the live one's shards and replicas (chosen at init for the cluster).
    client.indices.create(index=new, body=live_layout(client, old).apply(jobs.index_body()))
    return old, new, False


def _unaliased_after(client: OpenSearch, names: IndexNames, live: str) -> str | None:
    """The newest job index created after ``live`` that no alias reaches, if any."""
    indices = physical_indices(client, names.base)
    later = indices[indices.index(live) + 1 :] if live in indices else []
    digest = load_jobs_mapping().digest
    for candidate in reversed(later):
        unaliased = not client.indices.get_alias(index=candidate)[candidate]["aliases"]
        if unaliased and mapping_meta(client, candidate).get("digest") == digest:
            return candidate
    return None


def migrate(
    client: OpenSearch,
    base: str = "jobs",
    *,
    delete_old: bool = False,
    now: datetime | None = None,
    progress: Progress | None = None,
    max_catch_up_passes: int = 10,
) -> MigrationReport:
    """Rebuild the job index from ``mappings/`` without downtime or lost writes (see module doc)."""
    say = progress or (lambda _message: None)
    started = time.monotonic()
    names = index_names(base)
    jobs = load_jobs_mapping()
    old, new, resumed = _start_or_resume(client, names, jobs, now or datetime.now(UTC))
    report = MigrationReport(base=base, old_index=old, new_index=new, resumed=resumed)
    say(f"{'resuming' if resumed else 'migrating'} {old} -> {new}")
    enter_bulk_load(client, new)
    copied = _local_checkpoints(client, old)  # before the refresh: all of it becomes visible
    client.indices.refresh(index=old)
    say(f"copying {old} -> {new} with external versions")
    _account(report, _reindex(client, old, new, None))
    if write_target(client, names.write_alias) != new:
        client.indices.update_aliases(
            body={
                "actions": [
                    {"remove": {"index": old, "alias": names.write_alias}},
                    {"add": {"index": new, "alias": names.write_alias, "is_write_index": True}},
                ]
            }
        )
    say(f"writes now go to {new}; copying what reached {old} meanwhile")
    _catch_up(client, old, new, copied, report, max_catch_up_passes)
    exit_bulk_load(client, new)
    client.indices.refresh(index=new)
    _verify_and_flip(client, names, old, new, report)
    say(f"aliases {names.read_alias}, {names.all_alias} now point to {new}")
    if delete_old:
        client.indices.delete(index=old)
        report.deleted_old = True
        say(f"deleted {old}")
    report.duration_ms = int((time.monotonic() - started) * 1000)
    return report


def _account(report: MigrationReport, response: Mapping[str, Any]) -> None:
    report.copied += int(response.get("created", 0)) + int(response.get("updated", 0))
    report.kept_newer += int(response.get("version_conflicts", 0))


def _verify_and_flip(
    client: OpenSearch, names: IndexNames, old: str, new: str, report: MigrationReport
) -> None:
    report.documents_old = _count(client, old)
    report.documents_new = _count(client, new)
    if report.documents_new < report.documents_old:
        raise MigrationError(
            f"{new} holds {report.documents_new} documents but {old} holds "
            f"{report.documents_old}: aliases "
            f"were not flipped (readers still use {old}); run `jobo-indexer migrate` again"
        )
    client.indices.update_aliases(
        body={
            "actions": [
                {"remove": {"index": old, "alias": names.read_alias}},
                {"remove": {"index": old, "alias": names.all_alias}},
                {"add": {"index": new, "alias": names.read_alias, "filter": read_alias_filter()}},
                {"add": {"index": new, "alias": names.all_alias}},
            ]
        }
    )
