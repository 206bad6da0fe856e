"""OpenSearch Dashboards saved objects: load, re-target to a base, validate, check, import.

The objects live in ``dashboards/jobo-indexer.ndjson`` (written by ``dashboards/generate.py``) and
target the default base ``jobs``: index patterns ``jobs-all`` and ``jobs-indexer-runs``.

* :func:`rewrite_for_base` re-targets them to another base: index-pattern titles become
  ``<base>-all`` / ``<base>-indexer-runs``, and every object id gets a ``-<base>`` suffix
  (references follow) so two bases can live side by side in one Dashboards instance.
* :func:`validate_saved_objects` checks the JSON-in-strings, that every reference resolves, and two
  import rules of OpenSearch Dashboards 2.x and 3.x: no ``migrationVersion`` newer than the
  build's own migrations (the import is refused), and map visualisations on a flat, aggregatable
  ``geo_point`` (3.x converts the deprecated coordinate map ``tile_map`` only from such a field).
* :func:`vis_request` translates a visualisation's ``visState`` aggregations (and its saved filters)
  into an OpenSearch search body; :func:`check_visualisations` runs each one and reports fields
  that are missing or not aggregatable (``_field_caps``) and charts that would come out empty.
* :func:`import_saved_objects` POSTs the NDJSON to ``/api/saved_objects/_import?overwrite=true``
  as multipart with the ``osd-xsrf`` header, into a workspace when given one (with workspaces
  enabled, Dashboards 3.x hides objects that belong to none).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from opensearchpy import OpenSearch

from indexer.errors import UsageError
from indexer.resources import PACKAGE_DIR

DEFAULT_BASE = "jobs"
NDJSON_NAME = "jobo-indexer.ndjson"
IMPORT_PATH = "/api/saved_objects/_import"
# Index-pattern titles in the file -> suffix after the base.
PATTERN_SUFFIXES = {f"{DEFAULT_BASE}-all": "-all", f"{DEFAULT_BASE}-indexer-runs": "-indexer-runs"}
JSON_ATTRIBUTES = ("visState", "panelsJSON", "optionsJSON", "uiStateJSON", "fields")
_BUCKET_SCHEMAS = ("segment", "group", "split", "bucket", "rows", "columns", "radius")
_CALENDAR = {"ms": "1ms", "s": "1s", "m": "1m", "h": "1h", "d": "1d", "w": "1w", "M": "1M"}
_CALENDAR |= {"y": "1y", "minute": "1m", "hour": "1h", "day": "1d", "week": "1w"}
_CALENDAR |= {"month": "1M", "year": "1y"}
# The newest migration OpenSearch Dashboards has for each saved-object type: the same in 2.x and
# 3.x (the types kept the schema of the fork from Kibana 7.10.2). An object whose
# ``migrationVersion`` is newer "belongs to a more recent version" and its import is refused.
DASHBOARDS_MIGRATIONS = {"index-pattern": "7.6.0", "visualization": "7.10.0", "dashboard": "7.9.3"}
MAP_VIS_TYPES = ("tile_map",)


class DashboardsError(UsageError, ValueError):
    """Saved objects that cannot be read, re-targeted, translated or imported as asked."""


# --------------------------------------------------------------------------- files


def default_ndjson_path() -> Path:
    """``dashboards/jobo-indexer.ndjson`` of a checkout, or the copy a wheel carries."""
    for folder in (PACKAGE_DIR / "_data" / "dashboards", PACKAGE_DIR.parent / "dashboards"):
        candidate = folder / NDJSON_NAME
        if candidate.is_file():
            return candidate
    raise DashboardsError(
        f"cannot find {NDJSON_NAME} beside the package or in dashboards/: pass --file PATH"
    )


def parse_ndjson(text: str, source: str = "<ndjson>") -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            parsed = json.loads(line)
        except ValueError as error:
            raise DashboardsError(f"{source} line {number} is not JSON: {error}") from error
        if not isinstance(parsed, dict) or "type" not in parsed or "id" not in parsed:
            raise DashboardsError(f"{source} line {number} is not a saved object (type, id)")
        objects.append(parsed)
    return objects


def load_saved_objects(path: Path | None = None) -> list[dict[str, Any]]:
    path = path or default_ndjson_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DashboardsError(f"cannot read saved objects {path}: {error}") from error
    return parse_ndjson(text, str(path))


def to_ndjson(objects: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(obj, ensure_ascii=False, sort_keys=True) + "\n" for obj in objects)


# --------------------------------------------------------------------------- re-targeting


def rewrite_for_base(objects: Iterable[Mapping[str, Any]], base: str) -> list[dict[str, Any]]:
    """The objects re-targeted to ``base`` (a copy; the default base returns them unchanged)."""
    copies = [copy.deepcopy(dict(obj)) for obj in objects]
    if base == DEFAULT_BASE:
        return copies
    new_ids = {(obj["type"], obj["id"]): f"{obj['id']}-{base}" for obj in copies}
    for obj in copies:
        obj["id"] = new_ids[(obj["type"], obj["id"])]
        for reference in obj.get("references", []):
            key = (reference["type"], reference["id"])
            if key in new_ids:
                reference["id"] = new_ids[key]
        attributes = obj.setdefault("attributes", {})
        if obj["type"] == "index-pattern":
            title = attributes.get("title")
            if title not in PATTERN_SUFFIXES:
                raise DashboardsError(
                    f"index pattern {obj['id']!r} has title {title!r}; expected one of "
                    f"{sorted(PATTERN_SUFFIXES)} (the default base) to re-target to {base!r}"
                )
            attributes["title"] = base + PATTERN_SUFFIXES[title]
        elif "title" in attributes:
            attributes["title"] = f"{attributes['title']} [{base}]"
            if "visState" in attributes:
                state = json.loads(attributes["visState"])
                state["title"] = attributes["title"]
                attributes["visState"] = json.dumps(state, separators=(",", ":"))
    return copies


# --------------------------------------------------------------------------- validation


def _search_source(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("attributes", {}).get("kibanaSavedObjectMeta", {})
    raw = meta.get("searchSourceJSON")
    return json.loads(raw) if raw else {}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def migration_problems(obj: Mapping[str, Any]) -> list[str]:
    """A ``migrationVersion`` newer than what Dashboards knows: its import would be refused."""
    problems: list[str] = []
    for kind, version in (obj.get("migrationVersion") or {}).items():
        known = DASHBOARDS_MIGRATIONS.get(kind)
        if known is not None and _version_key(str(version)) > _version_key(known):
            problems.append(
                f"{obj['type']} {obj['id']}: migrationVersion {kind} {version} is newer than "
                f"OpenSearch Dashboards' {known}, which refuses the import: set it to {known}"
            )
    return problems


def _pattern_fields(objects: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Index-pattern id -> {field name: field spec} of the readable ``fields`` attributes."""
    patterns: dict[str, dict[str, Any]] = {}
    for obj in objects:
        if obj["type"] != "index-pattern":
            continue
        try:
            fields = json.loads(obj.get("attributes", {}).get("fields") or "[]")
        except (TypeError, ValueError):
            continue  # reported as an attribute that is not JSON
        patterns[obj["id"]] = {f["name"]: f for f in fields if isinstance(f, dict) and "name" in f}
    return patterns


