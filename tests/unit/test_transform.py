"""JobDto -> index document: every field, nulls, empty lists, Unicode, salaries, bad input."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from indexer.currency import PERIOD_MULTIPLIERS
from indexer.resources import data_dir, mappings_dir
from indexer.transform import (
    InvalidJob,
    canonical_enum,
    epoch_millis,
    format_timestamp,
    parse_timestamp,
    to_document,
    version_of,
)

INDEXED_AT = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
FX = json.loads((data_dir() / "fx_rates.json").read_text(encoding="utf-8"))["rates"]


def full_job() -> dict[str, Any]:
    return {
        "id": "0b7f3c1e-0000-4000-8000-000000000001",
        "title": "Senior Software Engineer",
        "normalized_title": "Software-Engineer",
        "company": {
            "id": "c-1",
            "name": "Acme Corp",
            "website": "https://acme.example",
            "logo_url": None,
            "summary": "Makes anvils.",
            "industries": ["Manufacturing", "Software"],
            "categories": [],
            "linkedin_url": None,
            "crunchbase_url": None,
            "details_url": None,
        },
        "description": "Build things.\nMany things.",
        "summary": "A job.",
        "listing_url": "https://jobs.example/1",
        "apply_url": "https://jobs.example/1/apply",
        "locations": [
            {
                "location": "Berlin, Germany",
                "city": "Berlin",
                "region": "Berlin",
                "country": "Germany",
                "latitude": 52.52,
                "longitude": 13.405,
            },
            {
                "location": "Paris, France",
                "city": "Paris",
                "region": "Île-de-France",
                "country": "France",
                "latitude": 48.8566,
                "longitude": 2.3522,
            },
        ],
        "compensation": {"min": 80000, "max": 100000, "currency": "EUR", "period": "yearly"},
        "employment_type": "full-time",
        "workplace_type": "hybrid",
        "experience_level": "senior",
        "source": "Greenhouse",
        "created_at": "2026-10-01T08:00:00Z",
        "updated_at": "2026-10-02T09:30:15.250Z",
        "date_posted": "2026-09-30T00:00:00+02:00",
        "valid_through": None,
        "qualifications": {
            "must_have": {
                "education": ["BSc Computer Science"],
                "certifications": ["AWS SA"],
                "skills": [
                    {"name": "Python", "type": "hard"},
                    {"name": "Teamwork", "type": "soft"},
                ],
            },
            "preferred": {
                "education": [],
                "certifications": [],
                "skills": [{"name": "python", "type": "hard"}, {"name": "Go", "type": "hard"}],
            },
        },
        "responsibilities": ["Write code", "Review code"],
        "benefits": ["Pension"],
        "is_work_auth_required": True,
        "is_h1b_sponsor": False,
        "is_clearance_required": None,
    }


def doc_of(job: dict[str, Any]) -> dict[str, Any]:
    return to_document(job, indexed_at=INDEXED_AT)


def jobs_mapping_fields() -> set[str]:
    raw = json.loads((mappings_dir() / "jobs.json").read_text(encoding="utf-8"))
    return set(raw["template"]["mappings"]["properties"])


# --------------------------------------------------------------------------- happy path


def test_every_top_level_key_of_the_document_is_in_the_strict_mapping() -> None:
    doc = doc_of({**full_job(), "brand_new_field": {"x": 1}})
    assert set(doc) <= jobs_mapping_fields()


def test_identity_text_and_urls_are_kept() -> None:
    doc = doc_of(full_job())
    assert doc["id"] == "0b7f3c1e-0000-4000-8000-000000000001"
    assert doc["title"] == "Senior Software Engineer"
    assert doc["description"] == "Build things.\nMany things."
    assert doc["summary"] == "A job."
    assert doc["listing_url"] == "https://jobs.example/1"
    assert doc["apply_url"] == "https://jobs.example/1/apply"
    assert doc["responsibilities"] == ["Write code", "Review code"]
    assert doc["benefits"] == ["Pension"]


def test_company_is_kept_and_industries_copied_to_the_root() -> None:
    doc = doc_of(full_job())
    assert doc["company"]["name"] == "Acme Corp"
    assert doc["company"]["website"] == "https://acme.example"
    assert doc["industries"] == ["Manufacturing", "Software"]
    assert doc["company"]["industries"] == ["Manufacturing", "Software"]


def test_unknown_company_keys_are_kept_because_company_is_not_strict() -> None:
    job = full_job()
    job["company"]["employee_count"] = 500
    assert doc_of(job)["company"]["employee_count"] == 500


def test_locations_are_nested_with_points_and_flat_copies() -> None:
    doc = doc_of(full_job())
    assert doc["locations"][0] == {
        "location": "Berlin, Germany",
        "city": "Berlin",
        "region": "Berlin",
        "country": "Germany",
        "point": {"lat": 52.52, "lon": 13.405},
    }
    assert doc["location_points"] == [
        {"lat": 52.52, "lon": 13.405},
        {"lat": 48.8566, "lon": 2.3522},
    ]
    assert doc["countries"] == ["Germany", "France"]
    assert doc["regions"] == ["Berlin", "Île-de-France"]
    assert doc["cities"] == ["Berlin", "Paris"]


def test_flat_location_copies_drop_case_insensitive_duplicates_and_nulls() -> None:
    job = full_job()
    job["locations"] = [
        {"city": "Berlin", "country": "Germany"},
        {"city": "BERLIN", "country": "germany", "region": None},
        None,
    ]
    doc = doc_of(job)
    assert len(doc["locations"]) == 2
    assert doc["cities"] == ["Berlin"]
    assert doc["countries"] == ["Germany"]
    assert doc["regions"] == []


@pytest.mark.parametrize(
    ("latitude", "longitude"),
    [
        (None, 13.4),
        (52.5, None),
        (91, 0),
        (-90.5, 0),
        (0, 180.5),
        (0, -181),
        ("52", "13"),
        (True, 1),
    ],
)
def test_a_location_without_a_valid_point_is_kept_without_one(
    latitude: Any, longitude: Any
) -> None:
    job = full_job()
    job["locations"] = [{"city": "Nowhere", "latitude": latitude, "longitude": longitude}]
    doc = doc_of(job)
    assert doc["locations"][0]["city"] == "Nowhere"
    assert doc["locations"][0]["point"] is None
    assert doc["location_points"] == []


def test_boundary_coordinates_are_valid_points() -> None:
    job = full_job()
    job["locations"] = [{"latitude": -90, "longitude": 180}]
    assert doc_of(job)["location_points"] == [{"lat": -90.0, "lon": 180.0}]


def test_compensation_keeps_raw_values_and_adds_annual_usd() -> None:
    doc = doc_of(full_job())
    assert doc["compensation"] == {
        "min": 80000,
        "max": 100000,
        "currency": "EUR",
        "period": "yearly",
    }
    assert doc["salary_usd_min"] == round(80000 * FX["USD"])
    assert doc["salary_usd_max"] == round(100000 * FX["USD"])
    assert doc["salary_usd"] == {"gte": doc["salary_usd_min"], "lte": doc["salary_usd_max"]}


@pytest.mark.parametrize(("period", "multiplier"), sorted(PERIOD_MULTIPLIERS.items()))
def test_every_period_in_a_job(period: str, multiplier: int) -> None:
    job = full_job()
    raw_period = "per-diem" if period == "per_diem" else period
    job["compensation"] = {"min": 10, "max": 20, "currency": "usd", "period": raw_period}
    doc = doc_of(job)
    assert doc["compensation"]["period"] == period
    assert doc["compensation"]["currency"] == "USD"
    assert doc["salary_usd"] == {"gte": 10 * multiplier, "lte": 20 * multiplier}


@pytest.mark.parametrize("currency", sorted(FX))
def test_every_currency_in_a_job(currency: str) -> None:
    job = full_job()
    job["compensation"] = {"min": 1000, "max": None, "currency": currency, "period": "monthly"}
    doc = doc_of(job)
    expected = 1000 * 12 / FX[currency] * FX["USD"]
    assert doc["salary_usd_min"] == pytest.approx(expected, abs=1)
    assert doc["salary_usd_max"] is None
    assert set(doc["salary_usd"]) == {"gte"}


def test_max_only_salary_is_an_lte_only_range() -> None:
    job = full_job()
    job["compensation"] = {"min": None, "max": 50, "currency": "USD", "period": "hourly"}
    doc = doc_of(job)
    assert doc["salary_usd_min"] is None
    assert doc["salary_usd"] == {"lte": 104_000}


@pytest.mark.parametrize(
    "compensation",
    [
        None,
        {"min": None, "max": None, "currency": "USD", "period": "yearly"},
        {"min": 10, "max": 20, "currency": "XXX", "period": "yearly"},
        {"min": 10, "max": 20, "currency": "USD", "period": "per-fortnight"},
        {"min": 30, "max": 20, "currency": "USD", "period": "yearly"},
        {"min": -1, "max": 20, "currency": "USD", "period": "yearly"},
        {"min": 10, "max": 20, "currency": None, "period": None},
    ],
)
def test_unconvertible_compensation_leaves_usd_fields_null(compensation: Any) -> None:
    job = full_job()
    job["compensation"] = compensation
    doc = doc_of(job)
    assert doc["salary_usd_min"] is None
    assert doc["salary_usd_max"] is None
    assert doc["salary_usd"] is None
    if compensation is None:
        assert doc["compensation"] is None
    else:
        assert doc["compensation"]["min"] == compensation["min"]


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("full-time", "full_time"),
        ("full_time", "full_time"),
        ("Full Time", "full_time"),
        ("FULLTIME", "full_time"),
        ("part-time", "part_time"),
        ("freelance", "freelance"),
        ("apprenticeship", "apprenticeship"),  # unknown: kept, lower-cased
    ],
)
def test_employment_types_have_one_stored_form(raw: str, stored: str) -> None:
    job = full_job()
    job["employment_type"] = raw
    assert doc_of(job)["employment_type"] == stored


@pytest.mark.parametrize(
    ("field", "raw", "stored"),
    [
        ("workplace_type", "On-Site", "onsite"),
        ("workplace_type", "REMOTE", "remote"),
        ("workplace_type", "Flexible", "flexible"),
        ("experience_level", "Entry-Level", "entry"),
        ("experience_level", "Principal", "principal"),
        ("normalized_title", "Data Scientist", "data_scientist"),
        ("employment_type", "   ", None),
        ("employment_type", None, None),
    ],
)
def test_open_enums_are_canonicalised_not_rejected(field: str, raw: Any, stored: Any) -> None:
    job = full_job()
    job[field] = raw
    assert doc_of(job)[field] == stored


def test_source_is_lower_cased() -> None:
    assert doc_of(full_job())["source"] == "greenhouse"


def test_skills_are_flattened_and_deduplicated_for_charts() -> None:
    doc = doc_of(full_job())
    assert doc["skills_must_have"] == ["Python", "Teamwork"]
    assert doc["skills_preferred"] == ["python", "Go"]
    assert doc["skills"] == ["Python", "Teamwork", "Go"]
    assert doc["certifications"] == ["AWS SA"]
    assert doc["education"] == ["BSc Computer Science"]
    assert doc["qualifications"] == full_job()["qualifications"]


def test_skills_given_as_plain_strings_are_accepted() -> None:
    job = full_job()
    job["qualifications"] = {"must_have": {"skills": ["SQL", None, " "]}, "preferred": None}
    doc = doc_of(job)
    assert doc["skills_must_have"] == ["SQL"]
    assert doc["skills_preferred"] == []


def test_booleans_stay_booleans() -> None:
    doc = doc_of(full_job())
    assert doc["is_work_auth_required"] is True
    assert doc["is_h1b_sponsor"] is False
    assert doc["is_clearance_required"] is None


def test_dates_are_utc_with_milliseconds() -> None:
    doc = doc_of(full_job())
    assert doc["created_at"] == "2026-10-01T08:00:00.000Z"
    assert doc["updated_at"] == "2026-10-02T09:30:15.250Z"
    assert doc["date_posted"] == "2026-09-29T22:00:00.000Z"
    assert doc["valid_through"] is None
    assert doc["indexed_at"] == "2026-11-01T12:00:00.000Z"


def test_bookkeeping_marks_the_job_active() -> None:
    doc = doc_of(full_job())
    assert doc["status"] == "active"
    assert doc["expired_at"] is None


def test_unknown_top_level_fields_go_to_extra() -> None:
    job = {**full_job(), "remote_policy": {"days": 2}, "tags": ["a", "b"]}
    doc = doc_of(job)
    assert doc["extra"] == {"remote_policy": {"days": 2}, "tags": ["a", "b"]}
    assert "remote_policy" not in doc
    assert doc_of(full_job())["extra"] is None


def test_unicode_is_kept_verbatim() -> None:
    job = full_job()
    job["title"] = "Ingénieur·e logiciel 🚀 — 東京"
    job["company"]["name"] = "Société Générale"
    job["locations"] = [{"city": "Zürich", "country": "Schweiz", "region": "Zürich"}]
    doc = doc_of(job)
    assert doc["title"] == "Ingénieur·e logiciel 🚀 — 東京"
    assert doc["company"]["name"] == "Société Générale"
    assert doc["cities"] == ["Zürich"]
    json.dumps(doc, ensure_ascii=False)  # serialisable as is


def test_a_minimal_job_with_every_nullable_field_null_or_missing() -> None:
    job = {"id": "x", "updated_at": "2026-01-01T00:00:00Z"}
    doc = doc_of(job)
    assert doc["title"] is None
    assert doc["company"] is None
    assert doc["industries"] == []
    assert doc["locations"] == []
    assert doc["location_points"] == []
    assert doc["compensation"] is None
    assert doc["salary_usd"] is None
    assert doc["skills"] == []
    assert doc["responsibilities"] == []
    assert doc["created_at"] is None
    assert doc["qualifications"] is None


def test_empty_lists_stay_empty() -> None:
    job = full_job()
    job.update(locations=[], responsibilities=[], benefits=[], qualifications={})
    job["company"]["industries"] = []
    doc = doc_of(job)
    assert doc["locations"] == doc["countries"] == doc["cities"] == []
    assert doc["responsibilities"] == doc["benefits"] == doc["industries"] == []
    assert doc["skills"] == []


def test_the_input_is_not_modified() -> None:
    job = full_job()
    before = copy.deepcopy(job)
    doc_of({**job, "unknown": 1})
    assert job == before


# --------------------------------------------------------------------------- versions, times


def test_version_is_updated_at_in_epoch_millis() -> None:
    job = full_job()
    expected = int(datetime(2026, 10, 2, 9, 30, 15, 250000, tzinfo=UTC).timestamp() * 1000)
    assert version_of(job) == expected


def test_version_orders_updates_and_ignores_offsets() -> None:
    earlier = {"id": "a", "updated_at": "2026-01-01T10:00:00.001+01:00"}
    later = {"id": "a", "updated_at": "2026-01-01T09:00:00.002Z"}
    assert version_of(later) - version_of(earlier) == 1


def test_epoch_millis_truncates_microseconds_exactly() -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=1999)
    assert epoch_millis(moment) == epoch_millis(datetime(2026, 1, 1, tzinfo=UTC)) + 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T05:04:05+02:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02", datetime(2026, 1, 2, tzinfo=UTC)),
    ],
)
def test_parse_timestamp(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


def test_format_timestamp_converts_to_utc() -> None:
    moment = datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    assert format_timestamp(moment) == "2026-01-01T00:00:00.000Z"


def test_canonical_enum_helper() -> None:
    assert canonical_enum(" Per-Diem ") == "per_diem"
    assert canonical_enum("") is None


# --------------------------------------------------------------------------- rejections


@pytest.mark.parametrize(
    ("change", "job_id", "field", "reason"),
    [
        ({"id": None}, None, "id", "missing"),
        ({"id": 42}, None, "id", "int"),
        ({"id": "  "}, None, "id", "blank"),
        ({"updated_at": None}, "j", "updated_at", "missing"),
        ({"updated_at": "yesterday"}, "j", "updated_at", "not an ISO 8601"),
        ({"updated_at": 1700000000}, "j", "updated_at", "int"),
        ({"created_at": "2026-13-45T00:00:00Z"}, "j", "created_at", "not an ISO 8601"),
        ({"date_posted": "soon"}, "j", "date_posted", "not an ISO 8601"),
        ({"locations": {"city": "Berlin"}}, "j", "locations", "must be a list"),
        ({"locations": ["Berlin"]}, "j", "locations[0]", "must be an object"),
        ({"locations": [{"city": 5}]}, "j", "locations[0].city", "must be a string"),
        ({"title": ["a"]}, "j", "title", "must be a string"),
        ({"company": "Acme"}, "j", "company", "must be an object"),
        ({"compensation": [1, 2]}, "j", "compensation", "must be an object"),
        ({"compensation": {"min": "100k"}}, "j", "compensation.min", "must be a number"),
        ({"compensation": {"max": True}}, "j", "compensation.max", "must be a number"),
        ({"responsibilities": "do stuff"}, "j", "responsibilities", "must be a list"),
        ({"benefits": ["ok", 3]}, "j", "benefits[1]", "must be a string"),
        ({"is_h1b_sponsor": "yes"}, "j", "is_h1b_sponsor", "true, false or null"),
        ({"qualifications": []}, "j", "qualifications", "must be an object"),
        (
            {"qualifications": {"must_have": {"skills": [7]}}},
            "j",
            "qualifications.must_have.skills[0]",
            "name, type",
        ),
    ],
)
def test_invalid_jobs_name_the_job_the_field_and_the_reason(
    change: dict[str, Any], job_id: str | None, field: str, reason: str
) -> None:
    job = {**full_job(), "id": "j", **change}
    with pytest.raises(InvalidJob) as caught:
        doc_of(job)
    assert caught.value.job_id == job_id
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert field in str(caught.value)


def test_a_job_that_is_not_an_object_is_invalid() -> None:
    with pytest.raises(InvalidJob, match="JSON object"):
        to_document(["not", "a", "job"], indexed_at=INDEXED_AT)  # type: ignore[arg-type]


def test_version_of_rejects_a_job_without_updated_at() -> None:
    with pytest.raises(InvalidJob) as caught:
        version_of({"id": "k"})
    assert (caught.value.job_id, caught.value.field) == ("k", "updated_at")


def test_the_same_posting_on_another_board_has_the_same_duplicate_key() -> None:
    job = full_job()
    elsewhere = copy.deepcopy(job)
    elsewhere.update(id="other-id", source="lever", listing_url="https://other.example/1")
    elsewhere["title"] = job["title"].upper() + " "
    elsewhere["description"] = job["description"] + " Apply on our board."
    assert doc_of(job)["duplicate_key"] == doc_of(elsewhere)["duplicate_key"]


@pytest.mark.parametrize(
    "change",
    [
        lambda job: job.update(title="Barista"),
        lambda job: job["company"].update(name="Another Company"),
        lambda job: job["locations"][0].update(city="Somewhere Else"),
    ],
)
def test_another_company_title_or_place_is_another_posting(change: Any) -> None:
    job = full_job()
    other = copy.deepcopy(job)
    change(other)
    assert doc_of(job)["duplicate_key"] != doc_of(other)["duplicate_key"]


def test_a_job_without_company_or_title_keys_to_its_own_id() -> None:
    job = full_job()
    job["company"] = None
    assert doc_of(job)["duplicate_key"] == f"id:{job['id']}"


# --------------------------------------------------------------------------- one pass


def test_document_and_version_is_to_document_and_version_of_in_one_pass() -> None:
    from indexer.transform import document_and_version

    job = full_job()
    document, version = document_and_version(job, indexed_at=INDEXED_AT)
    assert document == doc_of(job)
    assert version == version_of(job)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2026-10-09T10:17:31.890Z", "2026-10-09T10:17:31.890Z"),  # kept as it is
        ("2026-10-09 10:17:31.890Z", "2026-10-09T10:17:31.890Z"),  # same length, not stored form
        ("2026-10-09T10:17:31.890z", "2026-10-09T10:17:31.890Z"),
        ("2026-10-09T12:17:31.890+02:00", "2026-10-09T10:17:31.890Z"),
    ],
)
def test_timestamps_in_or_out_of_the_stored_form_end_the_same(given: str, stored: str) -> None:
    job = {**full_job(), "updated_at": given, "created_at": given}
    doc = doc_of(job)
    assert doc["updated_at"] == doc["created_at"] == stored
    assert version_of(job) == epoch_millis(parse_timestamp(stored))


def test_a_timestamp_shaped_like_the_stored_form_but_invalid_is_rejected() -> None:
    with pytest.raises(InvalidJob, match="not an ISO 8601 timestamp") as caught:
        doc_of({**full_job(), "date_posted": "2026-13-09T10:17:31.890Z"})
    assert caught.value.field == "date_posted"
