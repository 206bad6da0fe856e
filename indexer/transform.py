"""JobDto (the feed's JSON) -> the index document of ``mappings/jobs.json``.

``to_document`` is pure and on the hot path: no regexes, one pass per field, ISO timestamps parsed
with ``datetime.fromisoformat``. A job it cannot index faithfully raises :class:`InvalidJob`, which
names the job, the field and the reason (the pipeline dead-letters it). It is tolerant wherever the
contract says nullable; enums are open sets, canonicalised (``full-time`` -> ``full_time``) but
never rejected; unknown top-level fields go to the unindexed object ``extra`` because the jobs
mapping is ``dynamic: strict``.
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from indexer.currency import FxTable, canonical_period, salary_usd
from indexer.errors import IndexerError
from indexer.timestamps import epoch_millis, format_timestamp, parse_timestamp

STATUS_ACTIVE = "active"
STATUS_EXPIRED = "expired"


# Enum spellings folded to one stored form (after lower-casing and '-'/' ' -> '_').
_EMPLOYMENT_ALIASES = {"fulltime": "full_time", "parttime": "part_time", "intern": "internship"}
_WORKPLACE_ALIASES = {"on_site": "onsite", "in_office": "onsite", "remote_first": "remote"}
_EXPERIENCE_ALIASES = {
    "internship": "intern",
    "entry_level": "entry",
    "junior": "entry",
    "mid_level": "mid",
    "intermediate": "mid",
    "senior_level": "senior",
}

# JobDto fields handled explicitly; anything else at the top level is kept in ``extra``.
_STRING_FIELDS = ("title", "description", "summary", "listing_url", "apply_url")
_BOOL_FIELDS = ("is_work_auth_required", "is_h1b_sponsor", "is_clearance_required")
_TEXT_LIST_FIELDS = ("responsibilities", "benefits")
_KNOWN_FIELDS = frozenset(
    (
        "id",
        "normalized_title",
        "company",
        "locations",
        "compensation",
        "employment_type",
        "workplace_type",
        "experience_level",
        "source",
        "created_at",
        "updated_at",
        "date_posted",
        "valid_through",
        "qualifications",
        *_STRING_FIELDS,
        *_BOOL_FIELDS,
        *_TEXT_LIST_FIELDS,
    )
)
_COMPANY_STRING_FIELDS = (
    "id",
    "name",
    "summary",
    "website",
    "logo_url",
    "linkedin_url",
    "crunchbase_url",
    "details_url",
)


class InvalidJob(IndexerError, ValueError):  # noqa: N818 (the name the pipeline and the dead letters use)
    """A job that cannot be indexed as it is: which one, which field, and why."""

    def __init__(self, job_id: str | None, field: str, reason: str) -> None:
        self.job_id = job_id
        self.field = field
        self.reason = reason
        shown = job_id if job_id is not None else "<no id>"
        super().__init__(f"job {shown}: field {field!r} {reason}")


# --------------------------------------------------------------------------- scalars


_last_indexed_at: tuple[datetime, str] | None = None


def _format_indexed_at(moment: datetime) -> str:
    """``indexed_at`` is the same for a whole page: format it once."""
    global _last_indexed_at
    cached = _last_indexed_at
    if cached is not None and cached[0] is moment:
        return cached[1]
    text = format_timestamp(moment)
    _last_indexed_at = (moment, text)
    return text


def canonical_enum(value: str, aliases: Mapping[str, str] | None = None) -> str | None:
    """``Full-Time`` -> ``full_time``; blank -> None; unknown values kept (the sets are open)."""
    folded = value.strip().lower().replace("-", "_").replace(" ", "_")
    if not folded:
        return None
    if aliases:
        return aliases.get(folded, folded)
    return folded


# --------------------------------------------------------------------------- field readers


class _Reader:
    """Typed access to one job's fields; every failure names the job and the field."""

    __slots__ = ("job", "job_id")

    def __init__(self, job: Mapping[str, Any], job_id: str | None) -> None:
        self.job = job
        self.job_id = job_id

    def fail(self, field: str, reason: str) -> InvalidJob:
        return InvalidJob(self.job_id, field, reason)

    def string(self, value: Any, field: str) -> str | None:
        if value is None or isinstance(value, str):
            return value
        raise self.fail(field, f"must be a string or null, got {type(value).__name__}")

    def boolean(self, value: Any, field: str) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        raise self.fail(field, f"must be true, false or null, got {type(value).__name__}")

    def number(self, value: Any, field: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(field, f"must be a number or null, got {type(value).__name__}")
        return value

    def mapping(self, value: Any, field: str) -> Mapping[str, Any] | None:
        if value is None or isinstance(value, dict):
            return value
        raise self.fail(field, f"must be an object or null, got {type(value).__name__}")

    def items(self, value: Any, field: str) -> list[Any]:
        if value is None:
            return []
        if isinstance(value, list):
            return value
        raise self.fail(field, f"must be a list or null, got {type(value).__name__}")

    def strings(self, value: Any, field: str) -> list[str]:
        """A list of strings; nulls and blanks inside are dropped."""
        found: list[str] = []
        for position, item in enumerate(self.items(value, field)):
            if item is None:
                continue
            if not isinstance(item, str):
                raise self.fail(
                    f"{field}[{position}]", f"must be a string, got {type(item).__name__}"
                )
            if item.strip():
                found.append(item)
        return found

    def timestamp(self, field: str, *, required: bool) -> datetime | None:
        value = self.job.get(field)
        if value is None or value == "":
            if required:
                raise self.fail(field, "is missing: an ISO 8601 timestamp is required")
            return None
        if not isinstance(value, str):
            raise self.fail(field, f"must be an ISO 8601 string, got {type(value).__name__}")
        try:
            return parse_timestamp(value)
        except ValueError:
            raise self.fail(field, f"is not an ISO 8601 timestamp: {value[:64]!r}") from None

    def enum(self, field: str, aliases: Mapping[str, str] | None = None) -> str | None:
        value = self.string(self.job.get(field), field)
        return canonical_enum(value, aliases) if value is not None else None


def _job_id(job: Any) -> str:
    if not isinstance(job, dict):
        raise InvalidJob(None, "<job>", f"must be a JSON object, got {type(job).__name__}")
    job_id = job.get("id")
    if not isinstance(job_id, str):
        kind = "missing" if job_id is None else f"a {type(job_id).__name__}, not a string"
        raise InvalidJob(None, "id", f"is {kind}")
    if not job_id.strip():
        raise InvalidJob(None, "id", "is blank")
    return job_id


def version_of(job: Mapping[str, Any]) -> int:
    """The external version of a job: ``updated_at`` in epoch milliseconds."""
    reader = _Reader(job, _job_id(job))
    updated_at = reader.timestamp("updated_at", required=True)
    assert updated_at is not None  # required=True raises instead
    return epoch_millis(updated_at)


# --------------------------------------------------------------------------- sections


def _company(reader: _Reader, doc: dict[str, Any]) -> None:
    raw = reader.mapping(reader.job.get("company"), "company")
    if raw is None:
        doc["company"] = None
        doc["industries"] = []
        return
    company: dict[str, Any] = dict(raw)  # unknown keys kept (company is dynamic: false)
    for name in _COMPANY_STRING_FIELDS:
        if name in raw:
            company[name] = reader.string(raw[name], f"company.{name}")
    industries = reader.strings(raw.get("industries"), "company.industries")
    company["industries"] = industries
    company["categories"] = reader.strings(raw.get("categories"), "company.categories")
    doc["company"] = company
    doc["industries"] = industries


def _point(latitude: Any, longitude: Any) -> dict[str, float] | None:
    """A geo point, or None when either coordinate is null, not a number or out of range."""
    if isinstance(latitude, bool) or isinstance(longitude, bool):
        return None
    if not isinstance(latitude, int | float) or not isinstance(longitude, int | float):
        return None
    if not (math.isfinite(latitude) and math.isfinite(longitude)):
        return None
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        return None
    return {"lat": float(latitude), "lon": float(longitude)}


def _add_unique(values: list[str], seen: set[str], value: str | None) -> None:
    if value:
        key = value.casefold()
        if key not in seen:
            seen.add(key)
            values.append(value)


def _locations(reader: _Reader, doc: dict[str, Any]) -> None:
    locations: list[dict[str, Any]] = []
    points: list[dict[str, float]] = []
    countries: list[str] = []
    regions: list[str] = []
    cities: list[str] = []
    seen_countries: set[str] = set()
    seen_regions: set[str] = set()
    seen_cities: set[str] = set()
    for position, raw in enumerate(reader.items(reader.job.get("locations"), "locations")):
        field = f"locations[{position}]"
        if raw is None:
            continue
        if not isinstance(raw, dict):
            raise reader.fail(field, f"must be an object, got {type(raw).__name__}")
        location = reader.string(raw.get("location"), f"{field}.location")
        city = reader.string(raw.get("city"), f"{field}.city")
        region = reader.string(raw.get("region"), f"{field}.region")
        country = reader.string(raw.get("country"), f"{field}.country")
        point = _point(raw.get("latitude"), raw.get("longitude"))
        locations.append(
            {
                "location": location,
                "city": city,
                "region": region,
                "country": country,
                "point": point,
            }
        )
        if point is not None:
            points.append(point)
        _add_unique(countries, seen_countries, country)
        _add_unique(regions, seen_regions, region)
        _add_unique(cities, seen_cities, city)
    doc["locations"] = locations
    doc["location_points"] = points
    doc["countries"] = countries
    doc["regions"] = regions
    doc["cities"] = cities


def _compensation(reader: _Reader, doc: dict[str, Any], fx: FxTable | None) -> None:
    raw = reader.mapping(reader.job.get("compensation"), "compensation")
    doc["salary_usd_min"] = doc["salary_usd_max"] = doc["salary_usd"] = None
    if raw is None:
        doc["compensation"] = None
        return
    minimum = reader.number(raw.get("min"), "compensation.min")
    maximum = reader.number(raw.get("max"), "compensation.max")
    currency = reader.string(raw.get("currency"), "compensation.currency")
    period = reader.string(raw.get("period"), "compensation.period")
    currency = currency.strip().upper() or None if currency is not None else None
    period = canonical_period(period) or None if period is not None else None
    doc["compensation"] = {
        "min": minimum if minimum is None or math.isfinite(minimum) else None,
        "max": maximum if maximum is None or math.isfinite(maximum) else None,
        "currency": currency,
        "period": period,
    }
    annual = salary_usd(minimum, maximum, currency, period, fx)
    if annual is not None:
        doc["salary_usd_min"] = annual.min
        doc["salary_usd_max"] = annual.max
        doc["salary_usd"] = annual.as_range()


def _qualifications(reader: _Reader, doc: dict[str, Any]) -> None:
    raw = reader.mapping(reader.job.get("qualifications"), "qualifications")
    doc["qualifications"] = raw
    skills_by_level: dict[str, list[str]] = {"must_have": [], "preferred": []}
    certifications: list[str] = []
    education: list[str] = []
    for level, skills in skills_by_level.items():
        group = reader.mapping(raw.get(level), f"qualifications.{level}") if raw else None
        if not group:
            continue
        field = f"qualifications.{level}"
        certifications.extend(
            reader.strings(group.get("certifications"), f"{field}.certifications")
        )
        education.extend(reader.strings(group.get("education"), f"{field}.education"))
        for position, skill in enumerate(reader.items(group.get("skills"), f"{field}.skills")):
            name = skill.get("name") if isinstance(skill, dict) else skill
            if name is None:
                continue
            if not isinstance(name, str):
                reason = f"must be {{name, type}} or a string, got {type(skill).__name__}"
                raise reader.fail(f"{field}.skills[{position}]", reason)
            if name.strip():
                skills.append(name.strip())
    must_have, preferred = skills_by_level["must_have"], skills_by_level["preferred"]
    every: list[str] = []
    _seen: set[str] = set()
    for name in (*must_have, *preferred):
        _add_unique(every, _seen, name)
    doc["skills_must_have"] = must_have
    doc["skills_preferred"] = preferred
    doc["skills"] = every
    doc["certifications"] = certifications
    doc["education"] = education


# --------------------------------------------------------------------------- duplicates


def _words(text: str | None) -> str:
    """Lower case, accents and punctuation gone, words sorted: ``Engineer, Senior`` == ``senior
    engineer``."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(
        ch if ch.isalnum() else " " for ch in decomposed if not unicodedata.combining(ch)
    )
    return " ".join(sorted(set(kept.split())))


def duplicate_key(doc: Mapping[str, Any]) -> str:
    """One key for the same posting on several boards: company name + title + places, folded.

    Different ids, URLs and sources do not matter; a job without a company name or a title keys
    to its own id (it is never collapsed with another).
    """
    company = _words((doc.get("company") or {}).get("name"))
    title = _words(doc.get("title"))
    if not company or not title:
        return f"id:{doc['id']}"
    places = sorted(
        {
            f"{_words(loc['city'] or loc['location'])}/{_words(loc['country'])}"
            for loc in doc["locations"]
        }
    )
    fingerprint = "|".join((company, title, *places))
    return hashlib.blake2b(fingerprint.encode("utf-8"), digest_size=12).hexdigest()


# --------------------------------------------------------------------------- the document


def to_document(
    job: Mapping[str, Any],
    *,
    indexed_at: datetime,
    fx: FxTable | None = None,
) -> dict[str, Any]:
    """Build the index document of one JobDto (raises :class:`InvalidJob`).

    The result has ``status: active`` and ``expired_at: null``: a job in the feed is active.
    ``fx`` defaults to the shipped ECB table.
    """
    job_id = _job_id(job)
    reader = _Reader(job, job_id)
    updated_at = reader.timestamp("updated_at", required=True)
    created_at = reader.timestamp("created_at", required=False)
    date_posted = reader.timestamp("date_posted", required=False)
    valid_through = reader.timestamp("valid_through", required=False)
    assert updated_at is not None  # required=True raises instead

    doc: dict[str, Any] = {"id": job_id}
    for name in _STRING_FIELDS:
        doc[name] = reader.string(job.get(name), name)
    doc["normalized_title"] = reader.enum("normalized_title")
    _company(reader, doc)
    for name in _TEXT_LIST_FIELDS:
        doc[name] = reader.strings(job.get(name), name)
    _locations(reader, doc)
    _compensation(reader, doc, fx)
    doc["employment_type"] = reader.enum("employment_type", _EMPLOYMENT_ALIASES)
    doc["workplace_type"] = reader.enum("workplace_type", _WORKPLACE_ALIASES)
    doc["experience_level"] = reader.enum("experience_level", _EXPERIENCE_ALIASES)
    source = reader.string(job.get("source"), "source")
    doc["source"] = source.strip().lower() or None if source is not None else None
    _qualifications(reader, doc)
    for name in _BOOL_FIELDS:
        doc[name] = reader.boolean(job.get(name), name)
    doc["created_at"] = format_timestamp(created_at) if created_at else None
    doc["updated_at"] = format_timestamp(updated_at)
    doc["date_posted"] = format_timestamp(date_posted) if date_posted else None
    doc["valid_through"] = format_timestamp(valid_through) if valid_through else None
    doc["status"] = STATUS_ACTIVE
    doc["expired_at"] = None
    doc["indexed_at"] = _format_indexed_at(indexed_at)
    extra = {key: value for key, value in job.items() if key not in _KNOWN_FIELDS}
    doc["extra"] = extra or None
    doc["duplicate_key"] = duplicate_key(doc)
    return doc
