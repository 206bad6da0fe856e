"""A real 3-node OpenSearch cluster for the cluster fault cases, on ports of its own.

``scripts/opensearch-local`` with ``OPENSEARCH_LOCAL_NODES=3`` starts one JVM per node (HTTP
9270-9272, transport 9370-9372, 512 MB heap each, home ``.cache/opensearch-cluster``), never the
node on 9200 nor the fault node on 9250. Tests SIGKILL, stop and restart single nodes through the
script's ``kill-node`` / ``stop-node`` / ``start``; ``start`` waits for green with all 3 nodes.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from opensearchpy import OpenSearch

REPO = Path(__file__).resolve().parents[2]
NODE_SCRIPT = REPO / "scripts" / "opensearch-local"
CLUSTER_PORT = 9270
CLUSTER_TRANSPORT_PORT = 9370
CLUSTER_NODES = 3
CLUSTER_HOME = REPO / ".cache" / "opensearch-cluster"


def node_script(command: list[str], env: dict[str, str], what: str) -> str:
    """``scripts/opensearch-local COMMAND`` with ``env``; a failure fails the test, with output."""
    done = subprocess.run(
        [str(NODE_SCRIPT), *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"scripts/opensearch-local {' '.join(command)} for {what} failed:\n"
            f"{done.stderr}\n{done.stdout}"
        )
    return done.stdout


class Cluster:
    """The 3-node cluster: every node's URL, and single-node kill/stop/start."""

    def __init__(self) -> None:
        self.urls = [f"http://127.0.0.1:{CLUSTER_PORT + i}" for i in range(CLUSTER_NODES)]

    @property
    def url(self) -> str:
        """What users give ``--opensearch-url`` for a cluster: every node, comma-separated."""
        return ",".join(self.urls)

    def script(self, *command: str) -> str:
        env = {
            **os.environ,
            "OPENSEARCH_LOCAL_NODES": str(CLUSTER_NODES),
            "OPENSEARCH_LOCAL_PORT": str(CLUSTER_PORT),
            "OPENSEARCH_LOCAL_TRANSPORT_PORT": str(CLUSTER_TRANSPORT_PORT),
            "OPENSEARCH_LOCAL_HOME": str(CLUSTER_HOME),
            "OPENSEARCH_LOCAL_SETTINGS": "",
        }
        env.pop("OPENSEARCH_LOCAL_HEAP", None)  # 512 MB each: the script's cluster default
        return node_script(list(command), env, "the cluster")

    def start(self) -> None:
        """Every node up (the missing ones started), green with all nodes."""
        self.script("start")

    def kill_node(self, number: int) -> None:
        self.script("kill-node", str(number))

    def stop_node(self, number: int) -> None:
        self.script("stop-node", str(number))

    def client(self) -> OpenSearch:
        return OpenSearch(hosts=self.urls, timeout=60, max_retries=CLUSTER_NODES)

    def node_number(self, node_name: str) -> int:
        """``node2`` -> 2 (the script names nodes node1..nodeN)."""
        return int(node_name.removeprefix("node"))

    def primaries_by_node(self, index: str) -> Counter[str]:
        shards = self.client().cat.shards(index=index, format="json")
        return Counter(s["node"] for s in shards if s["prirep"] == "p" and s["state"] == "STARTED")

    def shard_nodes(self, index: str) -> set[str]:
        shards = self.client().cat.shards(index=index, format="json")
        return {s["node"] for s in shards if s["state"] == "STARTED"}

    def wait_green(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for url in self.urls:
                try:
                    health = requests.get(
                        f"{url}/_cluster/health",
                        params={"wait_for_status": "green", "wait_for_nodes": "3", "timeout": "5s"},
                        timeout=10,
                    )
                    if health.ok and health.json()["status"] == "green":
                        return
                except requests.RequestException:
                    continue
            time.sleep(1)
        raise AssertionError("the cluster did not turn green with 3 nodes")
