"""Credits against the simulator's wallet, through the CLI: a full scan the wallet cannot pay for
is refused after a 1-job estimate, ``--max-credits`` stops a run before the page that could
exceed it and the next run resumes without paying a page twice, and the automatic re-sync is
skipped (with a log line) when it cannot be paid for. Every number is the wallet's own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from opensearchpy import OpenSearch

from indexer.simulator import start_simulator
from indexer.store import schema
from indexer.store.state import StateStore
from indexer.timestamps import format_timestamp, utcnow
from tests.support.e2e import Indexer, Sim, assert_exact, index_docs

pytestmark = pytest.mark.integration

API_KEY = "credits-e2e-key-7781"
FEED = "/api/jobs/feed"


@pytest.fixture
def make_env(opensearch_url: str, unique_name, tmp_path: Path) -> Iterator:
    started = []

    def make(jobs: int, **sim_options) -> Indexer:
        options = {"seed": 11, "retry_after": 0, **sim_options}
        running = start_simulator(jobs=jobs, api_key=API_KEY, **options)
        started.append(running)
        return Indexer(opensearch_url, Sim(running.url, API_KEY), unique_name("cr"), tmp_path / "w")

    yield make
    for running in started:
        running.stop()


def paid_pages(sim: Sim) -> int:
    return sim.stats()["requests"][FEED].get("200", 0)


def test_a_resync_the_wallet_cannot_pay_for_is_refused_after_the_1_job_estimate(
    make_env, os_client: OpenSearch
) -> None:
    env = make_env(jobs=600)  # a subscription for the backfill ...
    env.run("backfill", "--batch-size", "100")
    env.sim.wallet(balance=100)  # ... then pay-as-you-go: a full scan costs 600 x 0.5 = 300
    before = index_docs(os_client, env.base)
    refused = env.run("resync", "--batch-size", "100", expect=4)
    assert refused["outcome"] == "refused"
    for fact in ("300 credits", "600 jobs", "holds 99.5", "top up at least 200.5"):
        assert fact in refused["error"], refused["error"]
    assert env.sim.wallet()["spent"] == 0.5, "only the 1-job estimate was paid"
    assert env.sim.stats()["jobs_served"] == 600 + 2  # each scan's 1-job estimate (free, then paid)
    assert index_docs(os_client, env.base) == before
    status = env.run("status")
    assert status["credits"]["balance"] == 99.5
    assert status["credits"]["subscription"] is False
    assert status["credits"]["next_full_scan"]["jobs"] == 600
    assert status["credits"]["next_full_scan"]["credits"] == 300
    last = status["last_runs"][0]
    assert (last["kind"], last["outcome"]) == ("resync", "refused")
    assert last["counts"]["credits_spent"] == 0.5

    env.sim.wallet(add=300)  # 399.5: enough for another estimate and the scan
    done = env.run("resync", "--batch-size", "100")
    assert done["outcome"] == "success"
    assert done["credits_spent"] == 300.5  # its own estimate plus 600 jobs
    assert done["credits_balance"] == 99
    assert done["next_full_scan_credits"] == 300
    assert env.sim.wallet()["spent"] == 301
    assert_exact(os_client, env.base, env.sim)


def test_a_capped_backfill_stops_under_its_cap_and_completes_across_runs_paying_once(
    make_env, os_client: OpenSearch
) -> None:
    env = make_env(jobs=1000, credits=10_000.0)
    # 100 jobs a page = 50 credits: the estimate (0.5) and 4 pages make 200.5; a fifth page
    # could take the run to 250.5, over the cap of 220, so the run stops before asking for it.
    first = env.run("backfill", "--batch-size", "100", "--max-credits", "220", expect=9)
    assert first["outcome"] == "capped"
    assert (first["credits_spent"], first["fetched"], first["credits_cap"]) == (200.5, 400, 220)
    assert "--max-credits 220" in first["message"]
    assert len(index_docs(os_client, env.base)) == 400
    # The cap from the environment; the run resumes after the pages the first one paid for.
    second = env.run(
        "backfill", "--batch-size", "100", expect=9, env={"JOBO_INDEXER_MAX_CREDITS": "220"}
    )
    assert (second["outcome"], second["credits_spent"], second["fetched"]) == ("capped", 200.5, 400)
    assert any("resumed at page 4" in step for step in second["steps"]), second["steps"]
    third = env.run("backfill", "--batch-size", "100", "--max-credits", "220")
    assert (third["outcome"], third["credits_spent"], third["fetched"]) == ("success", 100.5, 200)
    # No page paid twice: 1,000 jobs once each, plus one 1-job estimate per run.
    assert env.sim.stats()["jobs_served"] == 1000 + 3
    assert paid_pages(env.sim) == 10 + 3
    assert env.sim.wallet() == {"subscription": False, "balance": 9498.5, "spent": 501.5}
    assert_exact(os_client, env.base, env.sim)
    runs = env.run("status")["last_runs"]
    assert [(r["outcome"], r["counts"]["credits_spent"]) for r in runs[:3]] == [
        ("success", 100.5),
        ("capped", 200.5),
        ("capped", 200.5),
    ]


def test_a_backfill_the_wallet_cannot_finish_needs_allow_partial(
    make_env, os_client: OpenSearch
) -> None:
    env = make_env(jobs=600, credits=120.0)
    refused = env.run("backfill", "--batch-size", "100", expect=4)
    assert refused["outcome"] == "refused"
    assert "--allow-partial" in refused["error"]
    assert env.sim.wallet()["spent"] == 0.5
    # Asked explicitly, it fetches what the wallet pays for (2 pages), then the 402 stops it.
    partial = env.run("backfill", "--batch-size", "100", "--allow-partial", expect=4)
    assert "credits" in partial["error"]
    assert len(index_docs(os_client, env.base)) == 200
    env.sim.wallet(add=500)
    resumed = env.run("backfill", "--batch-size", "100")
    assert (resumed["outcome"], resumed["fetched"], resumed["credits_spent"]) == (
        "success",
        400,
        200.5,
    )
    assert env.sim.stats()["jobs_served"] == 600 + 3
    assert_exact(os_client, env.base, env.sim)


def test_the_automatic_resync_is_skipped_with_a_log_line_when_the_wallet_cannot_pay(
    make_env, os_client: OpenSearch
) -> None:
    env = make_env(jobs=600)
    env.run("backfill", "--batch-size", "100")
    changed = env.sim.mutate(create=5, update=3)
    # The last sweep is 8 days old: /expired cannot cover the gap, so sync wants a full re-sync.
    state = StateStore(os_client, schema.index_names(env.base).state)
    found = state.load("sync")
    assert found is not None
    stale_sweep = format_timestamp(utcnow() - timedelta(days=8))
    state.save("sync", {**found.doc, "last_sweep_at": stale_sweep}, expected=found)
    env.sim.wallet(balance=50)  # the re-sync would cost about 302.5
    result = env.invoke("sync", "--batch-size", "100", "--json")
    assert result.exit_code == 0, result.output
    assert "automatic full re-sync skipped, the wallet cannot pay for it" in result.stderr
    assert "302.5 credits" in result.stderr
    summary = __import__("json").loads(result.stdout.strip().splitlines()[-1])
    assert summary["outcome"] == "success"
    assert "resync skipped: the wallet cannot pay for it" in summary["steps"]
    # Only the estimate and the incremental fetch were paid for.
    assert summary["fetched"] >= 8
    assert summary["credits_spent"] == 0.5 + 0.5 * summary["fetched"]
    assert env.sim.wallet()["spent"] == summary["credits_spent"]
    docs = index_docs(os_client, env.base)
    assert set(changed["created"]) <= set(docs)
    after = state.load("sync")
    assert after is not None
    assert after.doc["last_sweep_at"] == stale_sweep, "the gap stays: the next run tries again"
    assert after.doc["last_run_started_at"] > found.doc["last_run_started_at"]


def test_on_a_subscription_a_cap_changes_nothing(make_env, os_client: OpenSearch) -> None:
    env = make_env(jobs=300)
    backfill = env.run("backfill", "--batch-size", "100", "--max-credits", "1")
    assert (backfill["outcome"], backfill["credits_spent"]) == ("success", 0)
    assert backfill["subscription"] is True
    env.sim.mutate(create=3)
    # An incremental run has no estimate page: it learns the plan from a 1-job page first.
    sync = env.run("sync", "--batch-size", "100", "--max-credits", "1")
    assert (sync["outcome"], sync["credits_spent"]) == ("success", 0)
    assert env.run("status")["credits"]["next_full_scan"]["credits"] == 0
    assert_exact(os_client, env.base, env.sim)
