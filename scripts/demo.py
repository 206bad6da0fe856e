"""`make demo`: the main job end to end on the embedded defaults.

Starts the local OpenSearch node and the feed simulator, then runs, through the real CLI:
init, backfill, a round of upstream changes, sync, resync and status, and prints a sample search.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "indexer"]
API_KEY = "demo-key"
JOBS = int(os.environ.get("DEMO_JOBS", "5000"))


def step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def run(*args: str) -> None:
    print("$ jobo-indexer " + " ".join(args), flush=True)
    subprocess.run([*CLI, *args], check=True, env=ENV)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    step("Starting the local OpenSearch node")
    node = subprocess.run(
        [str(REPO / "scripts" / "opensearch-local"), "start"],
        check=True,
        capture_output=True,
        text=True,
    )
    opensearch_url = node.stdout.strip().splitlines()[-1]
    print(opensearch_url)

    port = free_port()
    sim_url = f"http://127.0.0.1:{port}"
    step(f"Starting the feed simulator with {JOBS} jobs on {sim_url}")
    sim = subprocess.Popen(
        [
            *CLI,
            "simulate",
            "--port",
            str(port),
            "--jobs",
            str(JOBS),
            "--seed",
            "42",
            "--api-key",
            API_KEY,
            "--subscription",
        ]
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                requests.get(f"{sim_url}/_sim/stats", headers={"X-Api-Key": API_KEY}, timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or sim.poll() is not None:
                    raise SystemExit("the simulator did not start") from None
                time.sleep(0.3)
        ENV.update(
            {
                "OPENSEARCH_URL": opensearch_url,
                "JOBO_BASE_URL": sim_url,
                "JOBO_API_KEY": API_KEY,
                "JOBO_INDEXER_WORK_DIR": str(REPO / ".cache" / "demo"),
            }
        )
        base = "demo-jobs"
        # A demo starts from nothing: drop what an earlier demo left behind.
        requests.delete(f"{opensearch_url}/{base}*", params={"expand_wildcards": "all"}, timeout=60)
        requests.delete(f"{opensearch_url}/_index_template/{base}-template", timeout=60)
        step("init: templates, versioned index, aliases, bookkeeping indices")
        run("init", "--index", base)
        step("backfill: the whole feed")
        run("backfill", "--index", base)
        step("Upstream changes: 50 new, 80 edited, 40 expired, 10 reposted, 5 late arrivals")
        headers = {"X-Api-Key": API_KEY}
        for change in (
            {"create": 50, "update": 80, "expire": 40, "repost": 10},
            {"update": 5, "lag_minutes": 10},
        ):
            requests.post(
                f"{sim_url}/_sim/mutate", json=change, headers=headers, timeout=30
            ).raise_for_status()
        step("sync: expired sweep + incremental fetch")
        run("sync", "--index", base)
        step("resync: full scan + reconciliation")
        run("resync", "--index", base)
        step("status")
        run("status", "--index", base)
        step("A sample search: remote engineering jobs, best matches first")
        search = [
            *CLI,
            "search",
            "engineer",
            "--workplace-type",
            "remote",
            "--index",
            base,
            "--size",
            "5",
        ]
        if subprocess.run(search, env=ENV).returncode != 0:
            answer = requests.post(
                f"{opensearch_url}/{base}/_search",
                timeout=30,
                json={"size": 5, "query": {"match": {"title": "engineer"}}, "_source": ["title"]},
            )
            for hit in answer.json()["hits"]["hits"]:
                print(" -", hit["_source"]["title"])
        print(f"""
Next:
  - the index: curl '{opensearch_url}/{base}/_search?q=title:engineer&size=3&pretty'
  - the run records: curl '{opensearch_url}/{base}-indexer-runs/_search?pretty'
  - everything the CLI can do: jobo-indexer --help
  - the node's log: .cache/opensearch/node.log; stop it: scripts/opensearch-local stop""")
    finally:
        sim.terminate()
        sim.wait(timeout=30)


ENV = dict(os.environ)

if __name__ == "__main__":
    main()
