"""A soak: 50 sync cycles with random mutations and random upstream faults (seeded), exact at a
few checkpoints and at the end. Prints the counts (runs, faults injected, retries, documents
written, expired) for the report."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.faults.conftest import FaultEnv
from tests.support.e2e import assert_exact

pytestmark = pytest.mark.faults

CYCLES = 50
CHECKPOINTS = {10, 25, 40}
FEED = "/api/jobs/feed"
EXPIRED = "/api/jobs/expired"


def random_fault(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(
        ("503", "429", "500", "409", "400", "truncate", "malformed", "402", "none", "none")
    )
    path = rng.choice((FEED, FEED, EXPIRED))
    after = rng.randrange(0, 3)
    if kind == "none":
        return {}
    if kind == "malformed":
        return {"path": FEED, "malformed_jobs": rng.randrange(1, 20), "after": after}
    if kind == "truncate":
        return {"path": path, "truncate": rng.randrange(1, 3), "after": after}
    return {"path": path, "status": int(kind), "times": rng.randrange(1, 3), "after": after}


def test_soak_fifty_sync_cycles_with_random_mutations_and_faults(
    fault_env: Callable[..., FaultEnv],
) -> None:
    rng = random.Random(50)
    env = fault_env(jobs=1000)
    totals: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    exit_codes: Counter[int] = Counter()
    checks = 0

    def run_sync(expect: int | None = None) -> dict[str, Any]:
        result = env.indexer.invoke(
            "sync", "--batch-size", "100", "--upstream-retries", "4", "--upstream-backoff",
            "0.01", "--json",
        )  # fmt: skip
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        exit_codes[result.exit_code] += 1
        if expect is not None:
            assert result.exit_code == expect, result.output
        totals["runs"] += 1
        outcomes[summary["outcome"]] += 1
        for field in ("retries", "written", "indexed", "expired", "dead_lettered", "fetched"):
            totals[field] += int(summary.get(field) or 0)
        return summary

    for cycle in range(1, CYCLES + 1):
        # Late arrivals (stamped minutes ago, within the 15-minute overlap) for every change.
        lag = rng.choice((0, 0, 0, 3, 10))
        env.sim.mutate(create=rng.randrange(0, 25), update=rng.randrange(0, 25), lag_minutes=lag)
        env.sim.mutate(expire=rng.randrange(0, 8), repost=rng.randrange(0, 3), lag_minutes=lag)
        for _ in range(rng.randrange(0, 3)):
            spec = random_fault(rng)
            if spec:
                env.sim.fault(**spec)
                faults[
                    spec.get("status") or ("malformed" if "malformed_jobs" in spec else "truncate")
                ] += 1
        run_sync()
        if cycle in CHECKPOINTS or cycle == CYCLES:
            env.sim.call("DELETE", "/_sim/faults")
            run_sync(expect=0)
            assert_exact(env.client, env.base, env.sim)
            checks += 1
    print(
        f"\n[faults] soak: {totals['runs']} runs ({dict(outcomes)}; exit codes "
        f"{dict(sorted(exit_codes.items()))}), {sum(faults.values())} faults injected "
        f"({dict(faults)}), {totals['retries']} retries, {totals['written']} documents written "
        f"({totals['indexed']} indexed, {totals['expired']} expired), "
        f"{totals['dead_lettered']} dead-lettered, {checks} exact checks"
    )
    assert checks == len(CHECKPOINTS) + 1
    assert sum(faults.values()) >= CYCLES // 2
    assert outcomes["success"] >= CYCLES // 2
    assert totals["retries"] > 0
