"""End-to-end alerts and change stream: the real CLI, the real node, the feed simulator.

The expected matches are computed apart from the matcher, from the simulator's truth: the
jobs each mutation round created, updated or reposted (after the searches were saved) that
satisfy a search, judged on the exact index (asserted against the truth first) in plain Python
for the keyword and salary searches and by the search itself for the text and radius ones.
Across two rounds, a full replay, a run that dies between a page's write and its recording
(SIGKILL) and a run SIGKILLed at a random page, each pair is recorded once and only once, and
the change stream lists exactly the truth's changes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from opensearchpy import OpenSearch, helpers

import indexer.cli.alerts  # noqa: F401 (registers the commands)
from indexer.cli import main
from indexer.search import SearchQuery, match_query
from indexer.store.state import StateStore
from tests.support.e2e import Indexer, assert_exact, run_until_pages, simulated_envs

pytestmark = pytest.mark.integration

API_KEY = "alerts-e2e-key-4711"
SALARY_MIN = 120_000
REPO = Path(__file__).resolve().parents[2]
# A child that dies (SIGKILL) right after its second page was written and before what that
# page changed and matched was recorded: the crash window the recorder must close.
DIE_IN_THE_WINDOW = """
import os, signal, sys
from indexer.alerts import hook
calls = {"n": 0}
original = hook.WriteRecorder._record
def dying(self, *args, **kwargs):
    calls["n"] += 1
    if calls["n"] == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, *args, **kwargs)
