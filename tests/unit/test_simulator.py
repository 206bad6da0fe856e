"""The feed simulator's Jobo API surface, over real HTTP: auth, filters, paging, cursors, wallet."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from indexer.simulator import RunningSimulator, start_simulator

FEED = "/api/jobs/feed"
EXPIRED = "/api/jobs/expired"


def feed(sim: RunningSimulator, body: dict[str, Any] | None = None) -> requests.Response:
    return requests.post(
        f"{sim.url}{FEED}", json=body or {}, headers={"X-Api-Key": sim.api_key}, timeout=30
    )


def expired(sim: RunningSimulator, **params: Any) -> requests.Response:
    return requests.get(
        f"{sim.url}{EXPIRED}", params=params, headers={"X-Api-Key": sim.api_key}, timeout=30
    )


def scan(sim: RunningSimulator, body: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every job of a scan, following cursors sent alone."""
    page = feed(sim, body).json()
    jobs = list(page["jobs"])
    while page["has_more"]:
        page = feed(sim, {"cursor": page["next_cursor"]}).json()
        jobs.extend(page["jobs"])
    return jobs


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    """A read-only world shared by this module's tests (none of them mutate or arm faults)."""
    with start_simulator(jobs=400, seed=11) as running:
        yield running


@pytest.fixture(scope="module")
def all_jobs(sim: RunningSimulator) -> list[dict[str, Any]]:
    return scan(sim, {"batch_size": 1000})


# -- auth and routing -------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_every_api_and_control_path_refuses_a_missing_or_wrong_key(
    sim: RunningSimulator, key: str | None
) -> None:
    headers = {} if key is None else {"X-Api-Key": key}
    calls = [
        requests.post(f"{sim.url}{FEED}", json={}, headers=headers, timeout=10),
        requests.get(f"{sim.url}{EXPIRED}", headers=headers, timeout=10),
        requests.get(f"{sim.url}/_sim/truth", headers=headers, timeout=10),
        requests.post(f"{sim.url}/_sim/mutate", json={"create": 1}, headers=headers, timeout=10),
    ]
    for response in calls:
        assert response.status_code == 401
        body = response.json()
        assert body["status"] == 401
        assert body["error"] == "Unauthorized"
        assert "X-Api-Key" in body["message"]
        assert sim.api_key not in response.text
    assert sim.truth()["active"], "the refused mutate must not have changed anything"


