"""The shipped saved objects follow OpenSearch Dashboards 3.x's import rules (and 2.x's: the same).

Dashboards cannot run here. What its import and its charts require is checked on the file:
no ``migrationVersion`` newer than the build's own migrations (the import is refused with "belongs
to a more recent version"), and the coordinate map (``tile_map``, deprecated in 3.x, whose
conversion to the maps plugin only sees flat aggregatable ``geo_point`` fields) on the flat
``location_points``, never on the nested ``locations.point``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from indexer.dashboards import (
    DASHBOARDS_MIGRATIONS,
    MAP_VIS_TYPES,
    load_saved_objects,
    validate_saved_objects,
)
from indexer.resources import mappings_dir


def _jobs_properties() -> dict[str, Any]:
    raw = json.loads((mappings_dir() / "jobs.json").read_text(encoding="utf-8"))
    return (raw["template"]["mappings"] if "template" in raw else raw["mappings"])["properties"]


def _by_id(objects: list[dict[str, Any]], object_id: str) -> dict[str, Any]:
    return next(obj for obj in objects if obj["id"] == object_id)


def test_the_shipped_objects_pass_every_import_rule() -> None:
    objects = load_saved_objects()
    assert validate_saved_objects(objects) == []
    for obj in objects:
        assert set(obj["migrationVersion"]) == {obj["type"]}, obj["id"]
        assert obj["type"] in DASHBOARDS_MIGRATIONS
        assert "workspaces" not in obj  # the import decides the workspace (--workspace)


def test_a_migration_version_newer_than_dashboards_is_reported_with_the_fix() -> None:
    objects = copy.deepcopy(load_saved_objects())
    _by_id(objects, "jobo-vis-top-skills")["migrationVersion"] = {"visualization": "7.11.0"}
    _by_id(objects, "jobo-dashboard-overview")["migrationVersion"] = {"dashboard": "7.9.10"}
    problems = validate_saved_objects(objects)
    assert problems == [
        "visualization jobo-vis-top-skills: migrationVersion visualization 7.11.0 is newer than "
        "OpenSearch Dashboards' 7.10.0, which refuses the import: set it to 7.10.0",
        "dashboard jobo-dashboard-overview: migrationVersion dashboard 7.9.10 is newer than "
        "OpenSearch Dashboards' 7.9.3, which refuses the import: set it to 7.9.3",
    ]


def test_the_map_charts_the_flat_geo_point_the_mapping_keeps_for_it() -> None:
    objects = load_saved_objects()
    maps = [
        obj
        for obj in objects
        if obj["type"] == "visualization"
        and json.loads(obj["attributes"]["visState"])["type"] in MAP_VIS_TYPES
    ]
    assert [obj["id"] for obj in maps] == ["jobo-vis-job-map"]
    aggs = json.loads(maps[0]["attributes"]["visState"])["aggs"]
    assert [a["params"]["field"] for a in aggs if "field" in a["params"]] == ["location_points"]
    pattern = _by_id(objects, "jobo-index-pattern-jobs-all")
    fields = {f["name"]: f for f in json.loads(pattern["attributes"]["fields"])}
    assert fields["location_points"]["type"] == "geo_point"
    assert fields["location_points"]["aggregatable"] is True
    assert "subType" not in fields["location_points"]
    assert fields["locations.point"]["subType"] == {"nested": {"path": "locations"}}
    properties = _jobs_properties()
    assert properties["location_points"] == {"type": "geo_point"}  # top level, not nested
    assert properties["locations"]["type"] == "nested"


def test_a_map_on_the_nested_geo_field_is_reported() -> None:
    objects = copy.deepcopy(load_saved_objects())
    vis = _by_id(objects, "jobo-vis-job-map")
    state = json.loads(vis["attributes"]["visState"])
    state["aggs"][1]["params"]["field"] = "locations.point"
    vis["attributes"]["visState"] = json.dumps(state)
    assert validate_saved_objects(objects) == [
        "visualization jobo-vis-job-map: map field 'locations.point' is not a flat aggregatable "
        "geo_point of index pattern jobo-index-pattern-jobs-all; Dashboards 3.x cannot chart or "
        "convert it"
    ]
