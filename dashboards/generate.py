"""Writes dashboards/jobo-indexer.ndjson: OpenSearch Dashboards saved objects (3.x and 2.19).

Edit the visualisations here, then run ``.venv/bin/python dashboards/generate.py``; a test fails
when the committed NDJSON differs from what this script writes. The objects target the default
base ``jobs`` (index patterns ``jobs-all`` and ``jobs-indexer-runs``); ``jobo-indexer dashboards
import --index BASE`` rewrites them for another base.

Index-pattern field lists are derived from ``mappings/``: OpenSearch Dashboards then knows every
field at once (no "refresh fields" needed) and nested ``locations.*`` are marked nested, which it
cannot chart; the charts use the flat copies (``countries``, ``cities``, ``location_points``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUTPUT = HERE / "jobo-indexer.ndjson"

JOBS_PATTERN_ID = "jobo-index-pattern-jobs-all"
RUNS_PATTERN_ID = "jobo-index-pattern-indexer-runs"
DASHBOARD_ID = "jobo-dashboard-overview"
OSD_VERSION = "7.10.2"  # the saved-object schema OpenSearch Dashboards 2.x and 3.x still write
# Not newer than indexer.dashboards.DASHBOARDS_MIGRATIONS (Dashboards refuses newer ones).
MIGRATIONS = {
    "index-pattern": {"index-pattern": "7.6.0"},
    "visualization": {"visualization": "7.10.0"},
    "dashboard": {"dashboard": "7.9.3"},
}
# Counts the sync flows write into run records (indexer/sync/flows.py RunSummary).
RUN_COUNTS = (
    "pages",
    "fetched",
    "indexed",
    "unchanged",
    "expired",
    "deleted",
    "missing",
    "dead_lettered",
    "rejected",
    "failed",
    "retries",
    "cursor_restarts",
    "purged",
    "written",
    "duration_s",
    "credits_spent",
    "credits_balance",
)

# --------------------------------------------------------------------------- index patterns

_NUMBER_TYPES = {
    "integer",
    "long",
    "short",
    "byte",
    "double",
    "float",
    "half_float",
    "scaled_float",
}


def _field(name: str, es_type: str, *, searchable: bool, aggregatable: bool) -> dict[str, Any]:
    if es_type in ("text", "keyword"):
        kind = "string"
    elif es_type in _NUMBER_TYPES:
        kind = "number"
    else:
        kind = es_type  # date, boolean, geo_point
    return {
        "name": name,
        "type": kind,
        "esTypes": [es_type],
        "count": 0,
        "scripted": False,
        "searchable": searchable,
        "aggregatable": aggregatable,
        "readFromDocValues": aggregatable and es_type != "text",
    }


def _fields_of(
    properties: dict[str, Any], prefix: str = "", nested: str | None = None
) -> list[dict[str, Any]]:
    fields: list[dict[str, Any]] = []
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        es_type = spec.get("type", "object")
        if spec.get("enabled") is False or es_type.endswith("_range"):
            continue  # not indexed / not chartable
        if es_type in ("object", "nested") or "properties" in spec:
            inner_nested = path if es_type == "nested" else nested
            fields.extend(_fields_of(spec.get("properties", {}), f"{path}.", inner_nested))
            continue
        indexed = spec.get("index", True)
        doc_values = spec.get("doc_values", es_type != "text")
        field = _field(path, es_type, searchable=indexed, aggregatable=doc_values and indexed)
        if nested:
            field["subType"] = {"nested": {"path": nested}}
        fields.append(field)
        for sub_name, sub_spec in spec.get("fields", {}).items():
            sub_type = sub_spec["type"]
            sub = _field(
                f"{path}.{sub_name}",
                sub_type,
                searchable=True,
                aggregatable=sub_type != "text",
            )
            sub["subType"] = {"multi": {"parent": path}}
            if nested:
                sub["subType"]["nested"] = {"path": nested}
            fields.append(sub)
    return fields


def _meta_fields() -> list[dict[str, Any]]:
    return [
        _field("_id", "_id", searchable=True, aggregatable=True) | {"type": "string"},
        _field("_index", "_index", searchable=True, aggregatable=True) | {"type": "string"},
        _field("_score", "_score", searchable=False, aggregatable=False) | {"type": "number"},
        _field("_source", "_source", searchable=False, aggregatable=False) | {"type": "_source"},
    ]


def _mapping(name: str) -> dict[str, Any]:
    raw = json.loads((REPO / "mappings" / name).read_text(encoding="utf-8"))
    return raw["template"]["mappings"] if "template" in raw else raw["mappings"]


def jobs_fields() -> list[dict[str, Any]]:
    return _meta_fields() + _fields_of(_mapping("jobs.json")["properties"])


def runs_fields() -> list[dict[str, Any]]:
    fields = _meta_fields() + _fields_of(_mapping("indexer-runs.json")["properties"])
    for name in RUN_COUNTS:
        es_type = "double" if name in ("duration_s", "credits_spent", "credits_balance") else "long"
        fields.append(_field(f"counts.{name}", es_type, searchable=True, aggregatable=True))
    return fields


def index_pattern(object_id: str, title: str, time_field: str, fields: list[dict]) -> dict:
    return {
        "id": object_id,
        "type": "index-pattern",
        "attributes": {
            "title": title,
            "timeFieldName": time_field,
            "fields": json.dumps(fields, separators=(",", ":")),
        },
        "references": [],
        "migrationVersion": MIGRATIONS["index-pattern"],
    }


# --------------------------------------------------------------------------- visualisations


def metric(agg_id: str, kind: str = "count", field: str | None = None, **params: Any) -> dict:
    if field is not None:
        params["field"] = field
    return {"id": agg_id, "enabled": True, "type": kind, "params": params, "schema": "metric"}


def bucket(agg_id: str, kind: str, schema: str, **params: Any) -> dict:
    return {"id": agg_id, "enabled": True, "type": kind, "params": params, "schema": schema}


def terms(agg_id: str, field: str, size: int, schema: str = "segment", **extra: Any) -> dict:
    params = {
        "field": field,
        "orderBy": "1",
        "order": "desc",
        "size": size,
        "otherBucket": False,
        "missingBucket": False,
        **extra,
    }
    return bucket(agg_id, "terms", schema, **params)


def date_histogram(agg_id: str, field: str, interval: str = "d") -> dict:
    return bucket(
        agg_id,
        "date_histogram",
        "segment",
        field=field,
        useNormalizedOpenSearchInterval=True,
        scaleMetricValues=False,
        interval=interval,
        drop_partials=False,
        min_doc_count=1,
        extended_bounds={},
    )


def _axis_chart(chart: str, label: str, horizontal: bool = False, mode: str = "stacked") -> dict:
    category_position, value_position = ("left", "bottom") if horizontal else ("bottom", "left")
    return {
        "type": chart if chart != "horizontal_bar" else "histogram",
        "grid": {"categoryLines": False},
        "categoryAxes": [
            {
                "id": "CategoryAxis-1",
                "type": "category",
                "position": category_position,
                "show": True,
                "style": {},
                "scale": {"type": "linear"},
                "labels": {"show": True, "filter": not horizontal, "truncate": 200},
                "title": {},
            }
        ],
        "valueAxes": [
            {
                "id": "ValueAxis-1",
                "name": "LeftAxis-1",
                "type": "value",
                "position": value_position,
                "show": True,
                "style": {},
                "scale": {"type": "linear", "mode": "normal"},
                "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100},
                "title": {"text": label},
            }
        ],
        "seriesParams": [
            {
                "show": True,
                "type": "line" if chart == "line" else "histogram",
                "mode": mode,
                "data": {"label": label, "id": "1"},
                "valueAxis": "ValueAxis-1",
                "drawLinesBetweenPoints": True,
                "lineWidth": 2,
                "interpolate": "linear",
                "showCircles": True,
            }
        ],
        "addTooltip": True,
        "addLegend": True,
        "legendPosition": "right",
        "times": [],
        "addTimeMarker": False,
        "labels": {"show": False},
        "thresholdLine": {
            "show": False,
            "value": 10,
            "width": 1,
            "style": "full",
            "color": "#E7664C",
        },
    }


PIE_PARAMS = {
    "type": "pie",
    "addTooltip": True,
    "addLegend": True,
    "legendPosition": "right",
    "isDonut": True,
    "labels": {"show": True, "values": True, "last_level": True, "truncate": 100},
}
TABLE_PARAMS = {
    "perPage": 20,
    "showPartialRows": False,
    "showMetricsAtAllLevels": False,
    "showTotal": False,
    "totalFunc": "sum",
    "percentageCol": "",
}
MAP_PARAMS = {
    "colorSchema": "Yellow to Red",
    "mapType": "Scaled Circle Markers",
    "isDesaturated": True,
    "addTooltip": True,
    "heatClusterSize": 1.5,
    "legendPosition": "bottomright",
    "mapZoom": 2,
    "mapCenter": [20, 0],
    "wms": {"enabled": False, "options": {"format": "image/png", "transparent": True}},
}

ACTIVE_ONLY = "active"


def _active_filter(ref_name: str) -> dict[str, Any]:
    return {
        "meta": {
            "alias": "active jobs",
            "negate": False,
            "disabled": False,
            "type": "phrase",
            "key": "status",
            "params": {"query": "active"},
            "indexRefName": ref_name,
        },
        "query": {"match_phrase": {"status": "active"}},
        "$state": {"store": "appState"},
    }


def visualisation(
    object_id: str,
    title: str,
    vis_type: str,
    aggs: list[dict],
    params: dict,
    pattern_id: str,
    *,
    active_only: bool = False,
    description: str = "",
) -> dict:
    index_ref = "kibanaSavedObjectMeta.searchSourceJSON.index"
    references = [{"name": index_ref, "type": "index-pattern", "id": pattern_id}]
    filters = []
    if active_only:
        filter_ref = "kibanaSavedObjectMeta.searchSourceJSON.filter[0].meta.index"
        filters.append(_active_filter(filter_ref))
        references.append({"name": filter_ref, "type": "index-pattern", "id": pattern_id})
    search_source = {
        "query": {"query": "", "language": "kuery"},
        "filter": filters,
        "indexRefName": index_ref,
    }
    vis_state = {"title": title, "type": vis_type, "aggs": aggs, "params": params}
    return {
        "id": object_id,
        "type": "visualization",
        "attributes": {
            "title": title,
            "visState": json.dumps(vis_state, separators=(",", ":")),
            "uiStateJSON": "{}",
            "description": description,
            "version": 1,
            "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(search_source)},
        },
        "references": references,
        "migrationVersion": MIGRATIONS["visualization"],
    }


def visualisations() -> list[dict]:
    jobs, runs = JOBS_PATTERN_ID, RUNS_PATTERN_ID
    return [
        visualisation(
            "jobo-vis-postings-over-time",
            "Jobo: postings over time",
            "histogram",
            [metric("1"), date_histogram("2", "date_posted")],
            _axis_chart("histogram", "Jobs posted"),
            jobs,
            description="Jobs by posting date (expired ones included: what was posted when).",
        ),
        visualisation(
            "jobo-vis-jobs-by-source",
            "Jobo: active jobs by source",
            "horizontal_bar",
            [metric("1"), terms("2", "source", 20)],
            _axis_chart("horizontal_bar", "Active jobs", horizontal=True),
            jobs,
            active_only=True,
        ),
        visualisation(
            "jobo-vis-jobs-by-country",
            "Jobo: active jobs by country",
            "horizontal_bar",
            [metric("1"), terms("2", "countries", 25)],
            _axis_chart("horizontal_bar", "Active jobs", horizontal=True),
            jobs,
            active_only=True,
            description="Counts jobs (flat countries field), not locations.",
        ),
        visualisation(
            "jobo-vis-workplace-type",
            "Jobo: workplace type",
            "pie",
            [metric("1"), terms("2", "workplace_type", 10, missingBucket=True)],
            PIE_PARAMS,
            jobs,
            active_only=True,
        ),
        visualisation(
            "jobo-vis-salary-by-level",
            "Jobo: salary distribution by experience level (annual USD, minimum)",
            "histogram",
            [
                metric("1"),
                bucket(
                    "2",
                    "histogram",
                    "segment",
                    field="salary_usd_min",
                    interval=20000,
                    min_doc_count=False,
                    has_extended_bounds=False,
                    extended_bounds={},
                ),
                terms("3", "experience_level", 10, schema="group"),
            ],
            _axis_chart("histogram", "Active jobs"),
            jobs,
            active_only=True,
        ),
        visualisation(
            "jobo-vis-top-skills",
            "Jobo: top skills",
            "horizontal_bar",
            [metric("1"), terms("2", "skills", 30)],
            _axis_chart("horizontal_bar", "Active jobs", horizontal=True),
            jobs,
            active_only=True,
        ),
        visualisation(
            "jobo-vis-top-companies",
            "Jobo: top companies",
            "table",
            [
                metric("1"),
                terms("2", "company.name.keyword", 25, schema="bucket"),
                metric("3", "median", "salary_usd_max", percents=[50]),
            ],
            TABLE_PARAMS,
            jobs,
            active_only=True,
        ),
        visualisation(
            "jobo-vis-active-vs-expired",
            "Jobo: active versus expired",
            "pie",
            [metric("1"), terms("2", "status", 5)],
            PIE_PARAMS,
            jobs,
        ),
        visualisation(
            "jobo-vis-job-map",
            "Jobo: job locations",
            "tile_map",
            [
                metric("1"),
                bucket(
                    "2",
                    "geohash_grid",
                    "segment",
                    field="location_points",
                    autoPrecision=True,
                    precision=3,
                    useGeocentroid=True,
                    isFilteredByCollar=True,
                ),
            ],
            MAP_PARAMS,
            jobs,
            active_only=True,
            description="Coordinate map on the flat geo field location_points.",
        ),
        visualisation(
            "jobo-vis-sync-documents",
            "Jobo sync: documents per run",
            "histogram",
            [
                metric("1", "sum", "counts.indexed"),
                date_histogram("2", "started_at", "auto"),
                terms("3", "kind", 10, schema="group"),
            ],
            _axis_chart("histogram", "Documents indexed"),
            runs,
        ),
        visualisation(
            "jobo-vis-sync-failures",
            "Jobo sync: runs by outcome",
            "histogram",
            [
                metric("1"),
                date_histogram("2", "started_at", "auto"),
                terms("3", "outcome", 10, schema="group"),
            ],
            _axis_chart("histogram", "Runs"),
            runs,
        ),
        visualisation(
            "jobo-vis-sync-failed-documents",
            "Jobo sync: failed and dead-lettered documents",
            "table",
            [
                metric("1", "sum", "counts.failed"),
                metric("3", "sum", "counts.dead_lettered"),
                metric("4", "sum", "error_count"),
                terms("2", "kind", 10, schema="bucket"),
            ],
            TABLE_PARAMS,
            runs,
        ),
        visualisation(
            "jobo-vis-sync-duration",
            "Jobo sync: run duration",
            "line",
            [
                metric("1", "max", "duration_ms"),
                date_histogram("2", "started_at", "auto"),
                terms("3", "kind", 10, schema="group"),
            ],
            _axis_chart("line", "Duration (ms)", mode="normal"),
            runs,
        ),
    ]


# --------------------------------------------------------------------------- dashboard

# (visualisation id, width, height) in reading order; the grid is 48 columns wide.
LAYOUT: tuple[tuple[str, int, int], ...] = (
    ("jobo-vis-postings-over-time", 32, 12),
    ("jobo-vis-active-vs-expired", 16, 12),
    ("jobo-vis-job-map", 32, 18),
    ("jobo-vis-workplace-type", 16, 18),
    ("jobo-vis-jobs-by-source", 24, 16),
    ("jobo-vis-jobs-by-country", 24, 16),
    ("jobo-vis-salary-by-level", 24, 16),
    ("jobo-vis-top-skills", 24, 16),
    ("jobo-vis-top-companies", 48, 16),
    ("jobo-vis-sync-documents", 24, 14),
    ("jobo-vis-sync-failures", 24, 14),
    ("jobo-vis-sync-duration", 24, 14),
    ("jobo-vis-sync-failed-documents", 24, 14),
)


def dashboard() -> dict:
    panels, references = [], []
    x = y = row_height = 0
    for number, (vis_id, width, height) in enumerate(LAYOUT):
        if x + width > 48:
            x, y, row_height = 0, y + row_height, 0
        panel_ref = f"panel_{number}"
        panels.append(
            {
                "version": OSD_VERSION,
                "gridData": {"x": x, "y": y, "w": width, "h": height, "i": str(number + 1)},
                "panelIndex": str(number + 1),
                "embeddableConfig": {},
                "panelRefName": panel_ref,
            }
        )
        references.append({"name": panel_ref, "type": "visualization", "id": vis_id})
        x += width
        row_height = max(row_height, height)
    return {
        "id": DASHBOARD_ID,
        "type": "dashboard",
        "attributes": {
            "title": "Jobo indexer: jobs and sync health",
            "hits": 0,
            "description": "Postings, sources, places, salaries and skills of the Jobo index, "
            "and the health of the sync runs.",
            "panelsJSON": json.dumps(panels, separators=(",", ":")),
            "optionsJSON": json.dumps({"hidePanelTitles": False, "useMargins": True}),
            "version": 1,
            "timeRestore": True,
            "timeFrom": "now-90d",
            "timeTo": "now",
            "refreshInterval": {"pause": True, "value": 0},
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": json.dumps(
                    {"query": {"query": "", "language": "kuery"}, "filter": []}
                )
            },
        },
        "references": references,
        "migrationVersion": MIGRATIONS["dashboard"],
    }


def saved_objects() -> list[dict]:
    return [
        index_pattern(JOBS_PATTERN_ID, "jobs-all", "updated_at", jobs_fields()),
        index_pattern(RUNS_PATTERN_ID, "jobs-indexer-runs", "started_at", runs_fields()),
        *visualisations(),
        dashboard(),
    ]


def render() -> str:
    return "".join(
        json.dumps(obj, ensure_ascii=False, sort_keys=True) + "\n" for obj in saved_objects()
    )


def main() -> int:
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(REPO)} ({len(saved_objects())} objects)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