hook.WriteRecorder._record = dying
from indexer.cli import main
sys.argv = ["jobo-indexer", *sys.argv[1:]]
main()
"""


@pytest.fixture
def make_env(opensearch_url: str, unique_name, tmp_path: Path) -> Iterator:
    with simulated_envs(
        opensearch_url,
        unique_name,
        tmp_path / "work",
        api_key=API_KEY,
        prefix="ale2e",
        jobs=600,
        seed=16,
    ) as make:
        yield make


def _docs(client: OpenSearch, env: Indexer) -> dict[str, dict[str, Any]]:
    client.indices.refresh(index=f"{env.base}-all")
    return {
        hit["_id"]: hit["_source"]
        for hit in helpers.scan(client, index=f"{env.base}-all", size=2000)
    }


def _searched(client: OpenSearch, env: Indexer, spec: dict[str, Any], ids: set[str]) -> set[str]:
    query = SearchQuery(**spec)
    body = {
        "size": 10_000,
        "_source": False,
        "query": {"bool": {"filter": [match_query(query), {"ids": {"values": sorted(ids)}}]}},
    }
    hits = client.search(index=env.base, body=body)["hits"]["hits"]
    return {hit["_id"] for hit in hits}


def _satisfies(name: str, doc: dict[str, Any]) -> bool:
    if doc.get("status") != "active":
        return False
    if name == "remote":
        return doc.get("workplace_type") == "remote"
    if name == "well-paid":
        salary = doc.get("salary_usd") or {}
        return bool(salary) and (salary.get("lte") is None or salary["lte"] >= SALARY_MIN)
    raise AssertionError(name)


class Expected:
    """The matches the truth calls for, round by round."""

    def __init__(self, client: OpenSearch, env: Indexer, searches: dict[str, dict[str, Any]]):
        self.client, self.env, self.searches = client, env, searches
        self.pairs: dict[str, set[str]] = {name: set() for name in searches}
        self.created: set[str] = set()
        self.updated: set[str] = set()
        self.expired: set[str] = set()
        self.indexed = set(_docs(client, env))  # what the index held before the round

    def round(self, changes: dict[str, list[str]]) -> None:
        """After a sync of ``changes`` (a /_sim/mutate answer): who should hear of what."""
        assert_exact(self.client, self.env.base, self.env.sim)
        changed = set(changes["created"]) | set(changes["updated"]) | set(changes["reposted"])
        docs = _docs(self.client, self.env)
        for name, spec in self.searches.items():
            if name in ("remote", "well-paid"):
                hits = {i for i in changed if _satisfies(name, docs[i])}
            else:
                hits = _searched(self.client, self.env, spec, changed)
            self.pairs[name] |= hits
        # A repost of a job the index never held (it expired before the backfill) is new to
        # the index: created, as a cache following the stream must see it.
        reposted = set(changes["reposted"])
        self.created |= set(changes["created"]) | (reposted - self.indexed)
        self.updated |= set(changes["updated"]) | (reposted & self.indexed)
        self.expired |= set(changes["expired"])
        self.indexed = set(docs)


def _matches(env: Indexer, name: str) -> list[str]:
    listed = _alerts(env, "matches", name, "--limit", "10000")["matches"]
    return [m["job_id"] for m in listed]


def _check(env: Indexer, expected: Expected, since: str) -> None:
    for name, want in expected.pairs.items():
        found = _matches(env, name)
        assert len(found) == len(set(found)), f"{name}: a pair recorded twice"
        assert set(found) == want, (
            f"{name}: missing {sorted(want - set(found))[:5]}, extra "
            f"{sorted(set(found) - want)[:5]}"
        )
    events = env.run("changes", "--since", since, "--limit", "10000")["changes"]
    once = Counter((e["job_id"], e["version"], e["kind"]) for e in events)
    assert max(once.values(), default=1) == 1, "an event recorded twice"
    kinds = {(e["job_id"], e["kind"]) for e in events}  # a job updated twice: two versions
    got = {kind: {job for job, k in kinds if k == kind} for kind in ("created", "updated")}
    assert got["created"] == expected.created
    assert got["updated"] == expected.updated
    assert {job for job, k in kinds if k == "expired"} == expected.expired


def _alerts(env: Indexer, *args: str) -> dict[str, Any]:
    """``jobo-indexer alerts SUBCOMMAND ... --json`` (the group's options follow the subcommand)."""
    common = ["--opensearch-url", env.opensearch_url, "--index", env.base, "--json"]
    result = CliRunner().invoke(main, ["alerts", *args, *common], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def _child(env: Indexer, *args: str, script: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", script, *env.args(*args)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=300,
    )
    return done.returncode


def test_alerts_and_changes_match_the_truth_through_replays_and_kills(
    make_env, os_client: OpenSearch
) -> None:
    env = make_env(jobs=600)
    env.run("backfill", "--batch-size", "100")
    docs = _docs(os_client, env)
    city = Counter(
        (f"{loc['city']}, {loc.get('region') or loc['country']}", loc["country"])
        for doc in docs.values()
        for loc in doc.get("locations") or []
        if loc.get("city") and loc.get("point")
    ).most_common(1)[0][0]
    word = Counter(doc["title"].split()[-1] for doc in docs.values()).most_common(1)[0][0]
    added = {
        "remote": _alerts(env, "add", "remote", "--workplace-type", "remote"),
        "well-paid": _alerts(env, "add", "well-paid", "--salary-min", str(SALARY_MIN)),
        "text": _alerts(env, "add", "text", word),
        "near": _alerts(
            env, "add", "near", "--near-city", city[0], "--country", city[1], "--radius", "500km"
        ),
    }
    searches = {name: _spec(saved) for name, saved in added.items()}
    since = min(saved["saved_at"] for saved in added.values())
    expected = Expected(os_client, env, searches)
    sync = ("sync", "--batch-size", "50")

    for _ in range(2):  # two mutation rounds
        changes = env.sim.mutate(create=60, update=80, expire=25, repost=5)
        env.run(*sync)
        expected.round(changes)
        _check(env, expected, since)
    assert sum(len(p) for p in expected.pairs.values()) > 40  # the searches do match

    replay = env.run("backfill", "--batch-size", "100", "--restart")  # every version again
    assert replay["indexed"] == 0
    _check(env, expected, since)

    changes = env.sim.mutate(create=150, update=100, expire=10)
    assert _child(env, *sync, script=DIE_IN_THE_WINDOW) == -signal.SIGKILL
    # At once (the dead run's last writes not yet refreshed): the page it wrote is recovered.
    env.run(*sync)
    expected.round(changes)
    _check(env, expected, since)

    changes = env.sim.mutate(create=150, update=100, expire=10)
    state = StateStore(os_client, f"{env.base}-indexer-state")
    run_until_pages(env, state, "incremental", 3, *sync, stop=signal.SIGKILL)
    resumed = env.run(*sync)
    expected.round(changes)
    _check(env, expected, since)
    # The killed run's writes were matched by the resumed run's pass: nothing failed.
    assert resumed["alerts"]["match_error"] is None
    assert resumed["alerts"]["matching_passes"] == 1
    assert resumed["alerts"]["new_matches"] > 0

    status = env.run("status")["alerts"]
    assert status["saved_searches"] == 4
    assert status["matches"] == sum(len(p) for p in expected.pairs.values())
    assert status["matched_through"] >= resumed["started_at"]


def _spec(saved: dict[str, Any]) -> dict[str, Any]:
    spec = dict(saved["search"])
    if isinstance(spec.get("near"), dict):
        from indexer.search import GeoPoint

        spec["near"] = GeoPoint(**spec["near"])
    return spec


def test_status_reports_a_failing_webhook_without_failing_the_sync(
    make_env, os_client: OpenSearch
) -> None:
    env = make_env(jobs=200)
    env.run("backfill")
    _alerts(env, "add", "all", "--webhook", "http://127.0.0.1:9/nobody-listens")
    env.sim.mutate(create=20)
    secret = "whsec-e2e-31337"
    summary = env.run("sync", env={"JOBO_ALERTS_WEBHOOK_SECRET": secret})
    assert summary["outcome"] == "success"
    assert summary["alerts"]["delivered"] == 0
    assert summary["alerts"]["delivery_failed"] == 20
    status = env.run("status")
    failing = status["alerts"]["failing_deliveries"]["all"]
    assert failing["failing"] == 20
    assert "ConnectionError" in failing["last_error"]
    assert secret not in json.dumps(status)
    assert secret not in json.dumps(summary)
