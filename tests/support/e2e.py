"""Helpers for end-to-end tests: run the real CLI against the simulator and the real node, and
compare the index with the simulator's ground truth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from click.testing import CliRunner, Result
from opensearchpy import OpenSearch, helpers

from indexer.cli import main
from indexer.simulator import start_simulator
from indexer.store.state import StateStore


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


@dataclass
class Sim:
    url: str
    api_key: str

    def call(self, method: str, path: str, body: Any = None) -> Any:
        answer = requests.request(
            method, f"{self.url}{path}", json=body, headers={"X-Api-Key": self.api_key}, timeout=60
        )
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def mutate(self, **changes: int) -> dict[str, list[str]]:
        return self.call("POST", "/_sim/mutate", changes)

    def fault(self, **fault: Any) -> None:
        self.call("POST", "/_sim/faults", fault)

    def truth(self) -> dict[str, Any]:
        return self.call("GET", "/_sim/truth")

    def stats(self) -> dict[str, Any]:
        return self.call("GET", "/_sim/stats")

    def wallet(self, **changes: Any) -> dict[str, Any]:
        """The simulator's wallet; ``wallet(add=n)``, ``wallet(balance=n)`` or
        ``wallet(subscription=True)`` change it first."""
        if changes:
            return self.call("POST", "/_sim/wallet", changes)
        return self.call("GET", "/_sim/wallet")


@dataclass
class Indexer:
    """Runs ``jobo-indexer`` commands in-process through click's CliRunner."""

    opensearch_url: str
    sim: Sim
    base: str
    work_dir: Path
    # Fresh test indices are created by the first flow, explicitly (flows refuse an index that
    # was never initialised unless told to create it).
    create_index: bool = True

    def args(self, command: str, *extra: str) -> list[str]:
        common = ["--opensearch-url", self.opensearch_url, "--index", self.base]
        if command in {"backfill", "sync", "expire", "resync", "run"}:
            common += ["--jobo-url", self.sim.url, "--api-key", self.sim.api_key, "--no-progress"]
            if command in {"sync", "resync", "run"}:
                common += ["--work-dir", str(self.work_dir)]
            if self.create_index:
                common.append("--create-index")
        return [command, *common, *extra]

    def invoke(self, command: str, *extra: str, env: dict[str, str] | None = None) -> Result:
        args = self.args(command, *extra)
        return CliRunner().invoke(main, args, catch_exceptions=False, env=env)

    def run(
        self, command: str, *extra: str, expect: int = 0, env: dict[str, str] | None = None
    ) -> dict[str, Any]:
        result = self.invoke(command, *extra, "--json", env=env)
        assert result.exit_code == expect, (result.exit_code, result.output)
        return json.loads(result.stdout.strip().splitlines()[-1])


def index_docs(client: OpenSearch, base: str) -> dict[str, dict[str, Any]]:
    client.indices.refresh(index=f"{base}-all")
    return {
        hit["_id"]: hit["_source"]
        for hit in helpers.scan(
            client,
            index=f"{base}-all",
            _source=["id", "updated_at", "status", "expired_at"],
            size=2000,
        )
    }


def assert_exact(client: OpenSearch, base: str, sim: Sim) -> dict[str, dict[str, Any]]:
    """The index holds exactly the feed's active jobs at their current version, and every other
    document it holds is marked expired."""
    truth = sim.truth()
    docs = index_docs(client, base)
    active = {i: d for i, d in docs.items() if d["status"] == "active"}
    assert set(active) == set(truth["active"]), (
        f"missing: {sorted(set(truth['active']) - set(active))[:5]}, "
        f"extra: {sorted(set(active) - set(truth['active']))[:5]}"
    )
    stale = [i for i, d in active.items() if ms(d["updated_at"]) != ms(truth["active"][i])]
    assert stale == [], f"documents at an old version: {stale[:5]}"
    for ident, doc in docs.items():
        if ident not in truth["active"]:
            assert doc["status"] == "expired", ident
            assert doc["expired_at"], ident
    # The read alias shows the active jobs only.
    assert client.count(index=base)["count"] == len(truth["active"])
    return docs


@contextmanager
def simulated_envs(
    opensearch_url: str,
    name: Callable[[str], str],
    work_dir: Path,
    *,
    api_key: str,
    prefix: str,
    jobs: int,
    seed: int,
) -> Iterator[Callable[..., Indexer]]:
    """A factory of (simulator, indexer) pairs on a unique index base; stops the simulators."""
    started = []

    def make(jobs: int = jobs, **sim_options: Any) -> Indexer:
        options = {"seed": seed, "retry_after": 0, "subscription": True, **sim_options}
        running = start_simulator(jobs=jobs, api_key=api_key, **options)
        started.append(running)
        return Indexer(opensearch_url, Sim(running.url, api_key), name(prefix), work_dir)

    try:
        yield make
    finally:
        for running in started:
            running.stop()


def run_until_pages(
    indexer: Indexer, state: StateStore, key: str, pages: int, *args: str, stop: int
) -> None:
    """Run ``jobo-indexer <args>`` as a child process until checkpoint ``key`` has ``pages``
    pages, then send it signal ``stop`` and wait for it (SIGKILL: a crash; SIGTERM: a stop)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "indexer", *indexer.args(*args)],
        env={**os.environ, "PYTHONPATH": str(Path.cwd())},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            found = state.load(key)
            if found and found.doc.get("pages", 0) >= pages:
                break
            time.sleep(0.1)
        child.send_signal(stop)
        child.wait(timeout=60)
    finally:
        child.kill()
        child.wait()
