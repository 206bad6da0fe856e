"""JobDto (the feed's JSON) -> the index document of ``mappings/jobs.json``.

A job it cannot index faithfully raises :class:`InvalidJob`, which names the job, the field and
the reason (the pipeline dead-letters it). It is tolerant wherever the contract says nullable;
enums are open sets, canonicalised (``full-time`` -> ``full_time``) but never rejected; unknown
top-level fields go to the unindexed object ``extra`` because the jobs mapping is ``dynamic:
strict``.

``to_document`` is pure and on the hot path (about half of the indexer's CPU before it was
tuned): one pass over the job, no regexes, field names for error messages built only when a field
is bad, timestamps already in the stored form (``2026-10-09T10:17:31.890Z``) validated by one
``datetime.fromisoformat`` and kept as they are, enum spellings folded once per distinct value,
and the document built as one dict literal. ``document_and_version`` also returns the job's
external version, from the same parse of ``updated_at``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from indexer.currency import FxTable, canonical_period, salary_usd
from indexer.duplicates import duplicate_key
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


# Folded enum spellings by alias table: a feed repeats a few spellings on every page.
_ENUM_CACHE_LIMIT = 4096
_enum_caches: dict[int, dict[str, str | None]] = {}


def _cached_enum(value: str, aliases: Mapping[str, str] | None) -> str | None:
    cache = _enum_caches.get(id(aliases))
    if cache is None:
        cache = _enum_caches.setdefault(id(aliases), {})
    try:
        return cache[value]
    except KeyError:
        folded = canonical_enum(value, aliases)
        if len(cache) < _ENUM_CACHE_LIMIT:
            cache[value] = folded
        return folded


def _is_stored_form(value: str) -> bool:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ``: what :func:`format_timestamp` writes, once it parses."""
    return (
        len(value) == 24
        and value[23] == "Z"
        and value[19] == "."
        and value[10] == "T"
        and value[4] == "-"
        and value[7] == "-"
    )


def _type_name(value: Any) -> str:
    return type(value).__name__


# --------------------------------------------------------------------------- field readers


