# ruff: noqa: F811 (pytest fixtures imported from test_search_data shadow their parameters)
"""The search service through HTTP (uvicorn on a loopback port) on the simulator-world index.

Every search parameter is checked twice: against the world's documents (what a filter must keep)
and against ``jobo-indexer search --json`` given the same options (one definition of a search:
the service and the command answer the same page). Every class of bad input is a 4xx JSON error
naming the parameter.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from opensearchpy import OpenSearch

import indexer.cli.search  # noqa: F401 (registers the command)
from indexer.cli import main
from indexer.search import FACET_FIELDS, SearchQuery, search, suggest
from indexer.search.params import SEARCH_PARAMS
from tests.integration.test_search_data import (  # noqa: F401
    WorldIndex,
    most_common_city,
    world_index,
)
from tests.support.serve import running_service

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(os_client: OpenSearch, world_index: WorldIndex) -> Iterator[str]:
    with running_service(os_client, world_index.names.read_alias) as url:
        yield url


def get(api: str, path: str, params: Any = None) -> requests.Response:
    return requests.get(f"{api}{path}", params=params, timeout=30)


def cli_page(opensearch_url: str, world: WorldIndex, params: dict[str, Any]) -> dict[str, Any]:
    """``jobo-indexer search --json`` with the options that ``params`` spell as a URL."""
    args = ["search", "--opensearch-url", opensearch_url, "--index", world.names.base, "--json"]
    for name, value in {"size": 20, **params}.items():  # the service's default page is 20
        values = value if isinstance(value, list) else [value]
        if name == "q":
            args.insert(1, value)
        elif name == "show_duplicates":
            args.append("--show-duplicates")
        else:
            for one in values:
                args += ["--" + name.replace("_", "-"), str(one)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _comparable(page: dict[str, Any]) -> dict[str, Any]:
    return {
        "total": page["total"],
        "postings": page["postings"],
        "ids": [hit["id"] for hit in page["hits"]],
        "facets": page["facets"],
        "next_after": page["next_after"],
        "near": page["near"],
    }


def _overlaps(doc: dict[str, Any], low: int, high: int) -> bool:
    """The salary range of ``doc`` (an open end where the feed gave one bound) meets low..high."""
    bottom, top = doc["salary_usd_min"], doc["salary_usd_max"]
    if bottom is None and top is None:
        return False
    return (bottom is None or bottom <= high) and (top is None or top >= low)


def _posted(doc: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(doc.get("date_posted") or doc["created_at"])


# --------------------------------------------------------------------------- every parameter


def _cases(world: WorldIndex) -> list[tuple[dict[str, Any], Any]]:
    """(parameters, what every matching active document satisfies; None: checked elsewhere)."""
    city, country = most_common_city(world)
    company = Counter(d["company"]["name"] for d in world.active).most_common(1)[0][0]
    skill = Counter(s for d in world.active for s in d["skills"]).most_common(1)[0][0]
    source = Counter(d["source"] for d in world.active).most_common(1)[0][0]
    since = datetime.now(UTC) - timedelta(days=30)
    return [
        (
            {"workplace_type": "remote,hybrid"},
            lambda d: d["workplace_type"] in ("remote", "hybrid"),
        ),
        ({"employment_type": "full_time"}, lambda d: d["employment_type"] == "full_time"),
        (
            {"experience_level": ["senior", "lead"]},
            lambda d: d["experience_level"] in ("senior", "lead"),
        ),
        ({"source": source}, lambda d: d["source"] == source),
        ({"country": country}, lambda d: country in d["countries"]),
        (
            {"city": city, "country": country},
            lambda d: any(
                loc["city"] == city and loc["country"] == country for loc in d["locations"]
            ),
        ),
        ({"company": company}, lambda d: d["company"]["name"] == company),
        ({"skill": skill.lower()}, lambda d: skill in d["skills"]),
        ({"h1b": "yes"}, lambda d: d["is_h1b_sponsor"] is True),
        ({"clearance": "no"}, lambda d: d["is_clearance_required"] is False),
        (
            {"salary_min": 150000, "salary_max": 200000},
            lambda d: _overlaps(d, 150000, 200000),
        ),
        ({"posted_within": 30}, lambda d: _posted(d) >= since),
        ({"q": "engineer"}, None),
        ({"q": "sofware enginer", "size": 5}, None),
        ({"near_city": city, "country": country, "radius": "300km", "sort": "distance"}, None),
        ({"near": "40.71,-74.0", "radius": "500mi"}, None),
        ({"sort": "recency", "size": 7}, None),
        ({"sort": "salary"}, None),
        ({"facets": "workplace_type,country"}, None),
        ({"facets": "none"}, None),
        ({"show_duplicates": "yes", "q": "developer"}, None),
    ]


def test_every_search_parameter_has_a_case(world_index: WorldIndex) -> None:
    """A parameter added to the shared definition without a case here fails this test."""
    covered = {"after"}  # test_after_pages_through_every_job
    for params, _ in _cases(world_index):
        covered |= set(params)
    assert {p.name for p in SEARCH_PARAMS} == covered


@pytest.mark.parametrize("position", range(21))
def test_search_parameter_answers_as_the_command_and_the_world(
    api: str, opensearch_url: str, world_index: WorldIndex, position: int
) -> None:
    params, keeps = _cases(world_index)[position]
    answer = get(api, "/api/search", params)
    assert answer.status_code == 200, answer.text
    page = answer.json()
    assert set(page) >= {"total", "hits", "facets", "next_after"}
    assert page["hits"], params
    assert all(
        {"id", "title", "company", "locations", "salary", "date_posted"} <= set(h)
        for h in page["hits"]
    )
    assert _comparable(page) == _comparable(cli_page(opensearch_url, world_index, params))
    if keeps is not None:
        expected = {d["id"] for d in world_index.active if keeps(d)}
        assert {h["id"] for h in page["hits"]} <= expected
        assert page["total"] == len(expected)


def test_sorts_and_facets_shape_the_page(api: str, world_index: WorldIndex) -> None:
    recent = get(api, "/api/search", {"sort": "recency", "size": 20}).json()
    dates = [h["date_posted"] for h in recent["hits"] if h["date_posted"]]
    assert dates == sorted(dates, reverse=True)
    city, country = most_common_city(world_index)
    near = get(
        api,
        "/api/search",
        {"near_city": city, "country": country, "sort": "distance", "radius": "2000km", "size": 20},
    ).json()
    distances = [h["distance_km"] for h in near["hits"]]
    assert distances == sorted(distances)
    assert distances[-1] <= 2000
    some = get(api, "/api/search", {"facets": ["workplace_type", "country"]}).json()
    assert set(some["facets"]) == {"workplace_type", "country"}
    remote = {b["value"]: b["count"] for b in some["facets"]["workplace_type"]}
    assert remote["remote"] == sum(1 for d in world_index.active if d["workplace_type"] == "remote")
    assert get(api, "/api/search", {"facets": "none"}).json()["facets"] == {}
    every = get(api, "/api/search").json()
    assert set(every["facets"]) == set(FACET_FIELDS)
    assert every["total"] == len(world_index.active)
    assert len(every["hits"]) == 20  # the service's default page
    copies = get(api, "/api/search", {"show_duplicates": "true"}).json()
    assert copies["postings"] is None
    assert copies["total"] == every["total"]


def test_after_pages_through_every_job(api: str, world_index: WorldIndex) -> None:
    for params in ({"sort": "recency"}, {"sort": "recency", "show_duplicates": "yes"}):
        seen: list[str] = []
        after = None
        for _ in range(200):
            page = get(api, "/api/search", {**params, "size": 100, "after": after}).json()
            seen += [h["id"] for h in page["hits"]]
            after = page["next_after"]
            if after is None:
                break
        assert len(seen) == len(set(seen))
        if "show_duplicates" in params:
            assert set(seen) == {d["id"] for d in world_index.active}
        else:
            assert len(seen) == get(api, "/api/search").json()["postings"]


def test_job_by_id_and_404(api: str, world_index: WorldIndex) -> None:
    active = world_index.active[0]
    answer = get(api, f"/api/jobs/{active['id']}")
    assert answer.status_code == 200
    job = answer.json()
    assert job["id"] == active["id"]
    assert job["title"] == active["title"]
    assert job["description"] == active["description"]
    assert job["company"] == active["company"]["name"]
    expired = next(iter(world_index.expired_ids))
    for missing in (expired, "no-such-job"):
        gone = get(api, f"/api/jobs/{missing}")
        assert gone.status_code == 404
        assert gone.json()["error"]["parameter"] == "id"
        assert "search again" in gone.json()["error"]["message"]


def test_suggest_is_the_library_suggest(
    api: str, os_client: OpenSearch, world_index: WorldIndex
) -> None:
    answer = get(api, "/api/suggest", {"q": "soft", "size": 5})
    assert answer.status_code == 200
    rows = answer.json()["suggestions"]
    expected = suggest(os_client, world_index.names.read_alias, "soft", 5)
    assert rows == [{"text": s.text, "kind": s.kind, "count": s.count} for s in expected]
    assert rows
    assert all("soft" in r["text"].lower() for r in rows)


def test_facets_endpoint_counts_without_hits(
    api: str, os_client: OpenSearch, world_index: WorldIndex
) -> None:
    answer = get(api, "/api/facets", {"workplace_type": "remote", "facets": "country"})
    assert answer.status_code == 200
    body = answer.json()
    assert "hits" not in body
    assert set(body["facets"]) == {"country"}
    page = search(
        os_client,
        world_index.names.read_alias,
        SearchQuery(workplace_type=["remote"], facets=["country"]),
    )
    assert body["total"] == page.total
    assert body["facets"]["country"] == page.as_dict()["facets"]["country"]


def test_health_openapi_docs_and_page(api: str, os_client: OpenSearch) -> None:
    health = get(api, "/healthz")
    assert health.status_code == 200
    assert health.json()["opensearch"]["answers"] is True
    assert health.json()["index_exists"] is True
    with running_service(os_client, "no-such-index-alias") as other:
        missing = get(other, "/healthz")
        assert missing.status_code == 503
        assert missing.json()["status"] == "no-index"
        down = get(other, "/api/search")
        assert down.status_code == 503
        assert "does not exist" in down.json()["error"]["message"]
    document = get(api, "/openapi.json").json()
    assert document["openapi"].startswith("3.")
    names = [p["name"] for p in document["paths"]["/api/search"]["get"]["parameters"]]
    assert names == [p.name for p in SEARCH_PARAMS]
    assert {"/api/search", "/api/jobs/{id}", "/api/suggest", "/api/facets", "/healthz"} <= set(
        document["paths"]
    )
    for path in ("/docs", "/"):
        page = get(api, path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "http://" not in page.text.replace("http://www.w3.org", "")
        assert "https://" not in page.text


def test_cors_allows_only_the_configured_origins(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    with running_service(os_client, world_index.names.read_alias, ["https://jobs.example"]) as url:
        allowed = get(url, "/api/search?size=1", None)
        assert "access-control-allow-origin" not in allowed.headers  # no Origin, no CORS
        asked = requests.get(
            f"{url}/api/search?size=1", headers={"Origin": "https://jobs.example"}, timeout=30
        )
        assert asked.headers["access-control-allow-origin"] == "https://jobs.example"
        other = requests.get(
            f"{url}/api/search?size=1", headers={"Origin": "https://evil.example"}, timeout=30
        )
        assert "access-control-allow-origin" not in other.headers
        preflight = requests.options(
            f"{url}/api/search",
            headers={"Origin": "https://jobs.example", "Access-Control-Request-Method": "GET"},
            timeout=30,
        )
        assert preflight.status_code == 200
        assert "GET" in preflight.headers["access-control-allow-methods"]


# --------------------------------------------------------------------------- bad input


def _foreign_token(api: str) -> str:
    return get(api, "/api/search", {"sort": "recency", "size": 1}).json()["next_after"]


BAD_SEARCHES: list[tuple[dict[str, Any], str, str]] = [
    # (parameters, the parameter named, a word of the fix)
    ({"size": "0"}, "size", "1..100"),
    ({"size": "101"}, "size", "1..100"),
    ({"size": "ten"}, "size", "whole number"),
    ({"size": ["1", "2"]}, "size", "once"),
    ({"near": "berlin"}, "near", "LAT,LON"),
    ({"near": "91,0"}, "near", "-90..90"),
    ({"near": "1"}, "near", "LAT,LON"),
    ({"radius": "far"}, "radius", "50km"),
    ({"radius": "0km"}, "radius", "more than 0"),
    ({"radius": "99999km"}, "radius", "at most"),
    ({"near": "1,1", "near_city": "Berlin"}, "near", "one centre"),
    ({"near_city": "Atlantis"}, "near_city", "spelling"),
    ({"sort": "cheapest"}, "sort", "relevance"),
    ({"sort": "distance"}, "sort", "near"),
    ({"after": "xyz"}, "after", "next_after"),
    ({"q": "x" * 201}, "q", "at most 200"),
    ({"q": " ".join(["word"] * 40)}, "q", "at most 32"),
    ({"q": 'senior "python'}, "q", "close it"),
    ({"q": "(senior python"}, "q", "close it"),
    ({"q": "python)"}, "q", "close it"),
    ({"q": "a\x00b"}, "q", "plain words"),
    ({"salary_min": "lots"}, "salary_min", "whole number"),
    ({"salary_min": "-1"}, "salary_min", "out of range"),
    ({"salary_min": "200000", "salary_max": "100000"}, "salary_min", "swap"),
    ({"posted_within": "0"}, "posted_within", "out of range"),
    ({"facets": "salary"}, "facets", "workplace_type"),
    ({"workplace_type": ",".join(f"w{i}" for i in range(25))}, "workplace_type", "at most 20"),
    ({"company": "x" * 300}, "company", "at most 120"),
    ({"h1b": "maybe"}, "h1b", "yes or no"),
    ({"show_duplicates": "perhaps"}, "show_duplicates", "yes or no"),
    ({"qq": "engineer"}, "qq", "openapi"),
]


@pytest.mark.parametrize(("params", "parameter", "fix"), BAD_SEARCHES)
def test_bad_search_input_is_a_400_naming_the_parameter(
    api: str, params: dict[str, Any], parameter: str, fix: str
) -> None:
    for path in ("/api/search", "/api/facets"):
        answer = get(api, path, params)
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["parameter"] == parameter
        assert error["status"] == 400
        assert fix in error["message"], error["message"]


def test_tokens_from_another_query_are_refused(api: str) -> None:
    token = _foreign_token(api)
    for params in (
        {"sort": "salary"},
        {"sort": "recency", "q": "nurse"},
        {"sort": "recency", "show_duplicates": "yes"},
    ):
        answer = get(api, "/api/search", {**params, "after": token})
        assert answer.status_code == 400
        assert answer.json()["error"]["parameter"] == "after"
        assert "page 1" in answer.json()["error"]["message"]
    ok = get(api, "/api/search", {"sort": "recency", "size": 1, "after": token})
    assert ok.status_code == 200


def test_other_bad_requests_are_json_4xx(api: str) -> None:
    cases = [
        (requests.get(f"{api}/api/search?q={'a' * 5000}", timeout=30), 414, None),
        (get(api, "/api/suggest"), 400, "q"),
        (get(api, "/api/suggest", {"q": "soft", "size": "50"}), 400, "size"),
        (get(api, "/api/suggest", {"q": "soft", "sort": "x"}), 400, "sort"),
        (get(api, "/api/suggest", {"q": "(soft"}), 400, "q"),
        (get(api, f"/api/jobs/{'x' * 201}"), 400, "id"),
        (get(api, "/api/nothing"), 404, None),
        (requests.post(f"{api}/api/search", timeout=30), 405, None),
    ]
    for answer, status, parameter in cases:
        assert answer.status_code == status, (answer.url[:80], answer.text)
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["error"]["parameter"] == parameter
        assert answer.json()["error"]["message"]
