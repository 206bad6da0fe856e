"""The index lifecycle: templates, versioned physical indices behind aliases, migration, bulk load.

For a base ``B`` (default ``jobs``):

* physical job indices ``B-v<N>-<YYYYMMDDHHMMSS>`` (N = the version of ``mappings/jobs.json``),
  created from the index template ``B-template`` (patterns ``B-v*``);
* aliases ``B`` (readers; filtered to ``status: active``), ``B-all`` (every document, expired too)
  and ``B-write`` (the one index writes go to, ``is_write_index: true``);
* plain indices ``B-indexer-state``, ``B-indexer-runs`` and ``B-dead-letters``.

Every mapping body carries ``_meta.version`` and ``_meta.digest`` (a hash of the file's settings and
mappings), so ``init`` can tell when the live index no longer matches ``mappings/``.

Migration keeps every write. The old index is copied into the new one with ``version_type:
external`` and ``conflicts: proceed`` while writes still go to the old index; then the write alias
moves to the new index (so expiry updates find the copied documents there), and catch-up passes copy
whatever reached the old index since the copy began (``_seq_no`` above the last one copied) until
nothing is left. External versions (``updated_at`` in ms) make every copy idempotent: an older copy
never overwrites a newer write. Only then do the read aliases flip, in one atomic ``_aliases`` call:
readers see the old, complete index until that instant and the new, complete one after it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opensearchpy import NotFoundError, OpenSearch

from indexer.errors import ExitCode, SyncError
from indexer.resources import mappings_dir
from indexer.transform import STATUS_ACTIVE

JOBS_TEMPLATE_FILE = "jobs.json"
STATE_FILE = "indexer-state.json"
RUNS_FILE = "indexer-runs.json"
DEAD_LETTERS_FILE = "dead-letters.json"

BULK_LOAD_META_KEY = "bulk_load_restore"
_TIMESTAMP_FORMAT = "%Y%m%d%H%M%S"
_FORBIDDEN_BASE_CHARS = frozenset(' "*\\<|,>/?#:')

Progress = Callable[[str], None]


class SchemaError(SyncError):
    """The index layout cannot be created or changed as asked; the message says what to do."""

    exit_code = ExitCode.OPENSEARCH_FAILED


class NotInitialisedError(SchemaError):
    exit_code = ExitCode.USAGE


# --------------------------------------------------------------------------- names


@dataclass(frozen=True)
class IndexNames:
    """Every name derived from one base."""

    base: str
    read_alias: str
    all_alias: str
    write_alias: str
    template: str
    physical_pattern: str
    state: str
    runs: str
    dead_letters: str

    @property
    def aliases(self) -> tuple[str, str, str]:
        return (self.read_alias, self.all_alias, self.write_alias)

    def physical(self, version: int, at: datetime) -> str:
        return f"{self.base}-v{version}-{at.astimezone(UTC).strftime(_TIMESTAMP_FORMAT)}"


def index_names(base: str = "jobs") -> IndexNames:
    """Names for ``base``; raises SchemaError when OpenSearch would refuse them."""
    if not base or base != base.lower() or base[0] in "-_+." or set(base) & _FORBIDDEN_BASE_CHARS:
        raise SchemaError(
            f"index base {base!r} is not a valid OpenSearch index name: use lower-case letters, "
            "digits, '-' or '_', not starting with '-', '_' or '+'",
            exit_code=ExitCode.USAGE,
        )
    return IndexNames(
        base=base,
        read_alias=base,
        all_alias=f"{base}-all",
        write_alias=f"{base}-write",
        template=f"{base}-template",
        physical_pattern=f"{base}-v*",
        state=f"{base}-indexer-state",
        runs=f"{base}-indexer-runs",
        dead_letters=f"{base}-dead-letters",
    )


def read_alias_filter() -> dict[str, Any]:
    return {"term": {"status": STATUS_ACTIVE}}


# --------------------------------------------------------------------------- mapping files


def _digest(body: Mapping[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class MappingFile:
    """One JSON file of ``mappings/``: settings + mappings, its version and content digest."""

    name: str
    version: int
    settings: dict[str, Any]
    mappings: dict[str, Any]
    digest: str

    def index_body(self) -> dict[str, Any]:
        """Body of a create-index call, with ``_meta.version`` and ``_meta.digest`` set."""
        mappings = copy.deepcopy(self.mappings)
        meta = mappings.setdefault("_meta", {})
        meta["version"] = self.version
        meta["digest"] = self.digest
        return {"settings": copy.deepcopy(self.settings), "mappings": mappings}


def _read_json(name: str) -> dict[str, Any]:
    path = mappings_dir() / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SchemaError(f"cannot read mapping file {path}: {error}") from error


def load_jobs_mapping() -> MappingFile:
    """``mappings/jobs.json`` (an index template body without ``index_patterns``)."""
    raw = _read_json(JOBS_TEMPLATE_FILE)
    template = raw.get("template", {})
    version = int(raw.get("version") or template.get("mappings", {}).get("_meta", {})["version"])
    settings, mappings = template.get("settings", {}), template.get("mappings", {})
    digest = _digest({"settings": settings, "mappings": mappings})
    return MappingFile(JOBS_TEMPLATE_FILE, version, settings, mappings, digest)


def load_plain_mapping(name: str) -> MappingFile:
    """One of the state / runs / dead-letter files (a create-index body)."""
    raw = _read_json(name)
    settings, mappings = raw.get("settings", {}), raw.get("mappings", {})
    try:
        version = int(mappings["_meta"]["version"])
    except (KeyError, TypeError, ValueError) as error:
        raise SchemaError(f"mappings/{name} needs mappings._meta.version") from error
    return MappingFile(name, version, settings, mappings, _digest(raw))


def template_body(names: IndexNames, jobs: MappingFile) -> dict[str, Any]:
    raw = _read_json(JOBS_TEMPLATE_FILE)
    return {
        "index_patterns": [names.physical_pattern],
        "priority": raw.get("priority", 200),
        "version": jobs.version,
        "_meta": {**raw.get("_meta", {}), "digest": jobs.digest, "base": names.base},
        "template": jobs.index_body(),
    }


# --------------------------------------------------------------------------- live state


def _alias_targets(client: OpenSearch, alias: str) -> list[str]:
    try:
        found = client.indices.get_alias(name=alias)
    except NotFoundError:
        return []
    return sorted(found)


def _write_target(client: OpenSearch, alias: str) -> str | None:
    try:
        found = client.indices.get_alias(name=alias)
    except NotFoundError:
        return None
    writers = [
        index for index, info in found.items() if info["aliases"][alias].get("is_write_index")
    ]
    if len(found) == 1:
        return next(iter(found))
    return writers[0] if writers else None


def _is_concrete_index(client: OpenSearch, name: str) -> bool:
    found = client.indices.get(index=name, ignore_unavailable=True, allow_no_indices=True)
    return name in found


def _index_exists(client: OpenSearch, name: str) -> bool:
    return bool(client.indices.exists(index=name))


def _mapping_meta(client: OpenSearch, index: str) -> dict[str, Any]:
    found = client.indices.get_mapping(index=index)
    return dict(found[index]["mappings"].get("_meta") or {})


def live_physical_index(client: OpenSearch, base: str = "jobs") -> str:
    """The physical index that takes writes now (behind ``<base>-write``)."""
    names = index_names(base)
    target = _write_target(client, names.write_alias)
    if target is None:
        raise NotInitialisedError(
            f"no index behind alias {names.write_alias!r}: run `jobo-indexer init --index {base}`"
        )
    return target


def physical_indices(client: OpenSearch, base: str = "jobs") -> list[str]:
    """Every physical job index of ``base``, oldest first (the names sort by version then time)."""
    names = index_names(base)
    found = client.indices.get(index=names.physical_pattern, allow_no_indices=True)
    prefix = f"{base}-v"
    return sorted(
        (name for name in found if name.startswith(prefix) and name[len(prefix) :][:1].isdigit()),
        key=_physical_sort_key,
    )


def _physical_sort_key(name: str) -> tuple[int, str]:
    version, _, stamp = name.rsplit("-v", 1)[1].partition("-")
    return (int(version) if version.isdigit() else -1, stamp)


# --------------------------------------------------------------------------- init


@dataclass
class InitReport:
    """What ``init`` found and did. ``changed`` is False on a second run."""

    base: str
    live_index: str | None = None
    actions: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.actions)

    def as_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "live_index": self.live_index,
            "changed": self.changed,
            "actions": self.actions,
            "drift": self.drift,
        }


def _check_alias_names_free(client: OpenSearch, names: IndexNames) -> None:
    for alias in names.aliases:
        if _is_concrete_index(client, alias):
            raise SchemaError(
                f"an index named {alias!r} exists where the alias {alias!r} belongs: reindex its "
                f"documents into the aliased layout and delete it, or choose another --index base"
            )


def _ensure_template(client: OpenSearch, names: IndexNames, jobs: MappingFile) -> InitReport:
    report = InitReport(names.base)
    try:
        found = client.indices.get_index_template(name=names.template)["index_templates"]
    except NotFoundError:
        found = []
    if not found:
        client.indices.put_index_template(name=names.template, body=template_body(names, jobs))
        report.actions.append(f"created index template {names.template} (v{jobs.version})")
        return report
    live = found[0]["index_template"]
    live_digest = (live.get("_meta") or {}).get("digest")
    if live.get("version") != jobs.version or live_digest != jobs.digest:
        report.drift.append(
            f"index template {names.template} is v{live.get('version')} ({live_digest}), "
            f"mappings/{JOBS_TEMPLATE_FILE} is v{jobs.version} ({jobs.digest}): "
            f"run `jobo-indexer migrate --index {names.base}`"
        )
    return report


def _create_first_index(
    client: OpenSearch, names: IndexNames, jobs: MappingFile, now: datetime
) -> str:
    physical = _free_physical_name(client, names, jobs.version, now)
    body = jobs.index_body()
    # Index and aliases in one call: a crash cannot leave an index that no alias reaches.
    body["aliases"] = {
        names.read_alias: {"filter": read_alias_filter()},
        names.all_alias: {},
        names.write_alias: {"is_write_index": True},
    }
    client.indices.create(index=physical, body=body)
    return physical


def _free_physical_name(client: OpenSearch, names: IndexNames, version: int, now: datetime) -> str:
    moment = now
    while True:
        candidate = names.physical(version, moment)
        if not _index_exists(client, candidate):
            return candidate
        moment += timedelta(seconds=1)


def _ensure_read_aliases(client: OpenSearch, names: IndexNames, live: str, report: InitReport):
    actions: list[dict[str, Any]] = []
    for alias, extra in (
        (names.read_alias, {"filter": read_alias_filter()}),
        (names.all_alias, {}),
    ):
        targets = _alias_targets(client, alias)
        if not targets:
            actions.append({"add": {"index": live, "alias": alias, **extra}})
            report.actions.append(f"added alias {alias} -> {live}")
        elif targets != [live]:
            report.drift.append(
                f"alias {alias} points to {', '.join(targets)} while {names.write_alias} points to "
                f"{live}: a migration did not finish; run `jobo-indexer migrate --index "
                f"{names.base}` to complete it"
            )
    if actions:
        client.indices.update_aliases(body={"actions": actions})


def _ensure_plain_index(client: OpenSearch, index: str, spec: MappingFile, report: InitReport):
    if not _index_exists(client, index):
        client.indices.create(index=index, body=spec.index_body())
        report.actions.append(f"created index {index} (v{spec.version})")
        return
    meta = _mapping_meta(client, index)
    if meta.get("version") != spec.version or meta.get("digest") != spec.digest:
        report.drift.append(
            f"index {index} has mapping v{meta.get('version')} ({meta.get('digest')}), "
            f"mappings/{spec.name} is v{spec.version} ({spec.digest}): additive changes can be "
            f"applied with PUT {index}/_mapping; others need a reindex into a new {index}"
        )


def init_index(client: OpenSearch, base: str = "jobs", *, now: datetime | None = None):
    """Create whatever is missing of the layout; report (never change) what differs."""
    names = index_names(base)
    jobs = load_jobs_mapping()
    _check_alias_names_free(client, names)
    report = _ensure_template(client, names, jobs)
    live = _write_target(client, names.write_alias)
    if live is None:
        orphans = _alias_targets(client, names.all_alias) or _alias_targets(
            client, names.read_alias
        )
        if orphans:
            live = orphans[-1]
            client.indices.update_aliases(
                body={
                    "actions": [
                        {"add": {"index": live, "alias": names.write_alias, "is_write_index": True}}
                    ]
                }
            )
            report.actions.append(f"added alias {names.write_alias} -> {live}")
        else:
            live = _create_first_index(client, names, jobs, now or datetime.now(UTC))
            report.actions.append(f"created index {live} with aliases {', '.join(names.aliases)}")
    _ensure_read_aliases(client, names, live, report)
    meta = _mapping_meta(client, live)
    if meta.get("version") != jobs.version or meta.get("digest") != jobs.digest:
        report.drift.append(
            f"live index {live} has mapping v{meta.get('version')} ({meta.get('digest')}), "
            f"mappings/{JOBS_TEMPLATE_FILE} is v{jobs.version} ({jobs.digest}): run "
            f"`jobo-indexer migrate --index {base}` to rebuild it without downtime"
        )
    for index, file in (
        (names.state, STATE_FILE),
        (names.runs, RUNS_FILE),
        (names.dead_letters, DEAD_LETTERS_FILE),
    ):
        _ensure_plain_index(client, index, load_plain_mapping(file), report)
    report.live_index = live
    return report


def ensure_initialised(client: OpenSearch, base: str = "jobs") -> IndexNames:
    """What the sync flows call first: the layout exists afterwards (created when missing)."""
    init_index(client, base)
    return index_names(base)


# --------------------------------------------------------------------------- bulk load


def _physical_of(client: OpenSearch, index: str) -> list[str]:
    found = client.indices.get(index=index)
    return sorted(found)


def enter_bulk_load(client: OpenSearch, index: str) -> None:
    """No refresh and no replicas on ``index`` (or the indices behind an alias) during a load.

    The values to restore are recorded in the index's ``_meta`` first, so a crash in between is
    repaired by :func:`restore_after_crash`. Entering twice keeps the first recorded values.
    """
    for physical in _physical_of(client, index):
        meta = _mapping_meta(client, physical)
        if BULK_LOAD_META_KEY not in meta:
            current = client.indices.get_settings(index=physical)[physical]["settings"]["index"]
            meta[BULK_LOAD_META_KEY] = {
                "refresh_interval": current.get("refresh_interval"),
                "number_of_replicas": current.get("number_of_replicas"),
                "since": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            client.indices.put_mapping(index=physical, body={"_meta": meta})
        client.indices.put_settings(
            index=physical, body={"index": {"refresh_interval": "-1", "number_of_replicas": 0}}
        )


def exit_bulk_load(client: OpenSearch, index: str) -> bool:
    """Restore the settings recorded by :func:`enter_bulk_load` and refresh; False if none."""
    restored = False
    for physical in _physical_of(client, index):
        meta = _mapping_meta(client, physical)
        saved = meta.pop(BULK_LOAD_META_KEY, None)
        if saved is None:
            continue
        client.indices.put_settings(
            index=physical,
            body={
                "index": {
                    "refresh_interval": saved.get("refresh_interval"),
                    "number_of_replicas": saved.get("number_of_replicas"),
                }
            },
        )
        client.indices.put_mapping(index=physical, body={"_meta": meta})
        client.indices.refresh(index=physical)
        restored = True
    return restored


def restore_after_crash(client: OpenSearch, base: str = "jobs") -> list[str]:
    """Restore bulk-load settings a crashed run left on any job index of ``base``.

    Call it at start-up while holding the run lock (a live load elsewhere would lose its settings).
    Returns the indices restored.
    """
    return [index for index in physical_indices(client, base) if exit_bulk_load(client, index)]


# --------------------------------------------------------------------------- migrate


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
    readers = _alias_targets(client, names.all_alias)
    writer = _write_target(client, names.write_alias)
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
    new = _free_physical_name(client, names, jobs.version, now)
    client.indices.create(index=new, body=jobs.index_body())
    return old, new, False


def _unaliased_after(client: OpenSearch, names: IndexNames, live: str) -> str | None:
    """The newest job index created after ``live`` that no alias reaches, if any."""
    indices = physical_indices(client, names.base)
    later = indices[indices.index(live) + 1 :] if live in indices else []
    digest = load_jobs_mapping().digest
    for candidate in reversed(later):
        unaliased = not client.indices.get_alias(index=candidate)[candidate]["aliases"]
        if unaliased and _mapping_meta(client, candidate).get("digest") == digest:
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
    if _write_target(client, names.write_alias) != new:
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
