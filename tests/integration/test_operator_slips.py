"""Slips an operator makes every week, through the real CLI against the real node and the feed
simulator: each must end in a clear refusal or a right answer, never in lost money or data."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.cli import main
from indexer.store.schema import physical_indices
from indexer.store.state import LeaseLock, StateStore
from indexer.transform import to_document, version_of
from tests.support.e2e import Indexer, Sim, run_until_pages, simulated_envs

pytestmark = pytest.mark.integration

API_KEY = "slips-secret-key-42"


@pytest.fixture
def make_env(opensearch_url: str, unique_name, tmp_path: Path) -> Iterator:
    with simulated_envs(
        opensearch_url, unique_name, tmp_path, api_key=API_KEY, prefix="slip", jobs=120, seed=11
    ) as make:
        yield make


def test_compound_durations_reach_the_run(make_env) -> None:
    env = make_env()
    env.run("init")
    env.run("sync", "--overlap", "1h30m")
    last = env.run("status")["last_runs"][0]
    assert last["params"]["overlap_s"] == 5400.0


# --------------------------------------------------------------------------- migrate


def cli(opensearch_url: str, *args: str, expect: int = 0) -> dict:
    result = CliRunner().invoke(main, [*args, "--opensearch-url", opensearch_url, "--json"])
    assert result.exit_code == expect, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_migrate_without_drift_changes_nothing(opensearch_url, os_client, unique_name) -> None:
    base = unique_name("mig")
    cli(opensearch_url, "init", "--index", base)
    before = physical_indices(os_client, base)
    summary = cli(opensearch_url, "migrate", "--index", base)
    assert summary["outcome"] == "up_to_date"
    assert summary["copied"] is None
    assert physical_indices(os_client, base) == before  # no copy, no orphan
    text = CliRunner().invoke(
        main, ["migrate", "--index", base, "--opensearch-url", opensearch_url]
    )
    assert "nothing to migrate" in text.output
    assert "--rebuild" in text.output


def test_migrate_runs_on_drift_and_orphans_are_listed_and_deleted_alone(
    opensearch_url, os_client, unique_name
) -> None:
    base = unique_name("mig")
    cli(opensearch_url, "init", "--index", base)
    (old,) = physical_indices(os_client, base)
    os_client.index(index=f"{base}-write", id="a", body={"id": "a"}, params={"refresh": "true"})
    # The live index no longer matches mappings/ (as after editing the mapping file):
    os_client.indices.put_mapping(index=old, body={"_meta": {"version": 0, "digest": "stale"}})
    migrated = cli(opensearch_url, "migrate", "--index", base)
    assert migrated["outcome"] == "migrated"
    assert "stale" in migrated["reason"]
    assert migrated["copied"] == 1
    new = migrated["new_index"]
    assert physical_indices(os_client, base) == [old, new]

    listed = cli(opensearch_url, "migrate", "--index", base, "--list-orphans")
    assert [o["index"] for o in listed["orphans"]] == [old]
    assert listed["orphans"][0]["documents"] == 1
    assert physical_indices(os_client, base) == [old, new]  # listing changes nothing

    deleted = cli(opensearch_url, "migrate", "--index", base, "--delete-old")
    assert deleted["outcome"] == "up_to_date"  # no second migration
    assert deleted["copied"] is None
    assert deleted["deleted"] == [old]
    assert physical_indices(os_client, base) == [new]
    assert os_client.count(index=f"{base}-all")["count"] == 1
    assert cli(opensearch_url, "migrate", "--index", base, "--list-orphans")["orphans"] == []


# --------------------------------------------------------------------------- search


def springfield(number: int, region: str, lat: float, lon: float) -> dict:
    return {
        "id": f"spr-{number}",
        "title": f"Data engineer {number}",
        "updated_at": f"2026-10-{number + 1:02d}T00:00:00Z",
        "locations": [
            {
                "city": "Springfield",
                "region": region,
                "country": "US",
                "latitude": lat,
                "longitude": lon,
            }
        ],
    }


@pytest.fixture
def springfields(opensearch_url, os_client, unique_name) -> str:
    base = unique_name("spr")
    cli(opensearch_url, "init", "--index", base)
    jobs = [springfield(n, "IL", 39.78, -89.65) for n in range(3)]
    jobs += [springfield(n, "MO", 37.21, -93.29) for n in range(3, 5)]
    now = datetime(2026, 11, 1, tzinfo=UTC)
    for job in jobs:
        os_client.index(
            index=f"{base}-write",
            id=job["id"],
            body=to_document(job, indexed_at=now),
            version=version_of(job),
            version_type="external",
        )
    os_client.indices.refresh(index=f"{base}-all")
    return base


def search_cli(opensearch_url: str, base: str, *args: str):
    argv = ["search", *args, "--index", base, "--opensearch-url", opensearch_url]
    return CliRunner().invoke(main, argv)


def test_an_ambiguous_near_city_lists_the_places_and_how_to_pick_one(
    opensearch_url, springfields
) -> None:
    refused = search_cli(opensearch_url, springfields, "--near-city", "Springfield")
    assert refused.exit_code == 2, refused.output
    assert '"Springfield, IL" (US, 3 locations)' in refused.output
    assert '"Springfield, MO" (US, 2 locations)' in refused.output
    assert "--country" in refused.output
    picked = search_cli(
        opensearch_url, springfields, "--near-city", "Springfield, MO", "--radius", "20km", "--json"
    )
    assert picked.exit_code == 0, picked.output
    page = json.loads(picked.output)
    assert sorted(hit["id"] for hit in page["hits"]) == ["spr-3", "spr-4"]
    assert abs(page["near"]["lat"] - 37.21) < 0.01


def test_an_after_token_of_another_query_or_sort_is_refused(opensearch_url, springfields) -> None:
    first = search_cli(
        opensearch_url, springfields, "engineer", "--size", "2", "--sort", "recency", "--json"
    )
    token = json.loads(first.output)["next_after"]
    assert token
    same = search_cli(
        opensearch_url,
        springfields,
        "engineer",
        "--size",
        "2",
        "--sort",
        "recency",
        "--after",
        token,
        "--json",
    )
    assert same.exit_code == 0, same.output
    assert len(json.loads(same.output)["hits"]) == 2
    for other in (["engineer", "--sort", "salary"], ["analyst", "--sort", "recency"]):
        refused = search_cli(opensearch_url, springfields, *other, "--after", token)
        assert refused.exit_code == 2, refused.output
        assert "--after" in refused.output
        assert "another search" in refused.output
    garbage = search_cli(opensearch_url, springfields, "engineer", "--after", "xyz")
    assert garbage.exit_code == 2
    assert "search_after" not in garbage.output  # the option, not the internal name


# --------------------------------------------------------------------------- flows


def feed_requests(sim: Sim) -> int:
    requests = sim.stats()["requests"]  # {path: {status: count}}
    return sum(sum(by_status.values()) for path, by_status in requests.items() if "/api/" in path)


def indices_of(os_client, base: str) -> list[str]:
    return sorted(os_client.indices.get(index=f"{base}*", expand_wildcards="all"))


@pytest.mark.parametrize("command", ["backfill", "sync", "expire", "resync", "run"])
def test_a_flow_refuses_an_index_nobody_initialised(make_env, os_client, command) -> None:
    env = make_env()
    env.create_index = False
    extra = ["--max-cycles", "1"] if command == "run" else []
    refused = env.run(command, *extra, expect=2)
    assert refused["outcome"] == "failed"
    assert refused["exit_code"] == 2
    assert f"jobo-indexer init --index {env.base}" in refused["error"]
    assert "--create-index" in refused["error"]
    assert indices_of(os_client, env.base) == []  # nothing created
    assert feed_requests(env.sim) == 0  # nothing fetched (nothing paid)
    text = env.invoke(command, *extra)
    assert text.exit_code == 2
    assert "never initialised" in text.output


def test_create_index_creates_the_layout_on_request(make_env, os_client) -> None:
    env = make_env()
    env.create_index = False
    created = env.run("sync", "--create-index")
    assert created["outcome"] == "success"
    assert created["indexed"] == len(env.sim.truth()["active"])
    assert f"{env.base}-indexer-state" in indices_of(os_client, env.base)


def test_a_completed_backfill_is_not_paid_for_again(make_env) -> None:
    env = make_env(subscription=False, credits=1000)
    first = env.run("backfill")
    assert first["outcome"] == "success"
    balance, requests = env.sim.stats()["credits_balance"], feed_requests(env.sim)
    second = env.invoke("backfill")
    assert second.exit_code == 0, second.output
    assert "backfill skipped" in second.output
    assert "`sync`" in second.output
    assert "`resync`" in second.output
    assert "--restart" in second.output
    assert feed_requests(env.sim) == requests
    assert env.sim.stats()["credits_balance"] == balance


def lock_as(os_client, base: str, owner: str, ttl: timedelta = timedelta(minutes=5)) -> LeaseLock:
    lock = LeaseLock(StateStore(os_client, f"{base}-indexer-state"), owner=owner, ttl=ttl)
    lock.acquire()
    return lock


def status(env: Indexer, *args: str, expect: int = 0) -> tuple[dict, str]:
    data = env.run("status", *args, expect=expect)
    text = env.invoke("status", *args).output
    return data, text


def test_force_unlock_refuses_a_live_holder_and_says_whose_lock_it_is(make_env, os_client) -> None:
    env = make_env()
    env.run("init")
    here = socket.gethostname()
    live = lock_as(os_client, env.base, f"{here}:{os.getpid()}:live")  # this process: alive
    refused, text = status(env, "--force-unlock", expect=3)
    assert refused["exit_code"] == 3
    assert f"{here}:{os.getpid()}:live" in refused["error"]
    assert f"pid {os.getpid()}" in refused["error"]
    assert "alive" in refused["error"]
    assert "nothing was removed" in text
    held = env.run("status")["lock"]
    assert held["owner"] == f"{here}:{os.getpid()}:live"
    assert held["pid"] == os.getpid()
    assert held["process"] == "running"
    live.release()

    elsewhere = lock_as(os_client, env.base, "other-host:4242:fresh")
    refused, _ = status(env, "--force-unlock", expect=3)
    assert "other-host" in refused["error"]
    assert "lease is fresh" in refused["error"]
    assert env.run("status")["lock"]["host"] == "other-host"
    elsewhere.release()


def test_force_unlock_removes_a_dead_holder_and_says_what_it_removed(make_env, os_client) -> None:
    env = make_env()
    env.run("init")
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    owner = f"{socket.gethostname()}:{gone.stdout.strip()}:dead"
    lock_as(os_client, env.base, owner)
    removed = env.run("status", "--force-unlock")
    assert removed["unlocked"]["owner"] == owner
    assert removed["lock"] is None
    lock_as(os_client, env.base, "other-host:7:stale", ttl=timedelta(seconds=-1))
    text = env.invoke("status", "--force-unlock")
    assert text.exit_code == 0, text.output
    assert "removed the lock held by other-host:7:stale" in text.output
    assert env.run("status")["lock"] is None


def test_status_reads_like_text_and_its_json_is_typed(make_env, os_client) -> None:
    env = make_env()
    unknown, text = status(env, expect=2)
    assert "jobo-indexer init" in unknown["error"]
    env.run("init")
    data, text = status(env)
    for junk in ("None", "LockHolder(", "datetime.datetime", "{'"):
        assert junk not in text, junk
    assert "last resync: never" in text
    assert "lock: free" in text
    assert data["lock"] is None
    env.run("backfill")
    assert "last 1 run:" in status(env)[1]  # not "1 runs"
    failed = CliRunner().invoke(main, env.args("sync", "--api-key", "wrong-key", "--json"))
    assert failed.exit_code == 4, failed.output
    data, text = status(env)
    last = data["last_runs"][0]
    assert last["kind"] == "sync"
    assert last["outcome"] == "failed"
    assert last["exit_code"] == 4
    assert last["reason"]
    assert "failed (exit 4)" in text
    assert f"reason: {last['reason']}" in text
    assert data["last_runs"][1]["counts"]["indexed"] == data["active"]
    assert "last 2 runs:" in text


def test_status_counts_right_after_a_killed_backfill(make_env, os_client) -> None:
    env = make_env(jobs=1500, latency_ms=200)
    env.run("init")
    state = StateStore(os_client, f"{env.base}-indexer-state")
    run_until_pages(
        env, state, "backfill", 3, "backfill", "--batch-size", "100", stop=signal.SIGKILL
    )
    acknowledged = state.load("backfill").doc["jobs"]
    assert 0 < acknowledged < 1500
    data, text = status(env)
    assert data["active"] >= acknowledged  # refresh was off (bulk load): counted anyway
    assert data["last_runs"][0]["outcome"] == "interrupted"
    assert "interrupted" in text
    assert "in progress:" in text


def test_a_work_dir_that_cannot_be_created_names_the_path_and_the_option(make_env, tmp_path):
    env = make_env()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = CliRunner().invoke(main, [*env.args("resync"), "--work-dir", str(blocker / "sub")])
    assert result.exit_code == 2, result.output
    assert "'--work-dir'" in result.output
    assert str(blocker / "sub") in result.output
    assert "JOBO_INDEXER_WORK_DIR" in result.output


def test_a_resync_resumed_with_another_work_dir_is_refused(make_env, os_client, tmp_path) -> None:
    env = make_env(jobs=1200, latency_ms=200)
    env.run("backfill")
    state = StateStore(os_client, f"{env.base}-indexer-state")
    # SIGTERM: the child stops after its batch, leaving a resync in progress.
    run_until_pages(env, state, "resync", 2, "resync", "--batch-size", "100", stop=signal.SIGTERM)
    requests = feed_requests(env.sim)
    other = tmp_path / "elsewhere"
    args = env.args("resync", "--batch-size", "100", "--json")
    refused = CliRunner().invoke(main, [*args, "--work-dir", str(other)])
    assert refused.exit_code == 2, refused.output
    error = json.loads(refused.stdout.strip().splitlines()[-1])["error"]
    assert str(env.work_dir) in error
    assert "--restart" in error
    assert feed_requests(env.sim) == requests  # nothing fetched
    resumed = env.run("resync", "--batch-size", "100")  # the same resync, its own work dir
    assert resumed["outcome"] == "success"
    assert any("resumed" in step for step in resumed["steps"])
