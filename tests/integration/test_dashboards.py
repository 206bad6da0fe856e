# ruff: noqa: F811 (pytest fixtures imported from test_search_data shadow their parameters)
"""The saved objects: well-formed, self-contained, and every chart has data on a real index."""

from __future__ import annotations

import copy
import json
import runpy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from opensearchpy import OpenSearch

import indexer.cli.search  # noqa: F401 (registers the commands on main)
from indexer.cli import main
from indexer.dashboards import (
    check_visualisations,
    default_ndjson_path,
    load_saved_objects,
    rewrite_for_base,
    validate_saved_objects,
    vis_request,
)
from tests.integration.test_search_data import WorldIndex, world_index  # noqa: F401

REPO = Path(__file__).resolve().parents[2]


def _by_type(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["type"] == kind]


def _states(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(obj["attributes"]["visState"]) for obj in _by_type(objects, "visualization")]


# --------------------------------------------------------------------------- the file


def test_the_committed_ndjson_is_what_the_generator_writes() -> None:
    generator = runpy.run_path(str(REPO / "dashboards" / "generate.py"))
    assert default_ndjson_path().read_text(encoding="utf-8") == generator["render"]()


def test_every_line_and_every_embedded_json_string_parses() -> None:
    lines = default_ndjson_path().read_text(encoding="utf-8").splitlines()
    objects = [json.loads(line) for line in lines]
    assert len(objects) == len(lines) > 10
    for obj in objects:
        attributes = obj["attributes"]
        for name in ("visState", "panelsJSON", "optionsJSON", "uiStateJSON", "fields"):
            if name in attributes:
                json.loads(attributes[name])
        meta = attributes.get("kibanaSavedObjectMeta")
        if meta:
            json.loads(meta["searchSourceJSON"])
    assert validate_saved_objects(objects) == []


def test_every_reference_resolves_and_a_dangling_one_is_reported() -> None:
    objects = load_saved_objects()
    ids = {(obj["type"], obj["id"]) for obj in objects}
    for obj in objects:
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in ids
    broken = copy.deepcopy(objects)
    _by_type(broken, "dashboard")[0]["references"][0]["id"] = "gone"
    problems = validate_saved_objects(broken)
    assert len(problems) == 1
    assert "visualization gone is not in the file" in problems[0]


def test_the_dashboard_shows_every_visualisation() -> None:
    objects = load_saved_objects()
    (dashboard,) = _by_type(objects, "dashboard")
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    shown = {ref["id"] for ref in dashboard["references"]}
    assert shown == {obj["id"] for obj in _by_type(objects, "visualization")}
    assert len(panels) == len(shown)
    for panel in panels:
        grid = panel["gridData"]
        assert grid["x"] + grid["w"] <= 48


def test_the_patterns_and_charts_asked_for_are_there() -> None:
    objects = load_saved_objects()
    patterns = {
        o["attributes"]["title"]: o["attributes"] for o in _by_type(objects, "index-pattern")
    }
    assert patterns["jobs-all"]["timeFieldName"] == "updated_at"
    assert patterns["jobs-indexer-runs"]["timeFieldName"] == "started_at"
    fields = {
        (s["type"], a.get("params", {}).get("field")) for s in _states(objects) for a in s["aggs"]
    }
    for wanted in (
        ("histogram", "date_posted"),
        ("horizontal_bar", "source"),
        ("horizontal_bar", "countries"),
        ("pie", "workplace_type"),
        ("histogram", "salary_usd_min"),
        ("horizontal_bar", "skills"),
        ("table", "company.name.keyword"),
        ("pie", "status"),
        ("tile_map", "location_points"),
        ("histogram", "counts.indexed"),
        ("line", "duration_ms"),
        ("table", "counts.failed"),
    ):
        assert wanted in fields, wanted
    salary = next(s for s in _states(objects) if "salary" in s["title"])
    assert "experience_level" in {a["params"].get("field") for a in salary["aggs"]}


