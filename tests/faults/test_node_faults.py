"""OpenSearch faults on the dedicated node: SIGKILL mid-backfill, a write block, bulk rejections.

Each case ends with an exact comparison of the index with the simulator's ``/_sim/truth``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from opensearchpy import TransportError

from indexer.store.state import LeaseLock, StateStore
from tests.faults.conftest import FAST_UPSTREAM, REPO, FaultEnv, FaultNode
from tests.support.e2e import assert_exact

pytestmark = pytest.mark.faults


def wait_for_pages(state: StateStore, key: str, pages: int, child: subprocess.Popen) -> None:
    deadline = time.monotonic() + 180
    while True:
        try:
            found = state.load(key)
        except TransportError:  # the child is still creating the state index
            found = None
        if found and found.doc.get("pages", 0) >= pages:
            return
        assert child.poll() is None, "the run ended before the fault could be injected"
        assert time.monotonic() < deadline, f"{key} never reached {pages} pages"
        time.sleep(0.05)


def test_node_sigkilled_mid_backfill_fails_cleanly_and_the_next_run_resumes(
    fault_env: Callable[..., FaultEnv],
) -> None:
    env = fault_env(jobs=1000, latency_ms=60)
    args = env.indexer.args("backfill", "--batch-size", "50", "--json", *FAST_UPSTREAM)
    child = subprocess.Popen(
        [sys.executable, "-m", "indexer", *args],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    state = StateStore(env.client, f"{env.base}-indexer-state")
    try:
        wait_for_pages(state, "backfill", 5, child)
        env.node.kill()
        out, err = child.communicate(timeout=300)
    finally:
        child.kill()
    # Failed cleanly: the OpenSearch exit code and one clear line, no traceback.
    assert child.returncode == 6, (child.returncode, out, err[-3000:])
    failure = json.loads(out.strip().splitlines()[-1])
    assert failure["outcome"] == "failed"
    # The bulk writer's own message survives (not a bare ConnectionError from the clean-up).
    assert "re-run the same command" in failure["error"], (failure["error"], err[-3000:])
    assert "OpenSearch is up" in failure["error"]
    env.node.start(env.node.settings or "")
    acknowledged = state.load("backfill").doc
    assert not acknowledged["completed"]
    assert acknowledged["pages"] >= 5
    resumed = env.run("backfill", "--batch-size", "50")
    assert resumed["outcome"] == "success"
    assert any("resumed at page" in step for step in resumed["steps"]), resumed["steps"]
    # Only the pages after the last acknowledged one were fetched again (plus in-flight ones).
    assert resumed["pages"] <= 20 - acknowledged["pages"]
    assert_exact(env.client, env.base, env.sim)
    # The killed run's lease and bulk-load settings did not outlive the resume.
    assert LeaseLock(state).holder() is None
    settings = env.client.indices.get_settings(index=env.physical_index())
    index_settings = next(iter(settings.values()))["settings"]["index"]
    assert index_settings.get("refresh_interval") != "-1"


def test_write_block_fails_with_exit_6_keeps_state_and_the_next_run_recovers(
    fault_env: Callable[..., FaultEnv],
) -> None:
    env = fault_env(jobs=400)
    env.run("backfill")
    env.sim.mutate(create=20, update=20, expire=10)
    state = StateStore(env.client, f"{env.base}-indexer-state")
    before = state.load("sync")
    physical = env.physical_index()
    env.client.indices.put_settings(index=physical, body={"index.blocks.write": True})
    try:
        failed = env.run("sync", expect=6)
    finally:
        env.client.indices.put_settings(index=physical, body={"index.blocks.write": None})
    assert failed["outcome"] == "failed"
    assert physical in failed["error"], failed["error"]
    assert '"index.blocks.write": null' in failed["error"], failed["error"]
    after = state.load("sync")
    assert after.doc == before.doc, "the watermark moved although the run failed"
    assert (after.seq_no, after.primary_term) == (before.seq_no, before.primary_term)
    recovered = env.run("sync")
    assert recovered["outcome"] == "success"
    assert recovered["expired"] == 10
    assert state.load("sync").doc["last_run_started_at"] > before.doc["last_run_started_at"]
    assert_exact(env.client, env.base, env.sim)


def test_bulk_rejections_from_a_tiny_write_queue_are_retried_item_by_item(
    tiny_queue: FaultNode, fault_env: Callable[..., FaultEnv]
) -> None:
    env = fault_env(jobs=1000)
    summary = env.run("backfill", "--batch-size", "25", "--bulk-concurrency", "4")
    assert summary["outcome"] == "success"
    assert summary["retries"] > 0, "the tiny write queue rejected nothing"
    assert summary["dead_lettered"] == 0
    assert summary["failed"] == 0
    assert summary["indexed"] == 1000
    assert_exact(env.client, env.base, env.sim)
    print(f"\n[faults] tiny write queue: {summary['retries']} retries, {summary['pages']} pages")