def test_health_needs_no_key_and_unknown_paths_and_methods_are_problems(
    sim: RunningSimulator,
) -> None:
    assert requests.get(f"{sim.url}/_sim/health", timeout=10).json()["status"] == "ok"
    missing = requests.get(f"{sim.url}/api/nope", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["status"] == 404
    wrong_method = requests.get(f"{sim.url}{FEED}", headers={"X-Api-Key": sim.api_key}, timeout=10)
    assert wrong_method.status_code == 405


def test_repr_of_a_running_simulator_hides_the_key() -> None:
    with start_simulator(jobs=5, api_key="s3cret-value") as running:
        assert "s3cret-value" not in repr(running)
        assert "s3cret-value" not in repr(running.app.config)


# -- paging -----------------------------------------------------------------------------------


def test_a_full_scan_has_no_gap_or_duplicate_and_is_ordered_by_created_at_then_id(
    sim: RunningSimulator,
) -> None:
    first = feed(sim, {"batch_size": 37})
    assert first.status_code == 200
    page = first.json()
    assert page["estimated_total"] == 400
    assert first.headers["X-Has-More"] == "true"
    jobs = list(page["jobs"])
    pages = 1
    while page["has_more"]:
        response = feed(sim, {"cursor": page["next_cursor"]})
        page = response.json()
        assert "estimated_total" not in page
        assert response.headers["X-Has-More"] == ("true" if page["has_more"] else "false")
        assert len(page["jobs"]) <= 37
        jobs.extend(page["jobs"])
        pages += 1
    assert page["next_cursor"] is None
    assert pages == 11  # ceil(400 / 37)
    ids = [job["id"] for job in jobs]
    assert len(ids) == len(set(ids)) == 400
    keys = [(job["created_at"], job["id"]) for job in jobs]
    assert keys == sorted(keys)
    assert set(ids) == set(sim.truth()["active"])


def test_a_cursor_is_sent_alone_and_fields_beside_it_are_ignored(sim: RunningSimulator) -> None:
    first = feed(sim, {"batch_size": 2, "sources": ["greenhouse", "lever_co"]}).json()
    cursor = first["next_cursor"]
    assert cursor
    alone = feed(sim, {"cursor": cursor})
    noisy = feed(sim, {"cursor": cursor, "batch_size": 1, "sources": ["x"], "updated_after": "?"})
    assert alone.status_code == noisy.status_code == 200
    assert alone.content == noisy.content
    assert {job["source"] for job in alone.json()["jobs"]} <= {"greenhouse", "lever_co"}


def test_a_cursor_can_be_replayed_until_it_expires(sim: RunningSimulator) -> None:
    cursor = feed(sim, {"batch_size": 10}).json()["next_cursor"]
    assert feed(sim, {"cursor": cursor}).content == feed(sim, {"cursor": cursor}).content


def test_cursors_expire_after_the_ttl_and_garbage_is_an_invalid_cursor() -> None:
    with start_simulator(jobs=30, cursor_ttl=0.3) as short:
        cursor = feed(short, {"batch_size": 5}).json()["next_cursor"]
        assert feed(short, {"cursor": cursor}).status_code == 200
        time.sleep(0.5)
        stale = feed(short, {"cursor": cursor})
        assert stale.status_code == 400
        assert stale.json()["message"] == "Invalid cursor"
        for garbage in ["not-a-cursor", cursor[:-4] + "AAAA", "e30.e30", 17]:
            response = feed(short, {"cursor": garbage})
            assert response.status_code == 400
            assert response.json()["message"] == "Invalid cursor"


def test_a_cursor_from_the_expired_endpoint_is_refused_by_the_feed() -> None:
    with start_simulator(jobs=100, expired_jobs=20) as running:
        since = iso(datetime.now(UTC) - timedelta(days=7))
        cursor = expired(running, expired_since=since, batch_size=2).json()["next_cursor"]
        assert cursor
        assert feed(running, {"cursor": cursor}).json()["message"] == "Invalid cursor"
        assert expired(running, cursor=cursor).status_code == 200


@pytest.mark.parametrize("size", [0, 1001, -1, "many", True, 2.5])
def test_feed_batch_size_outside_1_to_1000_is_a_400(sim: RunningSimulator, size: object) -> None:
    response = feed(sim, {"batch_size": size})
    assert response.status_code == 400
    assert "batch_size" in response.json()["message"]


@pytest.mark.parametrize(("size", "count"), [(1, 1), (1000, 400)])
def test_feed_batch_size_limits_are_inclusive(sim: RunningSimulator, size: int, count: int) -> None:
    assert len(feed(sim, {"batch_size": size}).json()["jobs"]) == count


# -- filters ----------------------------------------------------------------------------------


def ids_of(jobs: list[dict[str, Any]]) -> set[str]:
    return {job["id"] for job in jobs}


def test_sources_filter_any_of(sim: RunningSimulator, all_jobs: list[dict[str, Any]]) -> None:
    wanted = {all_jobs[0]["source"], all_jobs[1]["source"]}
    expected = {job["id"] for job in all_jobs if job["source"] in wanted}
    assert ids_of(scan(sim, {"sources": sorted(wanted), "batch_size": 7})) == expected


def test_work_models_filter(sim: RunningSimulator, all_jobs: list[dict[str, Any]]) -> None:
    expected = {job["id"] for job in all_jobs if job["workplace_type"] in ("remote", "hybrid")}
    assert 0 < len(expected) < len(all_jobs)
    assert ids_of(scan(sim, {"work_models": ["remote", "hybrid"]})) == expected


def test_employment_types_accept_both_spellings_and_match_both(
    sim: RunningSimulator, all_jobs: list[dict[str, Any]]
) -> None:
    expected = {j["id"] for j in all_jobs if j["employment_type"] in ("full_time", "full-time")}
    spellings = {j["employment_type"] for j in all_jobs if j["id"] in expected}
    assert spellings == {"full_time", "full-time"}
    assert ids_of(scan(sim, {"employment_types": ["full-time"]})) == expected
    assert ids_of(scan(sim, {"employment_types": ["full_time"]})) == expected


def test_experience_levels_filter(sim: RunningSimulator, all_jobs: list[dict[str, Any]]) -> None:
    expected = {job["id"] for job in all_jobs if job["experience_level"] == "senior"}
    assert expected
    assert ids_of(scan(sim, {"experience_levels": ["senior"]})) == expected


def test_locations_filter_matches_any_location_by_the_given_parts(
    sim: RunningSimulator, all_jobs: list[dict[str, Any]]
) -> None:
    def expected(country: str, city: str | None = None) -> set[str]:
        return {
            job["id"]
            for job in all_jobs
            if any(
                loc["country"] == country and (city is None or loc["city"] == city)
                for loc in job["locations"]
            )
        }

    us_or_de = expected("US") | expected("DE")
    assert us_or_de
    body = {"locations": [{"country": "US"}, {"country": "de"}]}
    assert ids_of(scan(sim, body)) == us_or_de
    place = next(loc for job in all_jobs for loc in job["locations"] if loc["city"])
    by_city = {"locations": [{"country": place["country"], "city": place["city"]}]}
    assert ids_of(scan(sim, by_city)) == expected(place["country"], place["city"])


def test_updated_after_and_posted_after(
    sim: RunningSimulator, all_jobs: list[dict[str, Any]]
) -> None:
    stamps = sorted(job["updated_at"] for job in all_jobs)
    cut = stamps[len(stamps) // 2]
    updated = {job["id"] for job in all_jobs if job["updated_at"] >= cut}
    assert ids_of(scan(sim, {"updated_after": cut, "batch_size": 50})) == updated

    def posted(job: dict[str, Any]) -> str:
        return job["date_posted"] or job["created_at"]

    posted_cut = sorted(posted(job) for job in all_jobs)[300]
    expected = {job["id"] for job in all_jobs if posted(job) >= posted_cut}
    assert ids_of(scan(sim, {"posted_after": posted_cut})) == expected


def test_filters_and_together_and_estimated_total_counts_the_filtered_scan(
    sim: RunningSimulator, all_jobs: list[dict[str, Any]]
) -> None:
    expected = {
        job["id"]
        for job in all_jobs
        if job["workplace_type"] == "onsite" and job["experience_level"] in ("mid", "senior")
    }
    body = {"work_models": ["onsite"], "experience_levels": ["mid", "senior"], "batch_size": 9}
    assert feed(sim, body).json()["estimated_total"] == len(expected)
    assert ids_of(scan(sim, body)) == expected


@pytest.mark.parametrize(
    "body",
    [
        {"sources": "greenhouse"},
        {"work_models": [1]},
        {"updated_after": "yesterday"},
        {"posted_after": 12},
        {"locations": "Berlin"},
        {"locations": [{}]},
        {"stable_scan": "yes"},
    ],
)
def test_malformed_filters_are_a_400_naming_the_field(
    sim: RunningSimulator, body: dict[str, Any]
) -> None:
    response = feed(sim, body)
    assert response.status_code == 400
    field = next(iter(body)).rstrip("s") if "locations" not in body else "location"
    assert field.split("_")[0] in response.json()["message"]


# -- wallet -----------------------------------------------------------------------------------


def test_subscription_pages_are_free(sim: RunningSimulator) -> None:
    response = feed(sim, {"batch_size": 20})
    assert response.headers["X-Credits-Deducted"] == "0"
    assert "X-Credits-Balance" not in response.headers


def test_the_wallet_pays_half_a_credit_per_job_and_refuses_an_unpayable_page() -> None:
    with start_simulator(jobs=300, credits=100) as paid:
        first = feed(paid, {"batch_size": 100})
        assert first.headers["X-Credits-Deducted"] == "50"
        assert first.headers["X-Credits-Balance"] == "50"
        assert feed(paid, {"batch_size": 0}).status_code == 400
        second = feed(paid, {"cursor": first.json()["next_cursor"]})
        assert second.headers["X-Credits-Balance"] == "0"
        refused = feed(paid, {"cursor": second.json()["next_cursor"]})
        assert refused.status_code == 402
        body = refused.json()
        assert body["credits_required"] == 50
        assert body["credits_balance"] == 0
        assert paid.stats()["credits_balance"] == 0
        assert paid.stats()["credits_spent"] == 100


def test_expired_is_free_even_on_a_wallet() -> None:
    with start_simulator(jobs=50, credits=10, expired_jobs=5) as paid:
        assert expired(paid).status_code == 200
        assert paid.stats()["credits_balance"] == 10


# -- /expired ---------------------------------------------------------------------------------


def test_expired_defaults_to_the_last_24_hours() -> None:
    with start_simulator(jobs=200, expired_jobs=60) as running:
        now_ms = int(time.time() * 1000)
        times = running.app.world.expiry_times()
        body = expired(running).json()
        assert body["has_more"] is False
        assert body["next_cursor"] is None
        recent = {job_id for job_id, at in times.items() if at >= now_ms - 86_400_000}
        older = set(times) - recent
        assert older, "the world must hold expiries older than a day"
        assert set(body["job_ids"]) == recent


def test_expired_pages_by_cursor_and_batch_size_over_the_window() -> None:
    with start_simulator(jobs=200, expired_jobs=60) as running:
        since_dt = datetime.now(UTC) - timedelta(days=6, hours=23)
        since_ms = int(since_dt.timestamp() * 1000)
        expected = {i for i, at in running.app.world.expiry_times().items() if at >= since_ms}
        page = expired(running, expired_since=iso(since_dt), batch_size=7).json()
        seen = list(page["job_ids"])
        while page["has_more"]:
            assert len(page["job_ids"]) == 7
            page = expired(running, cursor=page["next_cursor"]).json()
            seen.extend(page["job_ids"])
        assert len(seen) == len(set(seen))
        assert set(seen) == expected
        assert len(expected) > 7


def test_expired_more_than_7_days_back_or_bad_batch_is_a_400(sim: RunningSimulator) -> None:
    eight_days = iso(datetime.now(UTC) - timedelta(days=8))
    response = expired(sim, expired_since=eight_days)
    assert response.status_code == 400
    assert "7 days" in response.json()["message"]
    assert expired(sim, expired_since=iso(datetime.now(UTC) - timedelta(days=6))).ok
    for size in (0, 10_001, "x"):
        assert expired(sim, batch_size=size).status_code == 400
    assert expired(sim, batch_size=10_000).ok
    assert expired(sim, cursor="junk").json()["message"] == "Invalid cursor"


# -- truth and stats --------------------------------------------------------------------------


def test_truth_matches_the_served_updated_at(
    sim: RunningSimulator, all_jobs: list[dict[str, Any]]
) -> None:
    truth = sim.truth()
    assert truth["active"] == {job["id"]: job["updated_at"] for job in all_jobs}
    assert not set(truth["expired"]) & set(truth["active"])


def test_stats_count_requests_per_path_and_status_and_jobs_served() -> None:
    with start_simulator(jobs=30) as running:
        feed(running, {"batch_size": 10})
        feed(running, {"batch_size": 0})
        expired(running)
        stats = running.stats()
        assert stats["requests"][FEED] == {"200": 1, "400": 1}
        assert stats["requests"][EXPIRED] == {"200": 1}
        assert stats["jobs_served"] == 10
        assert stats["active_jobs"] == 30
        assert stats["subscription"] is True
