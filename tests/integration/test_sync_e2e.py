"""End-to-end: the real CLI, the real OpenSearch node, the feed simulator over real HTTP.

Each test ends with an exact comparison of the index with the simulator's ``/_sim/truth``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opensearchpy import OpenSearch, TransportError

from indexer.store.state import LeaseLock, StateStore
from tests.support.e2e import Indexer, Sim, assert_exact, index_docs, simulated_envs

pytestmark = pytest.mark.integration

API_KEY = "e2e-secret-key-123"


@pytest.fixture
def make_env(opensearch_url: str, unique_name, tmp_path: Path) -> Iterator:
    with simulated_envs(
        opensearch_url,
        unique_name,
        tmp_path / "work",
        api_key=API_KEY,
        prefix="e2e",
        jobs=600,
        seed=7,
    ) as make:
        yield make


def feed_requests(sim: Sim) -> int:
    counts = sim.stats()["requests"]
    return sum(n for key, n in _flatten(counts) if "/api/jobs/feed" in key)


def _flatten(counts, prefix: str = ""):
    if isinstance(counts, dict):
        for key, value in counts.items():
            yield from _flatten(value, f"{prefix}{key} ")
    else:
        yield prefix, counts


def test_backfill_indexes_the_whole_feed_exactly(make_env, os_client: OpenSearch) -> None:
    env = make_env(jobs=1200)
    summary = env.run("backfill", "--batch-size", "250")
    assert summary["outcome"] == "success"
    truth = env.sim.truth()
    assert summary["fetched"] == len(truth["active"])
    assert summary["indexed"] == len(truth["active"])
    assert summary["pages"] == 5
    assert_exact(os_client, env.base, env.sim)
    requests_before = feed_requests(env.sim)
    skipped = env.run("backfill", "--batch-size", "250")  # completed: not paid for again
    assert skipped["outcome"] == "skipped"
    assert "`sync`" in skipped["message"]
    assert "`resync`" in skipped["message"]
    assert feed_requests(env.sim) == requests_before
    again = env.run("backfill", "--batch-size", "250", "--restart")  # on purpose: a new scan
    assert again["outcome"] == "success"
    assert again["indexed"] == 0
    assert again["unchanged"] == len(truth["active"])


def test_backfill_killed_mid_way_resumes_with_fewer_feed_requests(
    make_env, os_client: OpenSearch
) -> None:
    env = make_env(jobs=2000, latency_ms=150)
    args = env.args("backfill", "--batch-size", "100")
    child = subprocess.Popen(
        [sys.executable, "-m", "indexer", *args],
        env={**os.environ, "PYTHONPATH": str(Path.cwd())},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    state = StateStore(os_client, f"{env.base}-indexer-state")
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                found = state.load("backfill")
            except TransportError:  # the state index is still being created by the child
                found = None
            if found and found.doc.get("pages", 0) >= 6:
                break
            assert child.poll() is None, "the backfill ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        child.kill()  # SIGKILL: no chance to clean up
        child.wait()
    time.sleep(0.5)  # requests the child had in flight finish on the simulator's side
    acknowledged = state.load("backfill").doc["pages"]
    assert not state.load("backfill").doc["completed"]
    before = feed_requests(env.sim)
    summary = env.run("backfill", "--batch-size", "100")
    resumed_requests = feed_requests(env.sim) - before
    assert summary["outcome"] == "success"
    assert_exact(os_client, env.base, env.sim)
    # A fresh start of the same scan, into another index, for comparison.
    fresh = Indexer(env.opensearch_url, env.sim, env.base + "-fresh", env.work_dir)
    before = feed_requests(env.sim)
    fresh.run("backfill", "--batch-size", "100")
    fresh_requests = feed_requests(env.sim) - before
    assert resumed_requests <= fresh_requests - acknowledged
    assert resumed_requests < fresh_requests
    # The killed run's lease named a dead process on this host: the resume took it over.
    assert LeaseLock(state).holder() is None


def test_sync_catches_creates_edits_late_changes_expiries_and_reposts(
    make_env, os_client: OpenSearch
) -> None:
    env = make_env(jobs=800)
    env.run("backfill")
    env.sim.mutate(create=40, update=60, expire=30)
    env.sim.mutate(update=10, lag_minutes=10)  # late-arriving: stamped 10 minutes ago
    first = env.run("sync")
    assert first["outcome"] == "success"
    assert first["indexed"] >= 40 + 60 + 10
    assert first["expired"] == 30
    assert_exact(os_client, env.base, env.sim)
    reposted = env.sim.mutate(repost=15)["reposted"]
    env.sim.mutate(expire=5)
    second = env.run("sync")
    docs = assert_exact(os_client, env.base, env.sim)
    assert all(docs[i]["status"] == "active" for i in reposted)
    assert second["expired"] == 5


def test_replayed_overlapping_pages_never_roll_back(make_env, os_client: OpenSearch) -> None:
    env = make_env(jobs=500)
    env.run("backfill")
    env.sim.mutate(update=50)
    env.run("sync")
    # Every later sync re-reads the overlap window: the same versions again, written 0 times.
    replay = env.run("sync", "--overlap", "1d")
    assert replay["fetched"] >= 50
    assert replay["indexed"] == 0
    assert replay["unchanged"] == replay["fetched"]
    assert_exact(os_client, env.base, env.sim)


def test_resync_expires_ids_the_feed_no_longer_has(make_env, os_client: OpenSearch) -> None:
    env = make_env(jobs=600)
    env.run("backfill")
    gone = env.sim.mutate(expire=20)["expired"]
    summary = env.run("resync")
    assert summary["outcome"] == "success"
    assert summary["expired"] == 20
    docs = assert_exact(os_client, env.base, env.sim)
    assert all(docs[i]["status"] == "expired" for i in gone)


def test_resync_refuses_to_expire_after_a_page_fails_mid_scan(
    make_env, os_client: OpenSearch
) -> None:
    env = make_env(jobs=600)
    env.run("backfill")
    gone = env.sim.mutate(expire=20)["expired"]
    env.sim.fault(path="/api/jobs/feed", status=500, times=1000, after=2)
    failed = env.run("resync", "--batch-size", "100", "--upstream-retries", "2", expect=5)
    assert failed["outcome"] == "failed"
    docs = index_docs(os_client, env.base)
    assert all(docs[i]["status"] == "active" for i in gone), "expired on partial evidence"
    env.sim.call("DELETE", "/_sim/faults")
    resumed = env.run("resync", "--batch-size", "100")
    assert resumed["expired"] == 20
    assert_exact(os_client, env.base, env.sim)


def test_resync_refuses_a_large_expiry_without_force(make_env, os_client: OpenSearch) -> None:
    env = make_env(jobs=300)
    env.run("backfill")
    env.sim.mutate(expire=100)
    refused = env.run("resync", expect=8)
    assert "max-expire-fraction" in refused["error"]
    assert os_client.count(index=env.base)["count"] == 300  # nothing expired
    forced = env.run("resync", "--force")
    assert forced["expired"] == 100
    assert_exact(os_client, env.base, env.sim)


def test_a_second_concurrent_sync_is_refused_by_the_lock(make_env, os_client: OpenSearch) -> None:
    env = make_env(jobs=100)
    env.run("init")
    lock = LeaseLock(StateStore(os_client, f"{env.base}-indexer-state"))
    lock.acquire()
    try:
        refused = env.run("sync", expect=3)
        assert "lock" in refused["error"]
    finally:
        lock.release()
    assert env.run("sync")["outcome"] == "success"


def test_invalid_cursor_restarts_the_scan_and_completes(make_env, os_client: OpenSearch) -> None:
    env = make_env(jobs=700)
    env.sim.fault(path="/api/jobs/feed", status=400, times=1, after=3)
    summary = env.run("backfill", "--batch-size", "100")
    assert summary["cursor_restarts"] == 1
    assert summary["outcome"] == "success"
    assert_exact(os_client, env.base, env.sim)


def test_a_503_storm_is_waited_out(make_env, os_client: OpenSearch) -> None:
    env = make_env(jobs=500)
    env.sim.fault(path="/api/jobs/feed", status=503, times=4)
    summary = env.run("backfill")
    assert summary["outcome"] == "success"
    assert_exact(os_client, env.base, env.sim)


def test_malformed_jobs_are_dead_lettered_while_their_page_lands(
    make_env, os_client: OpenSearch
) -> None:
    env = make_env(jobs=400)
    env.sim.fault(malformed_jobs=7, after=1)  # past the backfill's 1-job cost estimate
    summary = env.run("backfill")
    assert summary["dead_lettered"] == 7
    assert summary["indexed"] == 400
    assert_exact(os_client, env.base, env.sim)
    os_client.indices.refresh(index=f"{env.base}-dead-letters")
    letters = os_client.search(index=f"{env.base}-dead-letters", body={"size": 20})["hits"]["hits"]
    assert len(letters) == 7
    assert all(hit["_source"]["reason"] for hit in letters)


def test_status_reports_watermark_runs_counts_and_lock(make_env, os_client: OpenSearch) -> None:
    env = make_env(jobs=300)
    env.sim.fault(malformed_jobs=2, after=1)  # past the backfill's 1-job cost estimate
    env.run("backfill")
    env.sim.mutate(expire=10)
    env.run("sync")
    os_client.indices.refresh(index=f"{env.base}-all,{env.base}-dead-letters")
    status = env.run("status")
    truth = env.sim.truth()
    assert status["active"] == len(truth["active"])
    assert status["expired"] >= 10
    assert status["dead_letters"] == 2
    for field in ("watermark", "last_sweep_at", "backfill_completed_at"):
        assert status[field], field
    assert status["lock"] is None
    kinds = [run["kind"] for run in status["last_runs"]]
    assert kinds[:2] == ["sync", "backfill"]
    assert all(run["outcome"] == "success" for run in status["last_runs"][:2])
    text = env.invoke("status").output
    assert f"{len(truth['active'])} active" in text
    assert "watermark" in text


def test_sigterm_finishes_the_batch_stores_state_and_exits_0(
    make_env, os_client: OpenSearch
) -> None:
    env = make_env(jobs=3000, latency_ms=200)
    child = subprocess.Popen(
        [sys.executable, "-m", "indexer", *env.args("run", "--batch-size", "100", "--every", "1h")],
        env={**os.environ, "PYTHONPATH": str(Path.cwd())},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    state = StateStore(os_client, f"{env.base}-indexer-state")
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                found = state.load("backfill")
            except TransportError:
                found = None
            if found and found.doc.get("pages", 0) >= 3:
                break
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        child.send_signal(signal.SIGTERM)
        _out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    assert "finishing the current batch" in err
    checkpoint = state.load("backfill").doc
    assert not checkpoint["completed"]
    assert 3 <= checkpoint["pages"] < 30
    assert LeaseLock(state).holder() is None  # released on the way out
    resumed = env.run("backfill", "--batch-size", "100")
    assert resumed["outcome"] == "success"
    assert resumed["pages"] == 30 - checkpoint["pages"]
    assert_exact(os_client, env.base, env.sim)


def test_resync_sends_only_what_changed(make_env, os_client: OpenSearch) -> None:
    env = make_env(jobs=500)
    env.run("backfill")
    quiet = env.run("resync")
    assert quiet["fetched"] == 500
    assert quiet["written"] == 0
    assert quiet["unchanged"] == 500
    changed = env.sim.mutate(update=7, create=3)
    busy = env.run("resync")
    assert busy["indexed"] == 10
    assert busy["unchanged"] == busy["fetched"] - 10
    docs = assert_exact(os_client, env.base, env.sim)
    assert all(docs[i]["status"] == "active" for i in changed["updated"] + changed["created"])


def test_a_resumed_sync_catches_up_on_changes_made_since_it_began(
    make_env, os_client: OpenSearch
) -> None:
    env = make_env(jobs=1500, latency_ms=150)
    env.run("backfill")
    env.sim.mutate(update=400)  # an incremental of 8 pages of 50
    child = subprocess.Popen(
        [sys.executable, "-m", "indexer", *env.args("sync", "--batch-size", "50")],
        env={**os.environ, "PYTHONPATH": str(Path.cwd())},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    state = StateStore(os_client, f"{env.base}-indexer-state")
    try:
        deadline = time.monotonic() + 120
        while True:
            found = state.load("incremental")
            if found and found.doc.get("pages", 0) >= 3 and not found.doc.get("completed"):
                break
            assert child.poll() is None, "the sync ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        child.kill()
        child.wait()
    # Changes made after the killed run began, on pages its scan had already passed too.
    later = env.sim.mutate(update=200)["updated"]
    resumed = env.run("sync", "--batch-size", "50")
    docs = assert_exact(os_client, env.base, env.sim)
    truth = env.sim.truth()["active"]
    assert all(docs[i]["updated_at"] == truth[i] for i in later)
    assert any("catch-up" in step for step in resumed["steps"])
