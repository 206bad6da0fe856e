"""The index lifecycle on the live cluster: what exists, ``init``, and bulk-load settings.

The layout itself (names, mapping files) is :mod:`indexer.store.layout`; migration to a new
mapping version is :mod:`indexer.store.migrate`. The names of the layout are re-exported here, so
``schema.index_names`` and ``schema.SchemaError`` keep working for callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opensearchpy import NotFoundError, OpenSearch

from indexer.store.layout import (
    DEAD_LETTERS_FILE,
    JOBS_TEMPLATE_FILE,
    RUNS_FILE,
    STATE_FILE,
    IndexNames,
    MappingFile,
    NotInitialisedError,
    SchemaError,
    ShardLayout,
    index_names,
    load_jobs_mapping,
    load_plain_mapping,
    read_alias_filter,
    template_body,
)

__all__ = [
    "BULK_LOAD_META_KEY",
    "IndexNames",
    "InitReport",
    "MappingFile",
    "NotInitialisedError",
    "SchemaError",
    "ShardLayout",
    "alias_targets",
    "ensure_initialised",
    "enter_bulk_load",
    "exit_bulk_load",
    "free_physical_name",
    "index_names",
    "init_index",
    "is_initialised",
    "live_layout",
    "live_physical_index",
    "load_jobs_mapping",
    "load_plain_mapping",
    "mapping_meta",
    "physical_indices",
    "read_alias_filter",
    "restore_after_crash",
    "template_body",
    "write_target",
]

BULK_LOAD_META_KEY = "bulk_load_restore"

# --------------------------------------------------------------------------- live state


def alias_targets(client: OpenSearch, alias: str) -> list[str]:
    try:
        found = client.indices.get_alias(name=alias)
    except NotFoundError:
        return []
    return sorted(found)


def write_target(client: OpenSearch, alias: str) -> str | None:
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


def mapping_meta(client: OpenSearch, index: str) -> dict[str, Any]:
    found = client.indices.get_mapping(index=index)
    return dict(found[index]["mappings"].get("_meta") or {})


def live_layout(client: OpenSearch, index: str) -> ShardLayout:
    """The shards and replicas ``index`` has now."""
    values = client.indices.get_settings(index=index)[index]["settings"]["index"]
    return ShardLayout(int(values["number_of_shards"]), int(values["number_of_replicas"]))


def live_physical_index(client: OpenSearch, base: str = "jobs") -> str:
    """The physical index that takes writes now (behind ``<base>-write``)."""
    names = index_names(base)
    target = write_target(client, names.write_alias)
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


def _ensure_template(
    client: OpenSearch, names: IndexNames, jobs: MappingFile, layout: ShardLayout
) -> InitReport:
    report = InitReport(names.base)
    try:
        found = client.indices.get_index_template(name=names.template)["index_templates"]
    except NotFoundError:
        found = []
    if not found:
        body = template_body(names, jobs, layout)
        client.indices.put_index_template(name=names.template, body=body)
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
    client: OpenSearch, names: IndexNames, jobs: MappingFile, now: datetime, layout: ShardLayout
) -> str:
    physical = free_physical_name(client, names, jobs.version, now)
    body = layout.apply(jobs.index_body())
    # Index and aliases in one call: a crash cannot leave an index that no alias reaches.
    body["aliases"] = {
        names.read_alias: {"filter": read_alias_filter()},
        names.all_alias: {},
        names.write_alias: {"is_write_index": True},
    }
    client.indices.create(index=physical, body=body)
    return physical


def free_physical_name(client: OpenSearch, names: IndexNames, version: int, now: datetime) -> str:
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
        targets = alias_targets(client, alias)
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


def _ensure_plain_index(
    client: OpenSearch, index: str, spec: MappingFile, report: InitReport, layout: ShardLayout
):
    if not _index_exists(client, index):
        client.indices.create(index=index, body=layout.apply(spec.index_body(), shards=False))
        report.actions.append(f"created index {index} (v{spec.version})")
        return
    _ensure_replicas(client, index, layout, report)
    meta = mapping_meta(client, index)
    if meta.get("version") != spec.version or meta.get("digest") != spec.digest:
        report.drift.append(
            f"index {index} has mapping v{meta.get('version')} ({meta.get('digest')}), "
            f"mappings/{spec.name} is v{spec.version} ({spec.digest}): additive changes can be "
            f"applied with PUT {index}/_mapping; others need a reindex into a new {index}"
        )


def _ensure_replicas(
    client: OpenSearch, index: str, layout: ShardLayout, report: InitReport, *, shards: bool = False
) -> None:
    """An existing index takes the replicas asked for (dynamic); its shard count cannot change."""
    live = live_layout(client, index)
    if layout.replicas is not None and live.replicas != layout.replicas:
        client.indices.put_settings(
            index=index, body={"index": {"number_of_replicas": layout.replicas}}
        )
        report.actions.append(f"set {index} replicas {live.replicas} -> {layout.replicas}")
    if shards and layout.shards is not None and live.shards != layout.shards:
        report.drift.append(
            f"{index} has {live.shards} primary shard(s), --shards asks {layout.shards}: the "
            "shard count is fixed when an index is created; init a new --index base with it"
        )


def init_index(
    client: OpenSearch,
    base: str = "jobs",
    *,
    now: datetime | None = None,
    layout: ShardLayout | None = None,
):
    """Create whatever is missing of the layout; report (never change) what differs.

    ``layout`` (``init --shards/--replicas``) shapes what is created; on what exists, replicas
    are set when asked and a different shard count is reported.
    """
    names = index_names(base)
    jobs = load_jobs_mapping()
    layout = layout or ShardLayout()
    created = False
    _check_alias_names_free(client, names)
    report = _ensure_template(client, names, jobs, layout)
    live = write_target(client, names.write_alias)
    if live is None:
        orphans = alias_targets(client, names.all_alias) or alias_targets(client, names.read_alias)
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
            live = _create_first_index(client, names, jobs, now or datetime.now(UTC), layout)
            report.actions.append(f"created index {live} with aliases {', '.join(names.aliases)}")
            created = True
    _ensure_read_aliases(client, names, live, report)
    if not created:
        _ensure_replicas(client, live, layout, report, shards=True)
    meta = mapping_meta(client, live)
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
        _ensure_plain_index(client, index, load_plain_mapping(file), report, layout)
    report.live_index = live
    return report


def is_initialised(client: OpenSearch, base: str = "jobs") -> bool:
    """Whether ``init`` ran for ``base``: its write alias reaches an index and its state index
    exists (read-only: nothing is created)."""
    names = index_names(base)
    return write_target(client, names.write_alias) is not None and _index_exists(
        client, names.state
    )


def ensure_initialised(client: OpenSearch, base: str = "jobs") -> IndexNames:
    """What the sync flows call first: the layout exists afterwards (created when missing)."""
    init_index(client, base)
    return index_names(base)


# --------------------------------------------------------------------------- bulk load


def _physical_of(client: OpenSearch, index: str) -> list[str]:
    found = client.indices.get(index=index)
    return sorted(found)


def enter_bulk_load(client: OpenSearch, index: str, *, drop_replicas: bool = False) -> None:
    """No refresh on ``index`` (or the indices behind an alias) during a load; no replicas
    either when ``drop_replicas`` (``--bulk-load-drop-replicas``).

    Dropping replicas trades safety for speed: until the load ends, every shard has one copy,
    so losing a node loses the shards it held (the index goes red and the load fails). Without
    it a cluster keeps its replicas and survives a node loss mid-load.

    The values to restore are recorded in the index's ``_meta`` first, so a crash in between is
    repaired by :func:`restore_after_crash`. Entering twice keeps the first recorded values.
    """
    for physical in _physical_of(client, index):
        meta = mapping_meta(client, physical)
        if BULK_LOAD_META_KEY not in meta:
            current = client.indices.get_settings(index=physical)[physical]["settings"]["index"]
            meta[BULK_LOAD_META_KEY] = {
                "refresh_interval": current.get("refresh_interval"),
                "number_of_replicas": current.get("number_of_replicas"),
                "since": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            client.indices.put_mapping(index=physical, body={"_meta": meta})
        load_settings: dict[str, Any] = {"refresh_interval": "-1"}
        if drop_replicas:
            load_settings["number_of_replicas"] = 0
        client.indices.put_settings(index=physical, body={"index": load_settings})


def exit_bulk_load(client: OpenSearch, index: str) -> bool:
    """Restore the settings recorded by :func:`enter_bulk_load` and refresh; False if none."""
    restored = False
    for physical in _physical_of(client, index):
        meta = mapping_meta(client, physical)
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
