"""The JSON files of mappings/: versions, and the field choices the README promises."""

from __future__ import annotations

import json
from typing import Any

import pytest

from indexer.resources import mappings_dir
from indexer.store.schema import (
    DEAD_LETTERS_FILE,
    RUNS_FILE,
    STATE_FILE,
    index_names,
    load_jobs_mapping,
    load_plain_mapping,
    template_body,
)

FACETS = [
    "source",
    "countries",
    "regions",
    "cities",
    "industries",
    "normalized_title",
    "employment_type",
    "workplace_type",
    "experience_level",
    "skills",
    "skills_must_have",
    "skills_preferred",
]
URLS = ["listing_url", "apply_url"]


def jobs_properties() -> dict[str, Any]:
    return load_jobs_mapping().mappings["properties"]


def test_jobs_template_and_mapping_versions_agree() -> None:
    raw = json.loads((mappings_dir() / "jobs.json").read_text(encoding="utf-8"))
    assert raw["version"] == raw["template"]["mappings"]["_meta"]["version"]
    assert load_jobs_mapping().version == raw["version"]


def test_template_body_targets_the_physical_indices_of_a_base() -> None:
    body = template_body(index_names("jobs"), load_jobs_mapping())
    assert body["index_patterns"] == ["jobs-v*"]
    assert body["version"] == load_jobs_mapping().version
    assert body["template"]["mappings"]["_meta"]["digest"] == load_jobs_mapping().digest


@pytest.mark.parametrize("name", [STATE_FILE, RUNS_FILE, DEAD_LETTERS_FILE])
def test_bookkeeping_mappings_are_versioned_and_forgiving(name: str) -> None:
    spec = load_plain_mapping(name)
    assert spec.version >= 1
    assert spec.mappings["dynamic"] is False  # a new field never fails a bookkeeping write


def test_root_is_strict_and_company_is_not() -> None:
    mappings = load_jobs_mapping().mappings
    assert mappings["dynamic"] == "strict"
    assert mappings["properties"]["company"]["dynamic"] is False
    assert mappings["properties"]["extra"] == {"type": "object", "enabled": False}


@pytest.mark.parametrize("field", FACETS)
def test_facets_are_lower_case_normalised_keywords(field: str) -> None:
    spec = jobs_properties()[field]
    assert spec["type"] == "keyword"
    assert spec["normalizer"] == "lowercase_folded"


@pytest.mark.parametrize("field", ["city", "region", "country"])
def test_nested_location_parts_are_normalised_keywords(field: str) -> None:
    locations = jobs_properties()["locations"]
    assert locations["type"] == "nested"
    assert locations["properties"][field]["normalizer"] == "lowercase_folded"
    assert locations["properties"]["point"]["type"] == "geo_point"


@pytest.mark.parametrize("field", URLS)
def test_urls_are_stored_not_indexed(field: str) -> None:
    assert jobs_properties()[field]["index"] is False


def test_salary_fields_support_overlap_queries() -> None:
    properties = jobs_properties()
    assert properties["salary_usd"]["type"] == "integer_range"
    assert properties["salary_usd_min"]["type"] == properties["salary_usd_max"]["type"]


def test_id_sorts_on_doc_values() -> None:
    assert jobs_properties()["id"] == {"type": "keyword", "doc_values": True}


def test_settings_suit_a_single_dev_node() -> None:
    index = load_jobs_mapping().settings["index"]
    assert (index["number_of_shards"], index["number_of_replicas"]) == (1, 0)
    assert index["refresh_interval"] == "1s"
