"""Index lifecycle on the real node: init, idempotence, drift, migrate under load, bulk load."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from opensearchpy import AuthorizationException, OpenSearch, helpers

import indexer.cli.index  # noqa: F401  (registers init and migrate on the group)
from indexer.cli import main
from indexer.store.connection import connect
from indexer.store.migrate import migrate
from indexer.store.schema import (
    BULK_LOAD_META_KEY,
    IndexNames,
    NotInitialisedError,
    ensure_initialised,
    enter_bulk_load,
    exit_bulk_load,
    index_names,
    init_index,
    live_physical_index,
    load_jobs_mapping,
    physical_indices,
    read_alias_filter,
    restore_after_crash,
)
from indexer.transform import to_document, version_of

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def layout(client: OpenSearch, base: str) -> dict[str, Any]:
    """What init may create for ``base``: indices, aliases, mapping meta, the template."""
    aliases = client.indices.get_alias(index=f"{base}*")
    template = client.indices.get_index_template(name=f"{base}-template")["index_templates"][0]
    settings = client.indices.get_settings(index=f"{base}*")
    return {
        "aliases": aliases,
        "template": template["index_template"],
        "uuids": {name: info["settings"]["index"]["uuid"] for name, info in settings.items()},
        "meta": {
            name: info["mappings"].get("_meta")
            for name, info in client.indices.get_mapping(index=f"{base}*").items()
        },
    }


@pytest.fixture
def cli_env(opensearch_url: str) -> dict[str, str]:
    return {"OPENSEARCH_URL": opensearch_url}


def raw_job(number: int, *, updated: str = "2026-10-01T00:00:00Z", title: str = "v1") -> dict:
    return {"id": f"job-{number:04d}", "title": title, "updated_at": updated}


def write(client: OpenSearch, names: IndexNames, job: dict[str, Any], refresh: bool = False):
    return client.index(
        index=names.write_alias,
        id=job["id"],
        body=to_document(job, indexed_at=NOW),
        version=version_of(job),
        version_type="external",
        refresh=refresh,
    )


def load(client: OpenSearch, names: IndexNames, jobs: list[dict[str, Any]]) -> None:
    actions = [
        {
            "_index": names.write_alias,
            "_id": job["id"],
            "_source": to_document(job, indexed_at=NOW),
            "version": version_of(job),
            "version_type": "external",
        }
        for job in jobs
    ]
    helpers.bulk(client, actions, refresh=True)


# --------------------------------------------------------------------------- init


def test_init_creates_exactly_the_layout(os_client: OpenSearch, unique_name: Callable) -> None:
    base = unique_name("init")
    report = init_index(os_client, base)
    names = index_names(base)
    physical = report.live_index
    assert physical is not None
    assert re.fullmatch(rf"{re.escape(base)}-v{load_jobs_mapping().version}-\d{{14}}", physical)
    aliases = os_client.indices.get_alias(index=f"{base}*")
    assert aliases == {
        physical: {
            "aliases": {
                base: {"filter": read_alias_filter()},
                f"{base}-all": {},
                f"{base}-write": {"is_write_index": True},
            }
        },
        names.state: {"aliases": {}},
        names.runs: {"aliases": {}},
        names.dead_letters: {"aliases": {}},
    }
    template = os_client.indices.get_index_template(name=names.template)["index_templates"]
    assert template[0]["index_template"]["index_patterns"] == [f"{base}-v*"]
    settings = os_client.indices.get_settings(index=physical)[physical]["settings"]["index"]
    assert (settings["number_of_shards"], settings["number_of_replicas"]) == ("1", "0")
    assert settings["refresh_interval"] == "1s"
    assert report.changed
    assert report.drift == []
    assert live_physical_index(os_client, base) == physical


def test_a_second_init_changes_nothing(os_client: OpenSearch, unique_name: Callable) -> None:
    base = unique_name("idem")
    init_index(os_client, base)
    before = layout(os_client, base)
    again = init_index(os_client, base)
    assert not again.changed
    assert again.actions == []
    assert layout(os_client, base) == before


def test_init_repairs_a_missing_read_alias(os_client: OpenSearch, unique_name: Callable) -> None:
    base = unique_name("repair")
    physical = init_index(os_client, base).live_index
    os_client.indices.delete_alias(index=physical, name=base)
    report = init_index(os_client, base)
    assert report.actions == [f"added alias {base} -> {physical}"]
    assert os_client.indices.get_alias(name=base)[physical]["aliases"][base]["filter"]


def test_init_reports_mapping_drift_and_how_to_migrate(
    cli_env: dict[str, str], os_client: OpenSearch, unique_name: Callable
) -> None:
    base = unique_name("drift")
    physical = init_index(os_client, base).live_index
    meta = os_client.indices.get_mapping(index=physical)[physical]["mappings"]["_meta"]
    os_client.indices.put_mapping(index=physical, body={"_meta": {**meta, "digest": "old"}})
    result = CliRunner().invoke(main, ["init", "--index", base, "--json"], env=cli_env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["changed"] is False
    assert any(physical in note and "jobo-indexer migrate" in note for note in summary["drift"])


def test_init_refuses_when_an_index_squats_an_alias_name(
    cli_env: dict[str, str], os_client: OpenSearch, unique_name: Callable
) -> None:
    base = unique_name("squat")
    os_client.indices.create(index=f"{base}-all", body={"settings": {"number_of_replicas": 0}})
    result = CliRunner().invoke(main, ["init", "--index", base], env=cli_env)
    assert result.exit_code != 0
    assert f"{base}-all" in result.output
    assert not os_client.indices.exists_alias(name=f"{base}-write")


def test_cli_init_twice_says_nothing_changed(
    cli_env: dict[str, str], os_client: OpenSearch, unique_name: Callable
) -> None:
    base = unique_name("cli")
    runner = CliRunner()
    first = runner.invoke(main, ["init", "--index", base], env=cli_env)
    assert first.exit_code == 0, first.output
    assert f"created index {base}-indexer-state" in first.output
    second = runner.invoke(main, ["init", "--index", base], env=cli_env)
    assert second.exit_code == 0, second.output
    assert "nothing to change" in second.output
    assert "created" not in second.output


def test_an_invalid_base_is_a_usage_error(cli_env: dict[str, str], os_client: OpenSearch) -> None:
    result = CliRunner().invoke(main, ["init", "--index", "Jobs*"], env=cli_env)
    assert result.exit_code == 2
    assert "Jobs*" in result.output


def test_live_index_of_an_uninitialised_base(os_client: OpenSearch, unique_name: Callable) -> None:
    with pytest.raises(NotInitialisedError, match="jobo-indexer init"):
        live_physical_index(os_client, unique_name("none"))


# --------------------------------------------------------------------------- migrate


def test_migrate_under_concurrent_reads_and_writes(
    os_client: OpenSearch, unique_name: Callable
) -> None:
    names = ensure_initialised(os_client, unique_name("mig"))
    old = live_physical_index(os_client, names.base)
    originals = [raw_job(number) for number in range(300)]
    load(os_client, names, originals)
    original_ids = [job["id"] for job in originals]

    reader = _Reader(os_client, names.read_alias, original_ids)
    updates = [raw_job(n, updated="2026-10-05T00:00:00Z", title="v2") for n in range(0, 300, 5)]
    additions = [raw_job(1000 + n, updated="2026-10-05T00:00:00Z") for n in range(40)]
    writer = threading.Thread(
        target=lambda: [write(os_client, names, j) for j in updates + additions]
    )
    reader.start()
    assert reader.first_read.wait(30), "the reader never completed a read"
    writer.start()
    report = migrate(os_client, names.base)
    writer.join()
    reader.stop()

    assert reader.failures == []
    assert reader.reads > 0
    assert reader.indices_seen == {old, report.new_index}
    new = report.new_index
    assert live_physical_index(os_client, names.base) == new
    assert os_client.indices.exists(index=old)  # kept until --delete-old, sealed against writes
    with pytest.raises(AuthorizationException, match="cluster_block_exception"):
        os_client.index(index=old, id="late", body=to_document(raw_job(9999), indexed_at=NOW))
    os_client.indices.refresh(index=names.write_alias)
    everything = os_client.search(
        index=names.all_alias, body={"size": 1000, "version": True, "query": {"match_all": {}}}
    )["hits"]["hits"]
    assert {hit["_index"] for hit in everything} == {new}
    by_id = {hit["_id"]: hit for hit in everything}
    assert set(by_id) == set(original_ids) | {job["id"] for job in additions}
    for job in updates:  # newer writes were neither lost nor overwritten by older copies
        assert by_id[job["id"]]["_source"]["title"] == "v2"
        assert by_id[job["id"]]["_version"] == version_of(job)
    untouched = originals[1]
    assert by_id[untouched["id"]]["_version"] == version_of(untouched)


class _Reader(threading.Thread):
    """Reads the read alias in a loop; every read must see every original document."""

    def __init__(self, client: OpenSearch, alias: str, expected_ids: list[str]) -> None:
        super().__init__(daemon=True)
        self.client, self.alias, self.expected = client, alias, set(expected_ids)
        self.first_read = threading.Event()
        self.stopping = threading.Event()
        self.failures: list[str] = []
        self.indices_seen: set[str] = set()
        self.reads = 0

    def run(self) -> None:
        while True:
            final = self.stopping.is_set()
            self._read_once()
            self.first_read.set()
            if final:
                return
            self.stopping.wait(0.01)  # leave the node some room for the migration itself

    def _read_once(self) -> None:
        body = {"size": 1000, "_source": False, "query": {"ids": {"values": sorted(self.expected)}}}
        try:
            hits = self.client.search(index=self.alias, body=body)["hits"]["hits"]
        except Exception as error:  # a failed read is exactly what this test must not see
            self.failures.append(repr(error))
            return
        self.reads += 1
        self.indices_seen.update(hit["_index"] for hit in hits)
        missing = self.expected - {hit["_id"] for hit in hits}
        if missing:
            self.failures.append(f"{len(missing)} documents missing, e.g. {sorted(missing)[0]}")

    def stop(self) -> None:
        self.stopping.set()
        self.join(60)


def test_migrate_resumes_and_keeps_newer_writes(
    os_client: OpenSearch, unique_name: Callable
) -> None:
    names = ensure_initialised(os_client, unique_name("resume"))
    old = live_physical_index(os_client, names.base)
    first = raw_job(1, updated="2026-10-01T00:00:00Z", title="old copy")
    write(os_client, names, first)
    write(os_client, names, raw_job(2))
    # A migration that crashed right after moving the write alias:
    new = f"{names.base}-v{load_jobs_mapping().version}-20000101000000"
    os_client.indices.create(index=new, body=load_jobs_mapping().index_body())
    os_client.indices.update_aliases(
        body={
            "actions": [
                {"remove": {"index": old, "alias": names.write_alias}},
                {"add": {"index": new, "alias": names.write_alias, "is_write_index": True}},
            ]
        }
    )
    newer = raw_job(1, updated="2026-10-09T00:00:00Z", title="newer write")
    write(os_client, names, newer)
    drift = init_index(os_client, names.base).drift
    assert any("did not finish" in note for note in drift)

    report = migrate(os_client, names.base, delete_old=True)

    assert report.resumed
    assert report.new_index == new
    assert report.kept_newer == 1
    assert report.deleted_old
    assert not os_client.indices.exists(index=old)
    kept = os_client.get(index=names.read_alias, id=first["id"])
    assert kept["_source"]["title"] == "newer write"
    assert kept["_version"] == version_of(newer)
    assert os_client.count(index=names.read_alias)["count"] == 2


def test_migrate_reuses_the_target_of_a_migration_that_stopped_early(
    os_client: OpenSearch, unique_name: Callable
) -> None:
    names = ensure_initialised(os_client, unique_name("orphan"))
    old = live_physical_index(os_client, names.base)
    load(os_client, names, [raw_job(n) for n in range(5)])
    # A migration that crashed right after creating its target index, before any alias moved:
    target = f"{names.base}-v{load_jobs_mapping().version}-29991231235959"
    os_client.indices.create(index=target, body=load_jobs_mapping().index_body())
    report = migrate(os_client, names.base)
    assert report.resumed
    assert report.new_index == target
    assert physical_indices(os_client, names.base) == [old, target]
    assert os_client.count(index=names.read_alias)["count"] == 5


def test_cli_migrate_with_delete_old(
    cli_env: dict[str, str], os_client: OpenSearch, unique_name: Callable
) -> None:
    names = ensure_initialised(os_client, unique_name("climig"))
    old = live_physical_index(os_client, names.base)
    write(os_client, names, raw_job(7), refresh=True)
    result = CliRunner().invoke(
        main, ["migrate", "--index", names.base, "--rebuild", "--delete-old", "--json"], env=cli_env
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["old_index"] == old
    assert summary["copied"] == 1
    assert summary["deleted_old"] is True
    assert physical_indices(os_client, names.base) == [summary["new_index"]]
    assert os_client.count(index=names.read_alias)["count"] == 1
    assert init_index(os_client, names.base).changed is False


def test_migrate_refuses_an_uninitialised_base(
    cli_env: dict[str, str], os_client: OpenSearch, unique_name: Callable
) -> None:
    result = CliRunner().invoke(main, ["migrate", "--index", unique_name("bare")], env=cli_env)
    assert result.exit_code != 0
    assert "jobo-indexer init" in result.output


# --------------------------------------------------------------------------- bulk load


def _index_settings(client: OpenSearch, index: str) -> tuple[str | None, str]:
    values = client.indices.get_settings(index=index)[index]["settings"]["index"]
    return values.get("refresh_interval"), values["number_of_replicas"]


def test_bulk_load_settings_are_entered_and_restored(
    os_client: OpenSearch, unique_name: Callable
) -> None:
    names = ensure_initialised(os_client, unique_name("bulk"))
    physical = live_physical_index(os_client, names.base)
    enter_bulk_load(os_client, names.write_alias)
    assert _index_settings(os_client, physical) == ("-1", "0")
    enter_bulk_load(os_client, names.write_alias)  # twice: the first recorded values survive
    assert exit_bulk_load(os_client, names.write_alias) is True
    assert _index_settings(os_client, physical) == ("1s", "0")
    meta = os_client.indices.get_mapping(index=physical)[physical]["mappings"]["_meta"]
    assert BULK_LOAD_META_KEY not in meta
    assert meta["digest"] == load_jobs_mapping().digest
    assert exit_bulk_load(os_client, names.write_alias) is False


def test_restore_after_crash_puts_settings_back(
    os_client: OpenSearch, unique_name: Callable, opensearch_url: str
) -> None:
    names = ensure_initialised(os_client, unique_name("crash"))
    physical = live_physical_index(os_client, names.base)
    enter_bulk_load(os_client, physical)
    # ... the process dies here; the next start uses a fresh client:
    restarted = connect(opensearch_url)
    assert restore_after_crash(restarted, names.base) == [physical]
    assert _index_settings(restarted, physical) == ("1s", "0")
    assert restore_after_crash(restarted, names.base) == []
    assert init_index(restarted, names.base).drift == []
