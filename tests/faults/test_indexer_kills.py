"""The indexer SIGKILLed at random points of ``sync`` and ``resync``, 20 times in a row, with
random mutations in between (seeded): the flows take the dead process's lease over, resume their
scans, and the end state is still exact."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from indexer.store.state import LeaseLock, StateStore
from tests.faults.conftest import FAST_UPSTREAM, REPO, FaultEnv
from tests.support.e2e import assert_exact

pytestmark = pytest.mark.faults

KILLS = 20
# Late arrivals apply to every kind of change: the simulator orders a job's events strictly (an
# expiry comes after the last update, a repost after the expiry), so a lagged repost is still
# newer than the version the expiry left behind.


def test_indexer_killed_twenty_times_mid_sync_and_resync_ends_exact(
    fault_env: Callable[..., FaultEnv],
) -> None:
    rng = random.Random(20)
    env = fault_env(jobs=800, latency_ms=250)
    killed_mid_run = 0
    finished_before_kill = 0
    for _round in range(KILLS):
        lag = rng.choice((0, 0, 5))
        env.sim.mutate(create=rng.randrange(0, 30), update=rng.randrange(0, 30), lag_minutes=lag)
        env.sim.mutate(expire=rng.randrange(0, 10), repost=rng.randrange(0, 3), lag_minutes=lag)
        command = rng.choice(("sync", "sync", "resync"))
        args = env.indexer.args(command, "--batch-size", "50", "--force", *FAST_UPSTREAM)
        child = subprocess.Popen(
            [sys.executable, "-m", "indexer", *args],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Python's start-up takes about a second; the kill lands anywhere from before the first
        # request to the end of the run.
        time.sleep(rng.uniform(0.8, 2.5))
        if child.poll() is None:
            killed_mid_run += 1
        else:
            finished_before_kill += 1
        child.kill()
        child.wait()
    print(
        f"\n[faults] indexer kills: {killed_mid_run} mid-run, "
        f"{finished_before_kill} after the run had ended"
    )
    assert killed_mid_run >= KILLS * 3 // 4, "most kills should land mid-run"
    summary = env.run("sync", "--batch-size", "50")
    assert summary["outcome"] == "success"
    assert_exact(env.client, env.base, env.sim)
    # A full re-sync over the same state changes nothing: no doubles, nothing left to expire.
    resync = env.run("resync", "--batch-size", "50")
    assert resync["outcome"] == "success"
    assert resync["expired"] == 0
    assert resync["indexed"] == 0
    assert_exact(env.client, env.base, env.sim)
    assert LeaseLock(StateStore(env.client, f"{env.base}-indexer-state")).holder() is None
