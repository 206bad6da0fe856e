"""The simulated world is realistic where search depends on it: skills that fit the role family,
and the same posting on several boards."""

from __future__ import annotations

from typing import Any

import orjson

from indexer.simulator import content
from indexer.simulator.world import FeedQuery, World

ANCHOR_MS = 1_780_000_000_000


def world_and_jobs(seed: int = 3, jobs: int = 1500) -> tuple[World, dict[str, dict[str, Any]]]:
    world = World(seed=seed, jobs=jobs, anchor_ms=ANCHOR_MS, expired_jobs=0)
    page = world.feed_page(FeedQuery(), None, jobs, with_total=False)
    return world, {job["id"]: job for job in map(orjson.loads, page.jobs)}


def hard_skills(job: dict[str, Any]) -> list[str]:
    quals = job["qualifications"]
    return [
        skill["name"]
        for level in ("must_have", "preferred")
        for skill in quals[level]["skills"]
        if skill["type"] == "hard"
    ]


def test_most_hard_skills_come_from_the_role_family_of_the_title() -> None:
    _, jobs = world_and_jobs()
    in_family = total = 0
    for job in jobs.values():
        family = content.FAMILY_SKILLS[content.family_of(job["normalized_title"])]
        skills = hard_skills(job)
        in_family += sum(1 for skill in skills if skill in family)
        total += len(skills)
    assert in_family / total > 0.85
    developers = [j for j in jobs.values() if j["normalized_title"] == "frontend_developer"]
    assert sum("React" in hard_skills(j) for j in developers) > len(developers) / 4
    nurses = [j for j in jobs.values() if j["normalized_title"] == "registered_nurse"]
    assert not any("React" in hard_skills(j) for j in nurses)


def test_some_postings_repeat_on_two_or_three_boards_with_their_own_ids_and_urls() -> None:
    world, jobs = world_and_jobs()
    duplicates = world.duplicates()
    assert 0.04 * len(jobs) < len(duplicates) < 0.15 * len(jobs)
    per_original: dict[str, int] = {}
    for copy_id, original_id in duplicates.items():
        copy, original = jobs[copy_id], jobs[original_id]
        per_original[original_id] = per_original.get(original_id, 0) + 1
        assert copy["id"] != original["id"]
        assert copy["source"] != original["source"]
        assert copy["listing_url"] != original["listing_url"]
        for same in ("title", "company", "locations", "qualifications", "normalized_title"):
            assert copy[same] == original[same], same
        assert copy["description"].startswith(original["description"])
        assert len(copy["description"]) - len(original["description"]) < 120
    assert set(per_original.values()) <= {1, 2}  # 2-3 boards per posting


def test_duplicates_are_deterministic_and_counted_in_the_jobs_asked_for() -> None:
    first, jobs = world_and_jobs(seed=11, jobs=800)
    second, _ = world_and_jobs(seed=11, jobs=800)
    assert len(jobs) == 800
    assert first.duplicates() == second.duplicates()
    assert set(first.truth()["active"]) == set(jobs)
