# ruff: noqa: F811 (pytest fixtures imported from test_search_data shadow their parameters)
"""``jobo-indexer search``, ``suggest`` and ``stats`` on the simulator-built index."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner, Result
from opensearchpy import OpenSearch

import indexer.cli.search  # noqa: F401 (registers the commands on main)
from indexer.cli import main
from indexer.search import fold
from indexer.transform import to_document
from tests.integration.test_search_data import (  # noqa: F401
    WorldIndex,
    most_common_city,
    world_index,
)

pytestmark = pytest.mark.integration


def run(opensearch_url: str, world: WorldIndex, *args: str) -> Result:
    common = ["--opensearch-url", opensearch_url, "--index", world.names.base]
    return CliRunner().invoke(main, [args[0], *common, *args[1:]])


def test_search_json_pages_with_the_printed_token(
    opensearch_url: str, world_index: WorldIndex
) -> None:
    city, country = most_common_city(world_index)
    args = ["search", "--near-city", city, "--country", country, "--radius", "500km"]
    args += ["--sort", "recency", "--size", "5", "--json"]
    first = run(opensearch_url, world_index, *args)
    assert first.exit_code == 0, first.output
    page = json.loads(first.output)
    assert page["total"] > 5
    assert len(page["hits"]) == 5
    assert page["near"] is not None
    second = json.loads(
        run(opensearch_url, world_index, *args, "--after", page["next_after"]).output
    )
    assert not {h["id"] for h in page["hits"]} & {h["id"] for h in second["hits"]}


def test_search_table_is_readable(opensearch_url: str, world_index: WorldIndex) -> None:
    result = run(
        opensearch_url,
        world_index,
        "search",
        "engineer",
        "--workplace-type",
        "remote,hybrid",
        "--salary-min",
        "80000",
        "--posted-within",
        "30",
        "--size",
        "3",
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[1] == "jobs"
    assert int(lines[0].split()[0]) > 3
    assert sum(1 for line in lines[1:] if "$" in line) == 3
    assert any(line.startswith("next page: --after ") for line in lines)
    assert any(line.strip().startswith("workplace_type: ") for line in lines)


def test_search_usage_errors_are_one_clear_line(
    opensearch_url: str, world_index: WorldIndex
) -> None:
    unknown = run(opensearch_url, world_index, "search", "--near-city", "Atlantis")
    assert unknown.exit_code == 2
    assert "city 'Atlantis'" in unknown.output
    bad = run(opensearch_url, world_index, "search", "--radius", "far")
    assert bad.exit_code == 2
    assert "radius 'far'" in bad.output
    forged = run(opensearch_url, world_index, "search", "--after", "xyz")
    assert forged.exit_code == 2
    assert "next-page token (--after)" in forged.output


def test_search_show_query_prints_the_body_without_searching(
    opensearch_url: str, world_index: WorldIndex
) -> None:
    args = ["search", "python developer", "--skill", "Python", "--show-query", "--json"]
    result = run("http://127.0.0.1:1", world_index, *args)  # nothing listens: nothing is sent
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["collapse"]["field"] == "duplicate_key"
    assert {"term": {"skills": "Python"}} in body["query"]["function_score"]["query"]["bool"][
        "filter"
    ]
    answer = OpenSearch(opensearch_url).search(index=world_index.names.read_alias, body=body)
    found = json.loads(run(opensearch_url, world_index, *args[:4], "--json").output)
    assert answer["hits"]["total"]["value"] == found["total"] > 0
    # the same body (the recency decay's "now" moves between the two calls: ties may swap)
    shared = {hit["_id"] for hit in answer["hits"]["hits"]} & {hit["id"] for hit in found["hits"]}
    assert len(shared) >= 8


def test_search_skill_filter_and_show_duplicates(
    opensearch_url: str, world_index: WorldIndex
) -> None:
    listing = [d for d in world_index.active if "react" in {s.lower() for s in d["skills"]}]
    shown = json.loads(
        run(opensearch_url, world_index, "search", "--skill", "REACT", "--json").output
    )
    every = json.loads(
        run(
            opensearch_url, world_index, "search", "--skill", "react", "--show-duplicates", "--json"
        ).output
    )
    assert shown["total"] == every["total"] == len(listing)
    assert shown["postings"] == len({d["duplicate_key"] for d in listing})
    assert every["postings"] is None
    assert all({"id", "title", "other_sources"} <= set(hit) for hit in shown["hits"])


def test_suggest_json(opensearch_url: str, world_index: WorldIndex) -> None:
    result = run(opensearch_url, world_index, "suggest", "eng", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows
    for row in rows:
        assert any(word.startswith("eng") for word in fold(row["text"]).split())


def test_stats_json_and_text(opensearch_url: str, world_index: WorldIndex) -> None:
    as_json = run(opensearch_url, world_index, "stats", "--json")
    assert as_json.exit_code == 0, as_json.output
    stats = json.loads(as_json.output)
    assert stats["active"] == len(world_index.active)
    assert stats["expired"] == len(world_index.expired_ids)
    text = run(opensearch_url, world_index, "stats")
    assert f"{len(world_index.active)} active" in text.output


def test_the_table_keeps_its_columns_with_wide_cjk_titles(
    opensearch_url: str, os_client: OpenSearch
) -> None:
    """Titles and companies in Chinese or Japanese take two terminal columns a character: the
    columns after them must start where they start on an ASCII row."""
    from indexer.cli.text import display_width
    from indexer.store.schema import index_names, init_index
    from tests.integration.test_search_data import _load, world_jobs

    base = f"test-cjk-{uuid.uuid4().hex[:10]}"
    names = index_names(base)
    jobs = world_jobs(count=3, seed=7)
    jobs[0]["title"] = "高级软件工程师（后端开发，分布式系统方向）"  # noqa: RUF001 (full-width on purpose)
    jobs[0]["company"]["name"] = "株式会社テクノロジーソリューションズ"
    jobs[1]["title"] = "Senior Software Engineer"
    now = datetime.now(UTC)
    try:
        init_index(os_client, base)
        _load(os_client, names, [to_document(job, indexed_at=now) for job in jobs])
        os_client.indices.refresh(index=names.all_alias)
        result = CliRunner().invoke(
            main,
            ["search", "--opensearch-url", opensearch_url, "--index", base, "--sort", "recency"],
        )
        assert result.exit_code == 0, result.output
        rows = [
            line
            for line in result.output.splitlines()
            if line.rstrip().endswith(tuple(job["id"] for job in jobs))
        ]
        assert len(rows) == 3, result.output
        widths = {display_width(row) for row in rows}
        assert len(widths) == 1, rows  # every row as wide as the others
        cjk = next(row for row in rows if row.rstrip().endswith(jobs[0]["id"]))
        assert "…" in cjk  # the long title was cut to its column, not left to push the rest
        for row in rows:  # the id column starts at the same terminal column on every row
            head = row[: row.rindex(" ") + 1]
            assert display_width(head) == display_width(rows[0][: rows[0].rindex(" ") + 1])
    finally:
        os_client.indices.delete(index=f"{base}*", ignore_unavailable=True, expand_wildcards="all")
        os_client.indices.delete_index_template(name=f"{base}*", ignore=[404])
