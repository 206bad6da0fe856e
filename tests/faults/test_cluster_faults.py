"""Node loss on a real 3-node cluster: the indexer is given every node's URL and must end exact.

- a node holding primaries of the write index is SIGKILLed mid-backfill;
- all three nodes are restarted one at a time while ``run`` loops;
- a resync whose point-in-time scan spans shards on all three nodes.

Each case ends with an exact comparison of the index with the simulator's ``/_sim/truth``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opensearchpy import OpenSearch

from indexer.simulator import RunningSimulator, start_simulator
from indexer.store.runs import RunRecorder
from indexer.store.state import StateStore
from indexer.timestamps import format_timestamp, utcnow
from tests.faults.cluster import Cluster
from tests.faults.conftest import API_KEY, FAST_UPSTREAM, REPO
from tests.faults.test_node_faults import wait_for_pages
from tests.support.e2e import Indexer, Sim, assert_exact

pytestmark = pytest.mark.faults

FLOWS = {"backfill", "sync", "expire", "resync", "run"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    nodes = Cluster()
    nodes.start()
    yield nodes
    nodes.script("stop")


@dataclass
class ClusterEnv:
    indexer: Indexer
    simulator: RunningSimulator
    client: OpenSearch

    @property
    def base(self) -> str:
        return self.indexer.base

    def run(self, command: str, *extra: str, expect: int = 0) -> dict[str, Any]:
        fast = FAST_UPSTREAM if command in FLOWS else ()
        return self.indexer.run(command, *extra, *fast, expect=expect)

    def physical_index(self) -> str:
        return next(iter(self.client.indices.get_alias(name=f"{self.base}-write")))

    def spawn(self, command: str, *extra: str) -> subprocess.Popen[str]:
        """The real CLI in a child process (it survives what the test does to the nodes)."""
        args = self.indexer.args(command, *extra, "--json", *FAST_UPSTREAM)
        return subprocess.Popen(
            [sys.executable, "-m", "indexer", *args],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
def cluster_env(cluster: Cluster, tmp_path: Path) -> Iterator[Callable[..., ClusterEnv]]:
    made: list[ClusterEnv] = []

    def make(jobs: int, **sim_options: Any) -> ClusterEnv:
        cluster.start()  # all three nodes, green
        options = {"seed": 13, "retry_after": 0, "subscription": True, **sim_options}
        running = start_simulator(jobs=jobs, api_key=API_KEY, **options)
        base = f"cluster-{uuid.uuid4().hex[:10]}"
        indexer = Indexer(cluster.url, Sim(running.url, API_KEY), base, tmp_path / base)
        env = ClusterEnv(indexer, running, cluster.client())
        made.append(env)
        return env

    yield make
    for env in made:
        env.simulator.stop()
        env.client.indices.delete(
            index=f"{env.base}*", ignore_unavailable=True, expand_wildcards="all"
        )
        env.client.indices.delete_index_template(name=f"{env.base}*", ignore=[404])


def test_sigkill_of_a_node_holding_primaries_mid_backfill_ends_exact(
    cluster: Cluster, cluster_env: Callable[..., ClusterEnv]
) -> None:
    env = cluster_env(jobs=1500, latency_ms=40)
    env.run("init", "--shards", "3", "--replicas", "1")
    physical = env.physical_index()
    victim, held = cluster.primaries_by_node(physical).most_common(1)[0]
    assert held >= 1
    state = StateStore(env.client, f"{env.base}-indexer-state")
    child = env.spawn("backfill", "--batch-size", "50")
    try:
        wait_for_pages(state, "backfill", 5, child)
        cluster.kill_node(cluster.node_number(victim))
        out, err = child.communicate(timeout=600)
    finally:
        if child.poll() is None:
            child.kill()
    summary = json.loads(out.strip().splitlines()[-1])
    if child.returncode != 0:
        # Allowed: a clear failure (OpenSearch exit code, one line), then the rerun resumes.
        assert child.returncode == 6, (child.returncode, out, err[-3000:])
        assert "re-run the same command" in summary["error"], summary["error"]
        summary = env.run("backfill", "--batch-size", "50")
        assert any("resumed at page" in step for step in summary["steps"]), summary["steps"]
    assert summary["outcome"] == "success", summary
    assert victim not in cluster.shard_nodes(physical)  # the run really lost that node
    assert_exact(env.client, env.base, env.indexer.sim)
    cluster.start()  # the killed node rejoins; its shard copies recover
    cluster.wait_green()
    assert_exact(env.client, env.base, env.indexer.sim)


def _wait_for_successful_run_after(
    env: ClusterEnv, moment: str, child: subprocess.Popen[str]
) -> dict[str, Any]:
    runs = RunRecorder(env.client, f"{env.base}-indexer-runs")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert child.poll() is None, "run stopped before a run after the restarts finished"
        for record in runs.last_runs(5):
            if record["started_at"] > moment and record["outcome"] == "success":
                return record
        time.sleep(0.5)
    raise AssertionError(f"no successful run started after {moment}")


def test_rolling_restart_of_all_nodes_during_run_ends_exact(
    cluster: Cluster, cluster_env: Callable[..., ClusterEnv]
) -> None:
    env = cluster_env(jobs=1200, latency_ms=20)
    env.run("init", "--shards", "3", "--replicas", "1")
    state = StateStore(env.client, f"{env.base}-indexer-state")
    # 1m is the shortest loop `run` accepts (shorter ones would hammer a paid API); the restarts
    # land inside the backfill and the first cycles, and the wait below covers the next cycle.
    child = env.spawn("run", "--every", "1m", "--batch-size", "50")
    try:
        wait_for_pages(state, "backfill", 3, child)  # the restarts begin inside the backfill
        for number in (1, 2, 3):
            env.indexer.sim.mutate(create=4, update=6, expire=3, repost=1)
            cluster.stop_node(number)
            time.sleep(2)  # the loop goes on with two nodes
            cluster.start()  # back, and green with three before the next one goes
        after_restarts = format_timestamp(utcnow())
        last = _wait_for_successful_run_after(env, after_restarts, child)
        child.send_signal(signal.SIGTERM)
        _out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err[-3000:]
    assert last["kind"] in ("sync", "resync")
    assert_exact(env.client, env.base, env.indexer.sim)


def test_resync_whose_pit_spans_shards_on_three_nodes_ends_exact(
    cluster: Cluster, cluster_env: Callable[..., ClusterEnv]
) -> None:
    env = cluster_env(jobs=900)
    env.run("init", "--shards", "3", "--replicas", "0")
    assert env.run("backfill", "--batch-size", "100")["outcome"] == "success"
    physical = env.physical_index()
    assert len(cluster.shard_nodes(physical)) == 3, cluster.client().cat.shards(index=physical)
    changed = env.indexer.sim.mutate(create=6, update=9, expire=5, repost=2)
    summary = env.run("resync")
    assert summary["outcome"] == "success"
    assert summary["fetched"] >= 900
    assert summary["indexed"] >= len(changed["created"]) + len(changed["updated"])
    assert_exact(env.client, env.base, env.indexer.sim)
