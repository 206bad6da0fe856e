"""Upstream faults: every simulator fault at a seeded random point of the backfill and of the
sync's sweep, 1,000 malformed jobs, a 1 MB description, Unicode edge cases, an empty wallet.

Each case ends with an exact comparison of the index with the simulator's ``/_sim/truth``.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from indexer.simulator.world import World, iso_ms, record_from_job, scan_key
from indexer.store.state import StateStore
from tests.faults.conftest import FaultEnv
from tests.support.e2e import assert_exact, index_docs

pytestmark = pytest.mark.faults

FEED = "/api/jobs/feed"
EXPIRED = "/api/jobs/expired"
# kind -> the fault spec body (without path/after)
FAULTS: dict[str, dict[str, Any]] = {
    "503": {"status": 503, "times": 2},
    "429": {"status": 429, "times": 3},
    "500": {"status": 500, "times": 2},
    "409": {"status": 409, "times": 1},
    "400-invalid-cursor": {"status": 400, "times": 1},
    "truncated-body": {"truncate": 2},
    "402": {"status": 402, "times": 1},
}


def plant(world: World, job: dict[str, Any]) -> str:
    """Put ``job`` in the simulator's world as a new active job stamped now.

    The simulator has no control endpoint for hand-made jobs; this uses its world directly (the
    simulator runs in this process). Returns the job's id.
    """
    with world.lock:
        stamp = world.clock()
        job = {**job, "created_at": iso_ms(stamp), "updated_at": iso_ms(stamp)}
        record = record_from_job({**job, "_posted_ms": None}, stamp, stamp)
        world._records[record.id] = record
        bisect.insort(world._active, record, key=scan_key)
        return record.id


def template_job(world: World) -> dict[str, Any]:
    with world.lock:
        return orjson.loads(world._active[0].encoded)


@pytest.mark.parametrize("kind", list(FAULTS))
def test_every_feed_fault_at_a_random_point(kind: str, fault_env: Callable[..., FaultEnv]) -> None:
    rng = random.Random(f"feed-fault-{kind}")
    env = fault_env(jobs=500)
    # 10 pages of 50: a page in the middle, a cursor in hand (+1: the backfill's 1-job cost
    # estimate is the first feed request)
    after = rng.randrange(1, 9) + 1
    env.sim.fault(path=FEED, after=after, **FAULTS[kind])
    if kind == "402":
        refused = env.run("backfill", "--batch-size", "50", expect=4)
        assert "credits" in refused["error"], refused["error"]
        done = env.run("backfill", "--batch-size", "50")
        assert any("resumed at page" in step for step in done["steps"]), done["steps"]
    else:
        done = env.run("backfill", "--batch-size", "50")
    assert done["outcome"] == "success"
    if kind in ("409", "400-invalid-cursor"):
        assert done["cursor_restarts"] == 1
    elif kind != "402":
        assert done["retries"] > 0
    assert_exact(env.client, env.base, env.sim)
    # The same fault on the sync's expired sweep: retried, or the run fails and keeps state.
    env.sim.mutate(create=15, update=15, expire=15)
    state = StateStore(env.client, f"{env.base}-indexer-state")
    watermark = state.load("sync").doc["last_run_started_at"]
    spec = {k: v for k, v in FAULTS[kind].items() if k != "after"}
    env.sim.fault(path=EXPIRED, **spec)
    if kind in ("409", "400-invalid-cursor", "402"):
        failed = env.run("sync", expect=4 if kind == "402" else 5)
        assert failed["outcome"] == "failed"
        assert state.load("sync").doc["last_run_started_at"] == watermark
    synced = env.run("sync")
    assert synced["outcome"] == "success"
    assert synced["expired"] == 15
    assert_exact(env.client, env.base, env.sim)


def test_a_thousand_malformed_jobs_are_dead_lettered_and_the_rest_lands(
    fault_env: Callable[..., FaultEnv],
) -> None:
    env = fault_env(jobs=600)
    # after=1: past the backfill's 1-job cost estimate, whose jobs are not written
    env.sim.fault(path=FEED, malformed_jobs=250, times=4, after=1)
    summary = env.run("backfill", "--batch-size", "150")
    assert summary["outcome"] == "success"
    assert summary["dead_lettered"] == 1000
    assert summary["rejected"] == 1000
    assert summary["indexed"] == 600
    assert_exact(env.client, env.base, env.sim)
    letters = f"{env.base}-dead-letters"
    env.client.indices.refresh(index=letters)
    assert env.client.count(index=letters)["count"] == 1000
    assert (
        env.client.count(index=letters, body={"query": {"term": {"stage": "transform"}}})["count"]
        == 1000
    )


def test_a_one_megabyte_description_lands(fault_env: Callable[..., FaultEnv]) -> None:
    env = fault_env(jobs=300)
    env.run("backfill")
    job = template_job(env.simulator.app.world)
    paragraph = "Über große Verantwortung, naïve café résumé — 日本語のテキスト. " * 8
    description = (paragraph * (1_048_576 // len(paragraph.encode()) + 1))[: 1_048_576 // 2 * 2]
    job.update(id="big-0000-description-1mb", description=description)
    big = plant(env.simulator.app.world, job)
    summary = env.run("sync")
    assert summary["outcome"] == "success"
    assert summary["indexed"] >= 1
    assert summary["dead_lettered"] == 0
    assert_exact(env.client, env.base, env.sim)
    stored = env.client.get(index=f"{env.base}-all", id=big)["_source"]
    assert stored["description"] == description
    assert len(stored["description"].encode()) > 1_000_000


UNICODE_CASES = {
    # id, title
    "e\u0301\u0301-combining-marks": "Inge\u0301nieur\u0308 de\u0301veloppement",
    "\u05de\u05e9\u05e8\u05d4-rtl-\u0645\u0647\u0646\u062f\u0633": "\u200f\u05de\u05e4\u05ea\u05d7 / \u0645\u0637\u0648\u0651\u0631",  # noqa: E501
    "emoji-\U0001f680-\U0001f468\u200d\U0001f4bb": "Rocket \U0001f680 engineer \U0001f468\u200d\U0001f4bb\ufe0f",  # noqa: E501
    "nul-in-title": "Title with a NUL \u0000 inside",
    "zero-width\u200b-and-bom\ufeff": "Zero\u200bwidth and \ufeffBOM",
    "cjk-\u4e2d\u6587-\U00020000": "\u9ad8\u7ea7\u5de5\u7a0b\u5e08 \U00020000",
    "ascii-then-\u00ff-\u0100-\uffff": "Latin-1 \u00ff, Latin Ext \u0100, BMP end \uffef",
}


def test_unicode_ids_and_titles_round_trip_and_resync_expires_exactly(
    fault_env: Callable[..., FaultEnv],
) -> None:
    env = fault_env(jobs=300)
    env.run("backfill")
    world = env.simulator.app.world
    template = template_job(world)
    planted = [plant(world, {**template, "id": ident, "title": title})
               for ident, title in UNICODE_CASES.items()]  # fmt: skip
    summary = env.run("sync")
    assert summary["outcome"] == "success"
    assert summary["dead_lettered"] == 0
    docs = assert_exact(env.client, env.base, env.sim)
    assert set(planted) <= set(docs)
    for ident, title in UNICODE_CASES.items():
        assert env.client.get(index=f"{env.base}-all", id=ident)["_source"]["title"] == title
    # A full re-sync merge-joins index ids with feed ids in byte order: with these ids in both,
    # it must expire exactly the jobs that left the feed, none of the Unicode ones.
    gone = env.sim.mutate(expire=10)["expired"]
    resync = env.run("resync")
    assert resync["outcome"] == "success"
    assert resync["expired"] == 10
    docs = assert_exact(env.client, env.base, env.sim)
    assert all(docs[i]["status"] == "expired" for i in gone)
    assert all(docs[i]["status"] == "active" for i in planted)


def test_an_empty_wallet_stops_with_exit_4_and_the_run_resumes_after_a_top_up(
    fault_env: Callable[..., FaultEnv],
) -> None:
    env = fault_env(jobs=600, credits=150.0)  # 300 jobs' worth at 0.5 credits each
    # The wallet cannot pay for the whole feed: the backfill starts only when asked to, spends
    # 0.5 on its 1-job estimate, pays for 2 pages of 100 and meets the 402 on the third.
    refused = env.run("backfill", "--batch-size", "100", "--allow-partial", expect=4)
    assert refused["outcome"] == "failed"
    assert "credits" in refused["error"]
    assert "402" in refused["error"] or "insufficient" in refused["error"].lower()
    indexed_before = len(index_docs(env.client, env.base))
    assert indexed_before == 200
    env.simulator.wallet(add=1000.0)
    resumed = env.run("backfill", "--batch-size", "100")
    assert resumed["outcome"] == "success"
    assert any("resumed at page 2" in step for step in resumed["steps"]), resumed["steps"]
    assert resumed["fetched"] == 400  # only what had not been paid for
    assert resumed["credits_balance"] == pytest.approx(849.0)  # 49.5 + 1000 - 0.5 - 200
    assert_exact(env.client, env.base, env.sim)