def map_field_problems(
    obj: Mapping[str, Any], patterns: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """A coordinate map must aggregate a flat (non-nested), aggregatable ``geo_point``."""
    try:
        state = json.loads(obj["attributes"]["visState"])
        ref_name = _search_source(obj).get("indexRefName")
    except (KeyError, TypeError, ValueError):
        return []  # not a readable visualisation: reported as such
    if state.get("type") not in MAP_VIS_TYPES:
        return []
    pattern = next((r["id"] for r in obj.get("references", []) if r["name"] == ref_name), None)
    known = patterns.get(str(pattern), {})
    problems = []
    for name in fields_of(state):
        spec = known.get(name, {})
        if (
            spec.get("type") != "geo_point"
            or not spec.get("aggregatable")
            or "nested" in spec.get("subType", {})
        ):
            problems.append(
                f"visualization {obj['id']}: map field {name!r} is not a flat aggregatable "
                f"geo_point of index pattern {pattern}; Dashboards 3.x cannot chart or convert it"
            )
    return problems


def validate_saved_objects(objects: list[dict[str, Any]]) -> list[str]:
    """Problems found (empty when fine): unparsable JSON strings, dangling references, and what
    Dashboards 2.x/3.x would refuse or could not chart (:func:`migration_problems`,
    :func:`map_field_problems`)."""
    problems: list[str] = []
    patterns = _pattern_fields(objects)
    known = {(obj["type"], obj["id"]) for obj in objects}
    for obj in objects:
        label = f"{obj['type']} {obj['id']}"
        attributes = obj.get("attributes", {})
        for name in JSON_ATTRIBUTES:
            if name in attributes:
                try:
                    json.loads(attributes[name])
                except (TypeError, ValueError) as error:
                    problems.append(f"{label}: attribute {name} is not JSON: {error}")
        try:
            source = _search_source(obj)
        except (TypeError, ValueError) as error:
            problems.append(f"{label}: searchSourceJSON is not JSON: {error}")
            source = {}
        names = {ref["name"] for ref in obj.get("references", [])}
        wanted = [source.get("indexRefName")] + [
            f.get("meta", {}).get("indexRefName") for f in source.get("filter", [])
        ]
        if obj["type"] == "dashboard":
            wanted += [p.get("panelRefName") for p in json.loads(attributes["panelsJSON"])]
        problems.extend(
            f"{label}: reference name {name!r} is used but not declared"
            for name in wanted
            if name and name not in names
        )
        problems.extend(
            f"{label}: reference {ref['name']} -> {ref['type']} {ref['id']} is not in the file"
            for ref in obj.get("references", [])
            if (ref["type"], ref["id"]) not in known
        )
        problems.extend(migration_problems(obj))
        if obj["type"] == "visualization":
            problems.extend(map_field_problems(obj, patterns))
    return problems


# --------------------------------------------------------------------------- translation


def _order(params: Mapping[str, Any], metric_ids: set[str]) -> dict[str, str]:
    """Order by a metric's id (kept as a sub-aggregation), the count or the key."""
    order_by = str(params.get("orderBy", "_count"))
    direction = params.get("order", "desc")
    if order_by in metric_ids:
        return {order_by: direction}
    if order_by == "_key":
        return {"_key": direction}
    return {"_count": direction}


def _bucket_agg(agg: Mapping[str, Any], metric_ids: set[str]) -> dict[str, Any]:
    kind, params = agg["type"], agg.get("params", {})
    if kind == "terms":
        body: dict[str, Any] = {
            "field": params["field"],
            "size": int(params.get("size", 10)),
            "order": _order(params, metric_ids),
        }
        if params.get("missingBucket"):
            body["missing"] = params.get("missingBucketLabel", "Missing")
        return {"terms": body}
    if kind == "date_histogram":
        interval = str(params.get("interval", "auto"))
        body = {"field": params["field"], "min_doc_count": int(params.get("min_doc_count", 1))}
        if interval == "auto":
            body["fixed_interval"] = "1d"  # Dashboards picks one from the time range
        elif interval in _CALENDAR:
            body["calendar_interval"] = _CALENDAR[interval]
        else:
            body["fixed_interval"] = interval
        return {"date_histogram": body}
    if kind == "histogram":
        return {
            "histogram": {
                "field": params["field"],
                "interval": params["interval"],
                "min_doc_count": 1 if params.get("min_doc_count") else 0,
            }
        }
    if kind == "geohash_grid":
        return {"geohash_grid": {"field": params["field"], "precision": params.get("precision", 3)}}
    if kind == "range":
        return {"range": {"field": params["field"], "ranges": params["ranges"]}}
    if kind == "filters":
        filters = {
            f.get("label") or f["input"]["query"]: {"query_string": {"query": f["input"]["query"]}}
            for f in params["filters"]
        }
        return {"filters": {"filters": filters}}
    raise DashboardsError(f"bucket aggregation {kind!r} (agg {agg.get('id')}) is not translated")


def _metric_agg(agg: Mapping[str, Any]) -> dict[str, Any] | None:
    kind, params = agg["type"], agg.get("params", {})
    if kind == "count":
        return None  # every bucket's doc_count
    if kind in ("sum", "avg", "min", "max", "cardinality"):
        return {kind: {"field": params["field"]}}
    if kind == "median":
        return {"percentiles": {"field": params["field"], "percents": [50]}}
    if kind == "percentiles":
        return {"percentiles": {"field": params["field"], "percents": params.get("percents")}}
    if kind == "top_hits":
        return {"top_hits": {"size": int(params.get("size", 1))}}
    raise DashboardsError(f"metric aggregation {kind!r} (agg {agg.get('id')}) is not translated")


def _filter_query(filters: list[Mapping[str, Any]]) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = []
    negated: list[dict[str, Any]] = []
    for saved in filters:
        meta = saved.get("meta", {})
        if meta.get("disabled"):
            continue
        clause = saved.get("query") or {
            k: v for k, v in saved.items() if k not in ("meta", "$state")
        }
        (negated if meta.get("negate") else clauses).append(dict(clause))
    return {"bool": {"filter": clauses, "must_not": negated}}


def vis_request(vis_state: Mapping[str, Any], search_source: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenSearch search body a visualisation asks for (buckets nested in array order)."""
    enabled = [agg for agg in vis_state.get("aggs", []) if agg.get("enabled", True)]
    metrics = [agg for agg in enabled if agg.get("schema") == "metric"]
    buckets = [agg for agg in enabled if agg.get("schema") in _BUCKET_SCHEMAS]
    metric_aggs = {
        str(agg["id"]): body for agg in metrics if (body := _metric_agg(agg)) is not None
    }
    # A count metric is every bucket's doc_count: ordering by it is ordering by _count.
    orderable = {name for name, body in metric_aggs.items() if "percentiles" not in body}
    inner: dict[str, Any] = dict(metric_aggs)
    for agg in reversed(buckets):
        translated = _bucket_agg(agg, orderable)
        children = dict(inner)
        for name in translated.get("terms", {}).get("order", {}):
            if name in metric_aggs:  # the ordering metric must be a direct child
                children.setdefault(name, metric_aggs[name])
        if children:
            translated["aggs"] = children
        inner = {str(agg["id"]): translated}
    query_text = (search_source.get("query") or {}).get("query") or ""
    query = _filter_query(search_source.get("filter", []))
    if query_text.strip():
        query["bool"]["must"] = [{"query_string": {"query": query_text}}]
    return {"size": 0, "query": query, "aggs": inner}


def fields_of(vis_state: Mapping[str, Any]) -> list[str]:
    return [
        agg["params"]["field"]
        for agg in vis_state.get("aggs", [])
        if agg.get("enabled", True) and "field" in agg.get("params", {})
    ]


# --------------------------------------------------------------------------- checking


@dataclass
class VisCheck:
    id: str
    title: str
    index: str
    fields: list[str]
    buckets: int = 0  # top-level buckets with documents (1 for a bucket-less metric)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _index_of(obj: Mapping[str, Any], patterns: Mapping[str, str]) -> str:
    ref_name = _search_source(obj).get("indexRefName")
    for ref in obj.get("references", []):
        if ref["name"] == ref_name and ref["type"] == "index-pattern":
            if ref["id"] not in patterns:
                raise DashboardsError(f"visualization {obj['id']} uses unknown pattern {ref['id']}")
            return patterns[ref["id"]]
    raise DashboardsError(f"visualization {obj['id']} has no index-pattern reference")


def _field_problems(client: OpenSearch, index: str, fields: list[str]) -> list[str]:
    if not fields:
        return []
    caps = client.field_caps(index=index, fields=",".join(fields)).get("fields", {})
    problems: list[str] = []
    for name in fields:
        if name not in caps:
            problems.append(f"field {name!r} does not exist in {index}")
        elif not all(cap.get("aggregatable") for cap in caps[name].values()):
            problems.append(f"field {name!r} is not aggregatable in {index}")
    return problems


def _non_empty_buckets(aggs: Mapping[str, Any]) -> int:
    """Top-level buckets holding documents (a metric without buckets counts as one if set)."""
    if not aggs:
        return 0
    first = next(iter(aggs.values()))
    raw = first.get("buckets")
    if raw is None:
        return 1 if first.get("value") is not None or first.get("values") else 0
    values = raw.values() if isinstance(raw, Mapping) else raw
    return sum(1 for bucket in values if bucket.get("doc_count", 0) > 0)


def check_visualisations(client: OpenSearch, objects: list[dict[str, Any]]) -> list[VisCheck]:
    """Run every visualisation's aggregation on the live cluster and report what is wrong."""
    patterns = {
        obj["id"]: obj["attributes"]["title"] for obj in objects if obj["type"] == "index-pattern"
    }
    checks: list[VisCheck] = []
    for obj in objects:
        if obj["type"] != "visualization":
            continue
        state = json.loads(obj["attributes"]["visState"])
        index = _index_of(obj, patterns)
        check = VisCheck(obj["id"], state.get("title", obj["id"]), index, fields_of(state))
        check.problems.extend(_field_problems(client, index, check.fields))
        if not check.problems:
            body = vis_request(state, _search_source(obj))
            answer = client.search(index=index, body=body)
            check.buckets = _non_empty_buckets(answer.get("aggregations", {}))
            if check.buckets == 0:
                check.problems.append(f"no data: the aggregation over {index} returned no buckets")
        checks.append(check)
    return checks


# --------------------------------------------------------------------------- import


@dataclass
class ImportResult:
    success: bool
    success_count: int
    imported: list[str]  # "type id" of each object imported
    errors: list[str]  # one readable line per failed object

    def as_dict(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "success_count": self.success_count,
            "imported": self.imported,
            "errors": self.errors,
        }


def _describe_error(item: Mapping[str, Any]) -> str:
    error = item.get("error", {})
    kind = error.get("type", "unknown")
    detail = ""
    if kind == "missing_references":
        missing = ", ".join(f"{r.get('type')} {r.get('id')}" for r in error.get("references", []))
        detail = f": missing {missing}"
    elif error.get("message"):
        detail = f": {error['message']}"
    title = item.get("title") or item.get("meta", {}).get("title") or ""
    return f"{item.get('type')} {item.get('id')} {title!r} failed ({kind}){detail}".strip()


def import_saved_objects(
    url: str,
    ndjson: str,
    *,
    username: str | None = None,
    password: str | None = None,
    overwrite: bool = True,
    timeout: float = 60.0,
    verify: bool | str = True,
    workspace: str | None = None,
) -> ImportResult:
    """POST ``ndjson`` to OpenSearch Dashboards' saved-objects import API (into ``workspace``
    when given: where workspaces are enabled, objects in none are hidden)."""
    endpoint = url.rstrip("/") + IMPORT_PATH
    auth = (username, password or "") if username else None
    params = {"overwrite": "true" if overwrite else "false"}
    if workspace:
        params["workspaces"] = workspace
    try:
        response = requests.post(
            endpoint,
            params=params,
            headers={"osd-xsrf": "true"},
            files={"file": (NDJSON_NAME, ndjson.encode("utf-8"), "application/ndjson")},
            auth=auth,
            timeout=timeout,
            verify=verify,
        )
    except requests.RequestException as error:
        raise DashboardsError(
            f"cannot reach OpenSearch Dashboards at {url}: {type(error).__name__}; check --url "
            "and that Dashboards is up (GET /api/status)"
        ) from None
    if response.status_code in (401, 403):
        raise DashboardsError(
            f"OpenSearch Dashboards at {url} refused the import (HTTP {response.status_code}): "
            "give --user/--password (or OSD_USERNAME/OSD_PASSWORD) of a user allowed to write "
            "saved objects"
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not response.ok or not isinstance(body, dict):
        snippet = response.text[:300].replace("\n", " ")
        raise DashboardsError(
            f"OpenSearch Dashboards at {url} answered HTTP {response.status_code} to the import: "
            f"{snippet}"
        )
    return ImportResult(
        success=bool(body.get("success")),
        success_count=int(body.get("successCount", 0)),
        imported=[f"{r.get('type')} {r.get('id')}" for r in body.get("successResults", [])],
        errors=[_describe_error(item) for item in body.get("errors", [])],
    )
