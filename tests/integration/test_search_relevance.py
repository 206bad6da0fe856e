# ruff: noqa: F811 (pytest fixtures imported from test_search_data shadow their parameters)
"""Relevance, tested: a judged query set through ``_rank_eval`` with an nDCG@10 floor per class,
plus properties of the text query (skill filter counts, typos, abbreviations, duplicates).

Every judgment is derived from what the simulator knows about a job: its normalised title, the
role family of that title, the skills it lists and the text it writes. No result is hard-coded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from opensearchpy import OpenSearch

from indexer.search import SearchQuery, build_search_body, count, did_you_mean, fold, search
from indexer.simulator.content import family_of
from indexer.store.schema import live_physical_index
from tests.integration.test_search_data import WorldIndex, world_index  # noqa: F401 (the shared fixture)

pytestmark = pytest.mark.integration

Doc = dict[str, Any]
Grader = Callable[[Doc], int]


def words(text: str | None) -> set[str]:
    return set(re.findall(r"\w+", fold(text or "")))


def title_has(doc: Doc, *wanted: str) -> bool:
    return set(wanted) <= words(doc["title"])


def lists(doc: Doc, skill: str) -> bool:
    return fold(skill) in {fold(s) for s in doc["skills"]}


def writes(doc: Doc, skill: str) -> bool:
    return fold(skill) in words(doc["description"])


def by_title(normalized: str, *title_words: str) -> Grader:
    """3: that normalised title (or its words in the title); 1: the same role family."""
    family = family_of(normalized)

    def grade(doc: Doc) -> int:
        if doc["normalized_title"] == normalized or title_has(doc, *title_words):
            return 3
        return 1 if family_of(doc["normalized_title"]) == family else 0

    return grade


def by_role_and_skill(role: str, skill: str) -> Grader:
    """3: role in the title and the skill listed; 2: ... and the skill written; 1: either."""

    def grade(doc: Doc) -> int:
        in_title = title_has(doc, role)
        if in_title and lists(doc, skill):
            return 3
        if in_title and writes(doc, skill):
            return 2
        return 1 if in_title or lists(doc, skill) else 0

    return grade


def by_skill(skill: str) -> Grader:
    """3: the skill is listed; 1: it is only written in the description."""
    return lambda doc: 3 if lists(doc, skill) else (1 if writes(doc, skill) else 0)


@dataclass(frozen=True)
class Judged:
    query_class: str
    text: str
    grade: Grader


SOFTWARE = by_title("software_engineer", "software", "engineer")
DEVELOPER = by_title("frontend_developer", "developer")
JUDGED: tuple[Judged, ...] = (
    Judged("role", "software engineer", SOFTWARE),
    Judged("role", "data scientist", by_title("data_scientist", "data", "scientist")),
    Judged("role", "registered nurse", by_title("registered_nurse", "registered", "nurse")),
    Judged("role", "product manager", by_title("product_manager", "product", "manager")),
    Judged("role", "accountant", by_title("accountant", "accountant")),
    Judged("role_skill", "python developer", by_role_and_skill("developer", "python")),
    Judged("role_skill", "react developer", by_role_and_skill("developer", "react")),
    Judged("role_skill", "kubernetes engineer", by_role_and_skill("engineer", "kubernetes")),
    Judged("role_skill", "sql analyst", by_role_and_skill("analyst", "sql")),
    Judged("skill", "react", by_skill("react")),
    Judged("skill", "terraform", by_skill("terraform")),
    Judged("typo", "sofware engineer", SOFTWARE),
    Judged("typo", "pyhton developer", by_role_and_skill("developer", "python")),
    Judged("typo", "registred nurse", by_title("registered_nurse", "registered", "nurse")),
    Judged("typo", "terrafrom", by_skill("terraform")),
    Judged("abbreviation", "swe", SOFTWARE),
    Judged("abbreviation", "k8s", by_skill("kubernetes")),
    Judged("abbreviation", "js developer", by_role_and_skill("developer", "javascript")),
    Judged(
        "abbreviation", "ml engineer", by_title("machine_learning_engineer", "machine", "learning")
    ),
)
# nDCG@10 floors per class: measured on the simulated world, minus a margin for small shifts.
NDCG_FLOORS = {"role": 0.9, "role_skill": 0.85, "skill": 0.9, "typo": 0.8, "abbreviation": 0.85}


def rank_eval(client: OpenSearch, world: WorldIndex) -> dict[str, Any]:
    physical = live_physical_index(client, world.names.base)
    requests = []
    for judged in JUDGED:
        body = build_search_body(SearchQuery(text=judged.text, facets=(), collapse=False))
        ratings = [
            {"_index": physical, "_id": doc["id"], "rating": rating}
            for doc in world.active
            if (rating := judged.grade(doc)) > 0
        ]
        assert ratings, f"the world has no relevant job for {judged.text!r}"
        requests.append(
            {"id": judged.text, "request": {"query": body["query"]}, "ratings": ratings}
        )
    metric = {"dcg": {"k": 10, "normalize": True}}
    return client.rank_eval(
        index=world.names.read_alias, body={"requests": requests, "metric": metric}
    )


def test_the_judged_set_passes_its_ndcg_floor_per_class(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    answer = rank_eval(os_client, world_index)
    assert not answer["failures"], answer["failures"]
    scores = {text: detail["metric_score"] for text, detail in answer["details"].items()}
    by_class: dict[str, list[float]] = {}
    for judged in JUDGED:
        by_class.setdefault(judged.query_class, []).append(scores[judged.text])
    report = {name: round(sum(v) / len(v), 3) for name, v in by_class.items()}
    print("nDCG@10 per class:", report, "per query:", {k: round(v, 3) for k, v in scores.items()})
    low = {name: mean for name, mean in report.items() if mean < NDCG_FLOORS[name]}
    assert not low, f"nDCG@10 under the floor {NDCG_FLOORS}: {low} (per query {scores})"


# --------------------------------------------------------------------------- properties


def ids(client: OpenSearch, world: WorldIndex, text: str, size: int = 10) -> list[str]:
    query = SearchQuery(text=text, facets=(), collapse=False, size=size, highlight=False)
    return [hit["id"] for hit in search(client, world.names.read_alias, query).hits]


@pytest.mark.parametrize("skills", [["React"], ["react"], ["KUBERNETES"], ["Python", "SQL"]])
def test_the_skill_filter_counts_exactly_and_ignores_case(
    os_client: OpenSearch, world_index: WorldIndex, skills: list[str]
) -> None:
    expected = sum(1 for doc in world_index.active if all(lists(doc, s) for s in skills))
    query = SearchQuery(skills=skills, collapse=False)
    assert expected > 0
    assert count(os_client, world_index.names.read_alias, query) == expected
    page = search(os_client, world_index.names.read_alias, replace(query, facets=("skill",)))
    assert page.total == expected
    facet = {bucket.value: bucket.count for bucket in page.facets["skill"]}
    assert all(facet[fold(s)] == expected for s in skills)


@pytest.mark.parametrize(
    ("typo", "right"),
    [
        ("sofware engineer", "software engineer"),
        ("developper", "developer"),
        ("pyhton developer", "python developer"),
        ("kubernets", "kubernetes"),
        ("acountant", "accountant"),
    ],
)
def test_a_typo_overlaps_its_correct_spelling(
    os_client: OpenSearch, world_index: WorldIndex, typo: str, right: str
) -> None:
    wrong_ids, right_ids = ids(os_client, world_index, typo), ids(os_client, world_index, right)
    assert right_ids
    overlap = len(set(wrong_ids) & set(right_ids)) / len(right_ids)
    assert overlap >= 0.7, (typo, wrong_ids, right, right_ids)


@pytest.mark.parametrize("short_word", ["java", "go", "sql"])
def test_short_words_are_never_fuzzy(
    os_client: OpenSearch, world_index: WorldIndex, short_word: str
) -> None:
    query = SearchQuery(text=short_word, facets=(), collapse=False)
    found = count(os_client, world_index.names.read_alias, query)
    exact = sum(
        1
        for doc in world_index.active
        if short_word
        in words(
            " ".join(
                [
                    doc["title"] or "",
                    *doc["skills"],
                    doc["description"] or "",
                    doc["summary"] or "",
                    *doc["responsibilities"],
                    (doc["company"] or {}).get("name") or "",
                ]
            )
        )
    )
    assert found <= exact


@pytest.mark.parametrize(
    ("short", "long"),
    [
        ("k8s", "kubernetes"),
        ("swe", "software engineer"),
        ("js", "javascript"),
        ("dev", "developer"),
    ],
)
def test_an_abbreviation_finds_what_its_expansion_finds(
    os_client: OpenSearch, world_index: WorldIndex, short: str, long: str
) -> None:
    alias = world_index.names.read_alias
    expansion = count(os_client, alias, SearchQuery(text=long, facets=(), collapse=False))
    abbreviation = count(os_client, alias, SearchQuery(text=short, facets=(), collapse=False))
    assert expansion > 0
    # The expansion's words may also match apart, in two fields (a company "Acme Software" and a
    # title "Data Engineer"); the abbreviation only stands for the phrase.
    assert abbreviation >= 0.9 * expansion
    top = set(ids(os_client, world_index, long))
    assert len(top & set(ids(os_client, world_index, short, size=30))) >= 0.8 * len(top)


def test_role_and_skill_put_the_role_in_the_title_and_the_skill_listed_first(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    by_id = {doc["id"]: doc for doc in world_index.active}
    top = [by_id[i] for i in ids(os_client, world_index, "python developer")]
    assert len(top) == 10
    assert all(title_has(doc, "developer") for doc in top)
    assert all(lists(doc, "python") or writes(doc, "python") for doc in top)


def test_did_you_mean_respells_a_query_that_finds_little(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    alias = world_index.names.read_alias
    assert did_you_mean(os_client, alias, "sofware enginer") == "software engineer"
    assert did_you_mean(os_client, alias, "software engineer") is None
    # typos still find jobs (fuzzy), and the page says what was probably meant
    page = search(os_client, alias, SearchQuery(text="sofware enginer", facets=()))
    assert page.total > 0
    assert page.did_you_mean == "software engineer"
    assert search(os_client, alias, SearchQuery(text="software engineer")).did_you_mean is None


# --------------------------------------------------------------------------- duplicates


def groups(world: WorldIndex) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for doc in world.active:
        found.setdefault(doc["duplicate_key"], set()).add(doc["id"])
    return found


def test_the_world_posts_some_jobs_on_several_boards(world_index: WorldIndex) -> None:
    sizes = [len(ids_) for ids_ in groups(world_index).values()]
    assert sum(1 for size in sizes if size > 1) >= 20
    assert max(sizes) <= 4


def test_every_page_shows_each_posting_once_with_its_other_sources(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    alias, by_key = world_index.names.read_alias, groups(world_index)
    key_of = {doc["id"]: doc["duplicate_key"] for doc in world_index.active}
    query = SearchQuery(text="engineer", size=50, facets=())
    page = search(os_client, alias, query)
    seen: set[str] = set()
    while True:
        for hit in page.hits:
            key = key_of[hit["id"]]
            assert key not in seen, f"posting {key} shown twice"
            seen.add(key)
            others = {other["id"] for other in hit["other_sources"]}
            assert others == by_key[key] - {hit["id"]}
        if page.next_after is None:
            break
        page = search(os_client, alias, replace(query, search_after=page.next_after))
    every_copy = count(os_client, alias, replace(query, collapse=False))
    assert page.total == every_copy
    assert len(seen) == page.postings


def test_show_all_lists_every_board_copy(os_client: OpenSearch, world_index: WorldIndex) -> None:
    alias = world_index.names.read_alias
    duplicated = next(ids_ for ids_ in groups(world_index).values() if len(ids_) > 1)
    doc = next(d for d in world_index.active if d["id"] in duplicated)
    query = SearchQuery(company=[doc["company"]["name"]], facets=(), size=100)
    shown_all = {hit["id"] for hit in search(os_client, alias, replace(query, collapse=False)).hits}
    collapsed = {hit["id"] for hit in search(os_client, alias, query).hits}
    assert duplicated <= shown_all
    assert len(duplicated & collapsed) == 1