class _Reader:
    """Typed access to one job's fields; every failure names the job and the field.

    The checks inline the common case (the value has the right type) and build the field's
    name only for the error.
    """

    __slots__ = ("job", "job_id")

    def __init__(self, job: Mapping[str, Any], job_id: str | None) -> None:
        self.job = job
        self.job_id = job_id

    def fail(self, field: str, reason: str) -> InvalidJob:
        return InvalidJob(self.job_id, field, reason)

    def string(self, value: Any, field: str) -> str | None:
        if value is None or isinstance(value, str):
            return value
        raise self.fail(field, f"must be a string or null, got {_type_name(value)}")

    def boolean(self, value: Any, field: str) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        raise self.fail(field, f"must be true, false or null, got {_type_name(value)}")

    def number(self, value: Any, field: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(field, f"must be a number or null, got {_type_name(value)}")
        return value

    def mapping(self, value: Any, field: str) -> Mapping[str, Any] | None:
        if value is None or isinstance(value, dict):
            return value
        raise self.fail(field, f"must be an object or null, got {_type_name(value)}")

    def items(self, value: Any, field: str) -> list[Any]:
        if value is None:
            return []
        if isinstance(value, list):
            return value
        raise self.fail(field, f"must be a list or null, got {_type_name(value)}")

    def strings(self, value: Any, field: str) -> list[str]:
        """A list of strings; nulls and blanks inside are dropped."""
        if value is None:
            return []
        if isinstance(value, list):
            # The common case: every item a string with something in it (a copy, as always).
            found = [item for item in value if isinstance(item, str) and not item.isspace()]
            if len(found) == len(value) and all(found):
                return found
        found = []
        for position, item in enumerate(self.items(value, field)):
            if item is None:
                continue
            if not isinstance(item, str):
                raise self.fail(f"{field}[{position}]", f"must be a string, got {_type_name(item)}")
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
            raise self.fail(field, f"must be an ISO 8601 string, got {_type_name(value)}")
        try:
            return parse_timestamp(value)
        except ValueError:
            raise self.fail(field, f"is not an ISO 8601 timestamp: {value[:64]!r}") from None

    def stored_timestamp(self, field: str) -> str | None:
        """An optional timestamp in its stored form (UTC, milliseconds, ``Z``), or None."""
        value = self.job.get(field)
        if type(value) is str and _is_stored_form(value):
            try:
                datetime.fromisoformat(value)
                return value
            except ValueError:
                pass  # the general path names the error
        moment = self.timestamp(field, required=False)
        return format_timestamp(moment) if moment else None

    def enum(self, field: str, aliases: Mapping[str, str] | None = None) -> str | None:
        value = self.job.get(field)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(field, f"must be a string or null, got {_type_name(value)}")
        return _cached_enum(value, aliases)


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


def _updated_at(reader: _Reader) -> tuple[str, int]:
    """``updated_at`` in its stored form and as the external version (epoch milliseconds)."""
    value = reader.job.get("updated_at")
    if type(value) is str and _is_stored_form(value):
        try:
            return value, epoch_millis(datetime.fromisoformat(value))
        except ValueError:
            pass  # the general path names the error
    moment = reader.timestamp("updated_at", required=True)
    assert moment is not None  # required=True raises instead
    return format_timestamp(moment), epoch_millis(moment)


def version_of(job: Mapping[str, Any]) -> int:
    """The external version of a job: ``updated_at`` in epoch milliseconds."""
    return _updated_at(_Reader(job, _job_id(job)))[1]


# --------------------------------------------------------------------------- sections


def _company(reader: _Reader) -> tuple[dict[str, Any] | None, list[str]]:
    """(the company object, its industries for the root field)."""
    raw = reader.mapping(reader.job.get("company"), "company")
    if raw is None:
        return None, []
    company: dict[str, Any] = dict(raw)  # unknown keys kept (company is dynamic: false)
    for name in _COMPANY_STRING_FIELDS:
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            raise reader.fail(
                f"company.{name}", f"must be a string or null, got {_type_name(value)}"
            )
    industries = reader.strings(raw.get("industries"), "company.industries")
    company["industries"] = industries
    company["categories"] = reader.strings(raw.get("categories"), "company.categories")
    return company, industries


def _point(latitude: Any, longitude: Any) -> dict[str, float] | None:
    """A geo point, or None when either coordinate is null, not a number or out of range."""
    if latitude is None or longitude is None:
        return None
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


_LOCATION_STRING_FIELDS = ("location", "city", "region", "country")


def _location_strings(reader: _Reader, raw: dict[str, Any], position: int) -> None:
    """Raise for the first string field of ``locations[position]`` that is not a string."""
    for name in _LOCATION_STRING_FIELDS:
        reader.string(raw.get(name), f"locations[{position}].{name}")


def _locations(reader: _Reader) -> tuple[list[Any], list[Any], list[str], list[str], list[str]]:
    """(locations, location_points, countries, regions, cities)."""
    raws = reader.job.get("locations")
    if not raws:
        reader.items(raws, "locations")  # raises for a non-list
        return [], [], [], [], []
    locations: list[dict[str, Any]] = []
    points: list[dict[str, float]] = []
    countries: list[str] = []
    regions: list[str] = []
    cities: list[str] = []
    seen_countries: set[str] = set()
    seen_regions: set[str] = set()
    seen_cities: set[str] = set()
    for position, raw in enumerate(reader.items(raws, "locations")):
        if raw is None:
            continue
        if not isinstance(raw, dict):
            raise reader.fail(f"locations[{position}]", f"must be an object, got {_type_name(raw)}")
        get = raw.get
        location, city, region, country = (
            get("location"),
            get("city"),
            get("region"),
            get("country"),
        )
        for value in (location, city, region, country):
            if value is not None and not isinstance(value, str):
                _location_strings(reader, raw, position)
        point = _point(get("latitude"), get("longitude"))
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
    return locations, points, countries, regions, cities


def _compensation(reader: _Reader, fx: FxTable | None) -> tuple[Any, Any, Any, Any]:
    """(salary_usd_min, salary_usd_max, salary_usd, compensation)."""
    raw = reader.mapping(reader.job.get("compensation"), "compensation")
    if raw is None:
        return None, None, None, None
    minimum = reader.number(raw.get("min"), "compensation.min")
    maximum = reader.number(raw.get("max"), "compensation.max")
    currency = reader.string(raw.get("currency"), "compensation.currency")
    period = reader.string(raw.get("period"), "compensation.period")
    currency = currency.strip().upper() or None if currency is not None else None
    period = canonical_period(period) or None if period is not None else None
    compensation = {
        "min": minimum if minimum is None or math.isfinite(minimum) else None,
        "max": maximum if maximum is None or math.isfinite(maximum) else None,
        "currency": currency,
        "period": period,
    }
    annual = salary_usd(minimum, maximum, currency, period, fx)
    if annual is None:
        return None, None, None, compensation
    return annual.min, annual.max, annual.as_range(), compensation


# (level, its field name, and the names of its lists), built once.
_QUALIFICATION_LEVELS = tuple(
    (
        level,
        f"qualifications.{level}",
        f"qualifications.{level}.certifications",
        f"qualifications.{level}.education",
        f"qualifications.{level}.skills",
    )
    for level in ("must_have", "preferred")
)


def _skill_names(reader: _Reader, skills: Any, field: str) -> list[str]:
    """Skill names (``{name, type}`` objects or plain strings), stripped, blanks dropped."""
    if type(skills) is list:
        # The common case: every skill an object whose name has something in it.
        try:
            names = [skill["name"].strip() for skill in skills]
        except (TypeError, KeyError, AttributeError):
            pass
        else:
            if all(names):
                return names
    names = []
    for position, skill in enumerate(reader.items(skills, field)):
        name = skill.get("name") if isinstance(skill, dict) else skill
        if name is None:
            continue
        if not isinstance(name, str):
            reason = f"must be {{name, type}} or a string, got {_type_name(skill)}"
            raise reader.fail(f"{field}[{position}]", reason)
        name = name.strip()
        if name:
            names.append(name)
    return names


def _qualifications(
    reader: _Reader,
) -> tuple[Any, list[str], list[str], list[str], list[str], list[str]]:
    """(qualifications, skills_must_have, skills_preferred, skills, certifications, education)."""
    raw = reader.mapping(reader.job.get("qualifications"), "qualifications")
    skills_by_level: list[list[str]] = []
    certifications: list[str] = []
    education: list[str] = []
    for level, field, certifications_field, education_field, skills_field in _QUALIFICATION_LEVELS:
        group = reader.mapping(raw.get(level), field) if raw else None
        if not group:
            skills_by_level.append([])
            continue
        certifications.extend(reader.strings(group.get("certifications"), certifications_field))
        education.extend(reader.strings(group.get("education"), education_field))
        skills_by_level.append(_skill_names(reader, group.get("skills"), skills_field))
    must_have, preferred = skills_by_level
    every: list[str] = []
    seen: set[str] = set()
    for name in must_have + preferred:  # names are never blank here
        key = name.casefold()
        if key not in seen:
            seen.add(key)
            every.append(name)
    return raw, must_have, preferred, every, certifications, education


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
    return document_and_version(job, indexed_at=indexed_at, fx=fx)[0]


def document_and_version(
    job: Mapping[str, Any],
    *,
    indexed_at: datetime,
    fx: FxTable | None = None,
) -> tuple[dict[str, Any], int]:
    """The index document of one JobDto and its external version (``updated_at`` in epoch ms),
    from one pass over the job (raises :class:`InvalidJob`)."""
    job_id = _job_id(job)
    reader = _Reader(job, job_id)
    updated_at, version = _updated_at(reader)
    created_at = reader.stored_timestamp("created_at")
    date_posted = reader.stored_timestamp("date_posted")
    valid_through = reader.stored_timestamp("valid_through")
    get = job.get
    title, description, summary = get("title"), get("description"), get("summary")
    listing_url, apply_url = get("listing_url"), get("apply_url")
    for value in (title, description, summary, listing_url, apply_url):
        if value is not None and not isinstance(value, str):
            for name in _STRING_FIELDS:  # the first bad one, named
                reader.string(get(name), name)
    normalized_title = reader.enum("normalized_title")
    company, industries = _company(reader)
    responsibilities = reader.strings(get("responsibilities"), "responsibilities")
    benefits = reader.strings(get("benefits"), "benefits")
    locations, points, countries, regions, cities = _locations(reader)
    salary_min, salary_max, salary_range, compensation = _compensation(reader, fx)
    employment_type = reader.enum("employment_type", _EMPLOYMENT_ALIASES)
    workplace_type = reader.enum("workplace_type", _WORKPLACE_ALIASES)
    experience_level = reader.enum("experience_level", _EXPERIENCE_ALIASES)
    source = reader.string(get("source"), "source")
    if source is not None:
        source = source.strip().lower() or None
    qualifications, must_have, preferred, skills, certifications, education = _qualifications(
        reader
    )
    work_auth = reader.boolean(get("is_work_auth_required"), "is_work_auth_required")
    h1b = reader.boolean(get("is_h1b_sponsor"), "is_h1b_sponsor")
    clearance = reader.boolean(get("is_clearance_required"), "is_clearance_required")
    unknown = job.keys() - _KNOWN_FIELDS
    extra = {key: value for key, value in job.items() if key in unknown} if unknown else None
    # Keys in the order the stored documents always had (bulk bodies stay byte-identical).
    document = {
        "id": job_id,
        "title": title,
        "description": description,
        "summary": summary,
        "listing_url": listing_url,
        "apply_url": apply_url,
        "normalized_title": normalized_title,
        "company": company,
        "industries": industries,
        "responsibilities": responsibilities,
        "benefits": benefits,
        "locations": locations,
        "location_points": points,
        "countries": countries,
        "regions": regions,
        "cities": cities,
        "salary_usd_min": salary_min,
        "salary_usd_max": salary_max,
        "salary_usd": salary_range,
        "compensation": compensation,
        "employment_type": employment_type,
        "workplace_type": workplace_type,
        "experience_level": experience_level,
        "source": source,
        "qualifications": qualifications,
        "skills_must_have": must_have,
        "skills_preferred": preferred,
        "skills": skills,
        "certifications": certifications,
        "education": education,
        "is_work_auth_required": work_auth,
        "is_h1b_sponsor": h1b,
        "is_clearance_required": clearance,
        "created_at": created_at,
        "updated_at": updated_at,
        "date_posted": date_posted,
        "valid_through": valid_through,
        "status": STATUS_ACTIVE,
        "expired_at": None,
        "indexed_at": _format_indexed_at(indexed_at),
        "extra": extra,
    }
    document["duplicate_key"] = duplicate_key(document)
    return document, version
