"""The simulator's control endpoints (mutate, faults, truth), determinism, world realism and CLI."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import requests

from indexer.simulator import RunningSimulator, start_simulator
from indexer.simulator.world import FeedQuery, World

FEED = "/api/jobs/feed"
EXPIRED = "/api/jobs/expired"
ANCHOR = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def feed(sim: RunningSimulator, body: dict[str, Any] | None = None) -> requests.Response:
    return requests.post(
        f"{sim.url}{FEED}", json=body or {}, headers={"X-Api-Key": sim.api_key}, timeout=30
    )


def control(sim: RunningSimulator, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(
        method, f"{sim.url}{path}", json=body, headers={"X-Api-Key": sim.api_key}, timeout=30
    )


def served(sim: RunningSimulator) -> dict[str, dict[str, Any]]:
    page = feed(sim).json()
    jobs = list(page["jobs"])
    while page["has_more"]:
        page = feed(sim, {"cursor": page["next_cursor"]}).json()
        jobs.extend(page["jobs"])
    return {job["id"]: job for job in jobs}


def pages(sim: RunningSimulator, count: int, batch: int) -> list[bytes]:
    bodies = [feed(sim, {"batch_size": batch}).content]
    for _ in range(count - 1):
        cursor = orjson.loads(bodies[-1])["next_cursor"]
        bodies.append(feed(sim, {"cursor": cursor}).content)
    return bodies


# -- mutations --------------------------------------------------------------------------------


def test_mutate_creates_updates_expires_and_reposts_and_the_feed_and_truth_follow() -> None:
    with start_simulator(jobs=200, expired_jobs=20) as sim:
        before = served(sim)
        started = datetime.now(UTC)
        changes = sim.mutate(create=4, update=5, expire=3, repost=2)
        assert {key: len(ids) for key, ids in changes.items()} == {
            "created": 4,
            "updated": 5,
            "expired": 3,
            "reposted": 2,
        }
        after = served(sim)
        truth = sim.truth()
        assert set(truth["active"]) == set(after)
        assert {i: job["updated_at"] for i, job in after.items()} == truth["active"]
        for job_id in changes["created"]:
            assert job_id not in before
            assert datetime.fromisoformat(after[job_id]["created_at"]) >= started
        for job_id in changes["updated"]:
            old, new = before[job_id], after[job_id]
            assert new["updated_at"] > old["updated_at"]
            assert new["created_at"] == old["created_at"]
            assert new["description"] != old["description"] or new["title"] != old["title"]
            assert datetime.fromisoformat(new["updated_at"]) >= started
        for job_id in changes["expired"]:
            assert job_id not in after
            assert job_id in truth["expired"]
        recent = requests.get(
            f"{sim.url}{EXPIRED}", headers={"X-Api-Key": sim.api_key}, timeout=10
        ).json()["job_ids"]
        assert set(changes["expired"]) <= set(recent)
        for job_id in changes["reposted"]:
            assert job_id in after
            assert job_id not in truth["expired"]
            assert job_id not in recent
            assert datetime.fromisoformat(after[job_id]["updated_at"]) >= started


def test_updates_reach_old_postings_and_updated_after_finds_them() -> None:
    with start_simulator(jobs=300) as sim:
        watermark = datetime.now(UTC).isoformat()
        changes = sim.mutate(update=40)
        found = {job["id"] for job in feed(sim, {"updated_after": watermark}).json()["jobs"]}
        assert found == set(changes["updated"])
        jobs = served(sim)
        created = sorted(jobs[i]["created_at"] for i in changes["updated"])
        assert created[0] < watermark[:10], "some updated jobs must be weeks old"


def test_lag_minutes_stamps_changes_in_the_past_but_they_appear_only_now() -> None:
    with start_simulator(jobs=100) as sim:
        seen_before = set(served(sim))
        now = datetime.now(UTC)
        changes = sim.mutate(create=2, update=2, lag_minutes=30)
        after = served(sim)
        for job_id in changes["created"] + changes["updated"]:
            stamp = datetime.fromisoformat(after[job_id]["updated_at"])
            assert 25 * 60 <= (now - stamp).total_seconds() <= 35 * 60
        assert not set(changes["created"]) & seen_before
        assert set(changes["created"]) <= set(after)


def test_updated_at_strictly_increases_on_every_change_of_a_job() -> None:
    with start_simulator(jobs=3) as sim:
        history: dict[str, list[str]] = {i: [t] for i, t in sim.truth()["active"].items()}
        for _ in range(4):
            sim.mutate(update=3, lag_minutes=60 * 24 * 90)
            for job_id, stamp in sim.truth()["active"].items():
                history[job_id].append(stamp)
        for stamps in history.values():
            assert all(a < b for a, b in itertools.pairwise(stamps))
            assert all(STAMP.match(s) for s in stamps)


def test_mutations_are_deterministic_given_seed_and_call_sequence() -> None:
    results = []
    for _ in range(2):
        with start_simulator(jobs=80, seed=5) as sim:
            results.append([sim.mutate(create=2, update=3, expire=2, repost=1) for _ in range(2)])
    assert results[0] == results[1]


@pytest.mark.parametrize(
    "body", [{"create": -1}, {"update": "3"}, {"lag_minutes": -5}, {"explode": 1}, [1]]
)
def test_mutate_rejects_bad_bodies(body: Any) -> None:
    with start_simulator(jobs=5) as sim:
        response = control(sim, "POST", "/_sim/mutate", body)
        assert response.status_code == 400
        assert response.json()["status"] == 400


# -- wallet -----------------------------------------------------------------------------------


def test_the_wallet_endpoint_tops_up_sets_and_switches_the_plan() -> None:
    with start_simulator(jobs=100, credits=10) as sim:
        assert sim.wallet() == {"subscription": False, "balance": 10, "spent": 0}
        refused = feed(sim, {"batch_size": 40})  # 20 credits: more than the wallet holds
        assert refused.status_code == 402
        assert sim.wallet(add=15)["balance"] == 25
        paid = feed(sim, {"batch_size": 40})
        assert paid.headers["X-Credits-Deducted"] == "20"
        assert paid.headers["X-Credits-Balance"] == "5"
        assert sim.wallet(balance=1)["balance"] == 1
        assert sim.wallet(subscription=True) == {"subscription": True, "balance": None, "spent": 20}
        free = feed(sim, {"cursor": paid.json()["next_cursor"]})
        assert free.headers["X-Credits-Deducted"] == "0"
        assert "X-Credits-Balance" not in free.headers
        assert sim.wallet(balance=3) == {"subscription": False, "balance": 3, "spent": 20}
        assert feed(sim, {"batch_size": 6}).headers["X-Credits-Balance"] == "0"


@pytest.mark.parametrize(
    "body",
    [{"add": -1}, {"balance": "5"}, {"subscription": "yes"}, {"subscription": False}, {"x": 1}],
)
def test_the_wallet_endpoint_rejects_bad_bodies(body: Any) -> None:
    with start_simulator(jobs=5) as sim:  # a subscription: leaving it needs a balance
        response = control(sim, "POST", "/_sim/wallet", body)
        assert response.status_code == 400
        assert response.json()["status"] == 400
        assert sim.wallet() == {"subscription": True, "balance": None, "spent": 0}


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 402, 403, 409, 429, 500, 503])
def test_status_faults_answer_like_the_real_api_and_then_clear(status: int) -> None:
    with start_simulator(jobs=20, retry_after=7, credits=100) as sim:
        sim.add_fault(path=FEED, status=status, times=2)
        for _ in range(2):
            response = feed(sim)
            assert response.status_code == status
            body = response.json()
            assert body["status"] == status
            assert body["message"]
            if status in (429, 503):
                assert response.headers["Retry-After"] == "7"
            if status == 400:
                assert body["message"] == "Invalid cursor"
            if status == 402:
                assert {"credits_required", "credits_balance"} <= set(body)
        assert sim.stats()["credits_balance"] == 100, "failed responses cost nothing"
        assert feed(sim).status_code == 200
        assert sim.stats()["requests"][FEED] == {str(status): 2, "200": 1}


def test_a_delayed_fault_fails_page_three_and_the_same_cursor_then_succeeds() -> None:
    with start_simulator(jobs=100) as sim:
        sim.add_fault(path=FEED, status=503, times=1, after=2)
        first = feed(sim, {"batch_size": 10}).json()
        second = feed(sim, {"cursor": first["next_cursor"]}).json()
        failed = feed(sim, {"cursor": second["next_cursor"]})
        assert failed.status_code == 503
        retried = feed(sim, {"cursor": second["next_cursor"]})
        assert retried.status_code == 200
        assert retried.json()["jobs"][0]["id"] not in {j["id"] for j in second["jobs"]}


def test_faults_on_the_expired_path_leave_the_feed_alone() -> None:
    with start_simulator(jobs=20) as sim:
        sim.add_fault(path=EXPIRED, status=500)
        assert feed(sim).status_code == 200
        url = f"{sim.url}{EXPIRED}"
        assert requests.get(url, headers={"X-Api-Key": sim.api_key}, timeout=10).status_code == 500
        assert requests.get(url, headers={"X-Api-Key": sim.api_key}, timeout=10).status_code == 200


def test_truncate_cuts_the_body_after_promising_its_full_length() -> None:
    with start_simulator(jobs=50) as sim:
        expected = feed(sim, {"batch_size": 20}).content
        sim.add_fault(path=FEED, truncate=1)
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            feed(sim, {"batch_size": 20})
        assert feed(sim, {"batch_size": 20}).content == expected


def test_malformed_jobs_come_in_addition_to_the_valid_ones_and_are_not_truth() -> None:
    with start_simulator(jobs=50) as sim:
        sim.add_fault(malformed_jobs=4)
        jobs = feed(sim, {"batch_size": 10}).json()["jobs"]
        assert len(jobs) == 14
        truth = sim.truth()["active"]
        valid = [job for job in jobs if isinstance(job.get("id"), str) and job["id"] in truth]
        broken = [job for job in jobs if job not in valid]
        assert len(valid) == 10
        assert len(broken) == 4
        for job in broken:
            assert (
                "id" not in job
                or not isinstance(job["id"], str)
                or not isinstance(job.get("locations"), list)
                or not STAMP.match(str(job.get("updated_at")))
            )
        assert len(feed(sim, {"batch_size": 10}).json()["jobs"]) == 10
        assert sim.stats()["jobs_served"] == 20


def test_delete_faults_clears_everything_pending() -> None:
    with start_simulator(jobs=10) as sim:
        sim.add_fault(path=FEED, status=503, times=5)
        sim.add_fault(path=EXPIRED, truncate=2)
        assert len(sim.stats()["pending_faults"]) == 2
        assert sim.clear_faults() == {"cleared": 2}
        assert feed(sim).status_code == 200
        assert sim.stats()["pending_faults"] == []


@pytest.mark.parametrize(
    "spec",
    [
        {"path": FEED},
        {"path": "/elsewhere", "status": 503},
        {"status": 418},
        {"status": 503, "times": 0},
        {"status": 503, "truncate": 1},
        {"path": EXPIRED, "malformed_jobs": 2},
    ],
)
def test_bad_fault_specs_are_a_400(spec: dict[str, Any]) -> None:
    with start_simulator(jobs=5) as sim:
        assert control(sim, "POST", "/_sim/faults", spec).status_code == 400


# -- determinism ------------------------------------------------------------------------------


def test_same_seed_and_anchor_serve_byte_identical_pages() -> None:
    with start_simulator(jobs=150, seed=3, anchor=ANCHOR) as one:
        first = pages(one, 3, 40)
    with start_simulator(jobs=150, seed=3, anchor=ANCHOR) as two:
        second = pages(two, 3, 40)
    assert first == second
    with start_simulator(jobs=150, seed=4, anchor=ANCHOR) as other:
        assert pages(other, 3, 40) != first


# -- world realism ----------------------------------------------------------------------------


def test_the_world_covers_the_contract_shapes() -> None:
    world = World(seed=9, jobs=3000, anchor_ms=int(ANCHOR.timestamp() * 1000))
    page = world.feed_page(FeedQuery(), None, 3000, with_total=False)
    jobs = [orjson.loads(raw) for raw in page.jobs]
    currencies = {job["compensation"]["currency"] for job in jobs if job["compensation"]}
    assert {"USD", "EUR", "GBP", "CAD", "AUD", "INR", "JPY", "CHF", "SEK", "PLN", "BRL", "SGD"} <= (
        currencies
    )
    periods = {job["compensation"]["period"] for job in jobs if job["compensation"]}
    assert periods == {"hourly", "daily", "weekly", "monthly", "yearly", "per-diem"}
    shapes = Counter(
        "null"
        if job["compensation"] is None
        else ("max-only" if job["compensation"]["min"] is None else "min-only")
        if None in (job["compensation"]["min"], job["compensation"]["max"])
        else "range"
        for job in jobs
    )
    assert set(shapes) == {"null", "max-only", "min-only", "range"}
    assert Counter(len(job["locations"]) for job in jobs).keys() == {0, 1, 2, 3}
    assert len({job["source"] for job in jobs}) >= 90
    assert {"full_time", "full-time"} <= {job["employment_type"] for job in jobs}
    sizes = [len(job["description"].encode()) for job in jobs]
    assert min(sizes) >= 500
    assert max(sizes) <= 21_000
    assert max(sizes) > 10_000
    assert all("\n" in job["description"] for job in jobs)
    assert any(not job["title"].isascii() for job in jobs)
    assert any(not job["company"]["name"].isascii() for job in jobs)
    standard = set(jobs[0]) | {"valid_through"}
    extras = [job for job in jobs if set(job) - standard]
    assert 0 < len(extras) < len(jobs) * 0.05
    for job in jobs:
        assert STAMP.match(job["created_at"])
        assert STAMP.match(job["updated_at"])
        assert job["updated_at"] >= job["created_at"]
    oldest = min(job["created_at"] for job in jobs)
    assert oldest < "2026-01-05", "created_at spreads over about 60 days before the anchor"


# -- CLI --------------------------------------------------------------------------------------


def test_the_simulate_command_serves_until_sigterm() -> None:
    env = {**os.environ, "JOBO_API_KEY": "cli-key"}
    command = [
        sys.executable,
        "-c",
        "from indexer.cli.simulate import simulate; simulate()",
        "--port",
        "0",
        "--jobs",
        "40",
        "--credits",
        "7",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode().strip()
        assert url.startswith("http://127.0.0.1:")
        response = requests.post(
            f"{url}{FEED}", json={"batch_size": 4}, headers={"X-Api-Key": "cli-key"}, timeout=10
        )
        assert response.headers["X-Credits-Balance"] == "5"
        assert requests.post(f"{url}{FEED}", json={}, timeout=10).status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0
    assert b"cli-key" not in stderr
    assert b"40 active" in stderr


def test_the_simulate_command_refuses_credits_with_subscription() -> None:
    from click.testing import CliRunner

    from indexer.cli.simulate import simulate

    result = CliRunner().invoke(
        simulate, ["--api-key", "k", "--credits", "5", "--subscription", "--port", "0"]
    )
    assert result.exit_code == 2
    assert "not both" in result.output