def test_rewriting_for_another_base_keeps_the_file_consistent() -> None:
    objects = rewrite_for_base(load_saved_objects(), "acme")
    titles = {o["attributes"]["title"] for o in _by_type(objects, "index-pattern")}
    assert titles == {"acme-all", "acme-indexer-runs"}
    assert validate_saved_objects(objects) == []
    assert all(o["id"].endswith("-acme") for o in objects)
    assert all(s["title"].endswith("[acme]") for s in _states(objects))


def test_translation_nests_buckets_in_order_with_metrics_inside() -> None:
    state = {
        "aggs": [
            {"id": "1", "type": "sum", "schema": "metric", "params": {"field": "counts.indexed"}},
            {"id": "2", "type": "date_histogram", "schema": "segment",
             "params": {"field": "started_at", "interval": "d"}},
            {"id": "3", "type": "terms", "schema": "group",
             "params": {"field": "kind", "size": 5, "orderBy": "1", "order": "desc"}},
        ]
    }  # fmt: skip
    source = {"filter": [{"meta": {"negate": True}, "query": {"match_phrase": {"kind": "x"}}}]}
    body = vis_request(state, source)
    outer = body["aggs"]["2"]
    assert outer["date_histogram"]["calendar_interval"] == "1d"
    inner = outer["aggs"]["3"]
    assert inner["terms"] == {"field": "kind", "size": 5, "order": {"1": "desc"}}
    assert inner["aggs"] == {"1": {"sum": {"field": "counts.indexed"}}}
    assert body["query"]["bool"]["must_not"] == [{"match_phrase": {"kind": "x"}}]


# --------------------------------------------------------------------------- on the real node


@pytest.mark.integration
def test_pattern_field_flags_agree_with_field_caps(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    objects = rewrite_for_base(load_saved_objects(), world_index.names.base)
    for pattern in _by_type(objects, "index-pattern"):
        title = pattern["attributes"]["title"]
        caps = os_client.field_caps(index=title, fields="*")["fields"]
        checked = 0
        for spec in json.loads(pattern["attributes"]["fields"]):
            if spec["name"].startswith("_") or spec["name"] not in caps:
                continue  # meta fields; counts.* that no run has written yet
            cap = next(iter(caps[spec["name"]].values()))
            assert spec["aggregatable"] == cap["aggregatable"], (title, spec["name"])
            assert spec["searchable"] == cap["searchable"], (title, spec["name"])
            checked += 1
        assert checked > 10


@pytest.mark.integration
def test_every_visualisation_has_data_on_aggregatable_fields(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    objects = rewrite_for_base(load_saved_objects(), world_index.names.base)
    checks = check_visualisations(os_client, objects)
    assert len(checks) == len(_by_type(objects, "visualization"))
    for check in checks:
        assert check.ok, (check.title, check.problems)
        assert check.buckets > 0
    by_id = {c.id.removesuffix(f"-{world_index.names.base}"): c for c in checks}
    assert by_id["jobo-vis-active-vs-expired"].buckets == 2


@pytest.mark.integration
def test_check_reports_a_field_that_does_not_exist(
    os_client: OpenSearch, world_index: WorldIndex
) -> None:
    objects = rewrite_for_base(load_saved_objects(), world_index.names.base)
    vis = next(o for o in objects if o["id"].startswith("jobo-vis-top-skills"))
    state = json.loads(vis["attributes"]["visState"])
    state["aggs"][1]["params"]["field"] = "skils"
    vis["attributes"]["visState"] = json.dumps(state)
    failing = [c for c in check_visualisations(os_client, objects) if not c.ok]
    assert [c.problems for c in failing] == [
        [f"field 'skils' does not exist in {failing[0].index}"]
    ]


@pytest.mark.integration
def test_cli_check_passes_on_the_world_index(opensearch_url: str, world_index: WorldIndex) -> None:
    result = CliRunner().invoke(
        main,
        ["dashboards", "check", "--opensearch-url", opensearch_url, "--index",
         world_index.names.base],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.count("ok  ") == len(_by_type(load_saved_objects(), "visualization"))
