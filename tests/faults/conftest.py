"""Fixtures of the fault suite: a SECOND, dedicated OpenSearch node (never the shared one on 9200)
that tests may SIGKILL, restart and start with tiny write queues, plus simulator environments.

The node runs through ``scripts/opensearch-local`` with its own home (.cache/opensearch-faults)
and port (9250), on the script's jar cache (the default OpenSearch version unless
``OPENSEARCH_LOCAL_VERSION`` says otherwise). It is started once per session and stopped at
the end; a test that needs other node settings asks ``fault_node.ensure(settings)``, which
restarts the node only when its settings differ. Tests that need the tiny write queue run last,
so the node restarts at most once for them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from opensearchpy import OpenSearch

from indexer.simulator import RunningSimulator, start_simulator
from tests.faults.cluster import node_script
from tests.support.e2e import Indexer, Sim

REPO = Path(__file__).resolve().parents[2]
NODE_SCRIPT = REPO / "scripts" / "opensearch-local"
# 9250 unless JOBO_FAULT_PORT says otherwise (a second fault node on a shared machine).
FAULT_PORT = int(os.environ.get("JOBO_FAULT_PORT", "9250"))
FAULT_HOME = REPO / ".cache" / "opensearch-faults"
SETTINGS_FILE = FAULT_HOME / "fault-settings"
# Small heap: the shared node runs beside it on a 2-core machine.
FAULT_HEAP = "768m"
# One write thread and a one-slot queue: concurrent bulks are rejected with 429.
TINY_WRITE_QUEUE = "thread_pool.write.size=1 thread_pool.write.queue_size=1"
API_KEY = "fault-suite-key-0042"
# Short upstream waits: the simulator answers Retry-After: 0; keep some retries for the faults.
FAST_UPSTREAM = ("--upstream-retries", "6", "--upstream-backoff", "0.01")


class FaultNode:
    """The dedicated node: start, stop, SIGKILL, restart with other settings."""

    def __init__(self) -> None:
        self.url = f"http://127.0.0.1:{FAULT_PORT}"
        self.pid_file = FAULT_HOME / "node.pid"

    def _env(self, settings: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            OPENSEARCH_LOCAL_PORT=str(FAULT_PORT),
            OPENSEARCH_LOCAL_TRANSPORT_PORT=str(FAULT_PORT + 100),
            OPENSEARCH_LOCAL_NODES="1",
            OPENSEARCH_LOCAL_HOME=str(FAULT_HOME),
            OPENSEARCH_LOCAL_SETTINGS=settings,
            OPENSEARCH_LOCAL_HEAP=FAULT_HEAP,
        )
        return env

    def _script(self, command: str, settings: str = "") -> str:
        return node_script([command], self._env(settings), "the fault node")

    def answers(self) -> bool:
        try:
            return requests.get(f"{self.url}/_cluster/health", timeout=3).ok
        except requests.RequestException:
            return False

    @property
    def settings(self) -> str | None:
        return SETTINGS_FILE.read_text() if SETTINGS_FILE.exists() else None

    def start(self, settings: str = "") -> None:
        FAULT_HOME.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [str(NODE_SCRIPT), "start"],
            env=self._env(settings),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        # scripts/opensearch-local can report "exited before it answered" when it checks the
        # pid before the subshell has exec'd java; the node is fine then: wait for it here.
        if done.returncode != 0 and not self._comes_up():
            pytest.fail(f"could not start the fault node:\n{done.stderr}\n{done.stdout}")
        SETTINGS_FILE.write_text(settings)

    def _comes_up(self) -> bool:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.pid() is None:
                return False
            try:
                health = requests.get(
                    f"{self.url}/_cluster/health",
                    params={"wait_for_status": "yellow", "timeout": "5s"},
                    timeout=10,
                )
                if health.ok:
                    return True
            except requests.RequestException:
                time.sleep(1)
        return False

    def stop(self) -> None:
        self._script("stop")
        SETTINGS_FILE.unlink(missing_ok=True)

    def ensure(self, settings: str = "") -> None:
        """Running, answering, and started with exactly ``settings``."""
        if self.pid() is not None and self.answers() and self.settings == settings:
            return
        self.stop()
        self.start(settings)

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        return pid

    def kill(self) -> None:
        """SIGKILL the node (no shutdown, no flush) and wait until it is gone."""
        pid = self.pid()
        assert pid is not None, "the fault node is not running"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        raise AssertionError(f"the fault node (pid {pid}) survived SIGKILL")

    def client(self) -> OpenSearch:
        return OpenSearch(hosts=[self.url], timeout=60)


@pytest.fixture(scope="session")
def fault_node() -> Iterator[FaultNode]:
    node = FaultNode()
    node.ensure("")
    yield node
    node.stop()


@dataclass
class FaultEnv:
    """One test world: a simulator (in this process), the indexer CLI and the fault node."""

    indexer: Indexer
    simulator: RunningSimulator
    client: OpenSearch
    node: FaultNode
    started: list[RunningSimulator] = field(default_factory=list)

    @property
    def sim(self) -> Sim:
        return self.indexer.sim

    @property
    def base(self) -> str:
        return self.indexer.base

    def run(self, command: str, *extra: str, expect: int = 0) -> dict[str, Any]:
        return self.indexer.run(command, *extra, *FAST_UPSTREAM, expect=expect)

    def physical_index(self) -> str:
        return next(iter(self.client.indices.get_alias(name=f"{self.base}-write")))


@pytest.fixture
def fault_env(fault_node: FaultNode, tmp_path: Path) -> Iterator[Callable[..., FaultEnv]]:
    """A factory: ``fault_env(jobs=600, **simulator_options)`` -> FaultEnv on the fault node.

    Every index of the environments is deleted afterwards (when the node answers).
    """
    made: list[FaultEnv] = []

    def make(jobs: int = 600, **sim_options: Any) -> FaultEnv:
        fault_node.ensure(fault_node.settings or "")
        options = {"seed": 7, "retry_after": 0, "subscription": True, **sim_options}
        if options.get("credits") is not None:
            options.pop("subscription")
        running = start_simulator(jobs=jobs, api_key=API_KEY, **options)
        base = f"fault-{uuid.uuid4().hex[:10]}"
        indexer = Indexer(fault_node.url, Sim(running.url, API_KEY), base, tmp_path / base)
        env = FaultEnv(indexer, running, fault_node.client(), fault_node)
        made.append(env)
        return env

    yield make
    for env in made:
        env.simulator.stop()
        if fault_node.answers():
            env.client.indices.delete(
                index=f"{env.base}*", ignore_unavailable=True, expand_wildcards="all"
            )
            env.client.indices.delete_index_template(name=f"{env.base}*", ignore=[404])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on the tiny-write-queue node run last: the node restarts once for them."""
    items.sort(key=lambda item: "tiny_queue" in getattr(item, "fixturenames", ()))


@pytest.fixture
def tiny_queue(fault_node: FaultNode) -> FaultNode:
    """The fault node restarted with one write thread and a one-slot write queue."""
    fault_node.ensure(TINY_WRITE_QUEUE)
    return fault_node
