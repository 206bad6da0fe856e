"""The simulated job world: deterministic generation, mutations and page queries.

Each job is encoded to JSON once (orjson) and kept as bytes; a page is served by joining those
bytes. Active jobs sit in a list sorted by ``(created_at, id)`` so a cursor position is found with
``bisect``. Expired jobs sit in a list sorted by ``(expired_at, id)`` for ``/expired``.

All times are integers in epoch milliseconds; :func:`iso_ms` renders them as the wire format
``2026-11-20T10:11:12.345Z``.
"""

from __future__ import annotations

import bisect
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from indexer.simulator import content

DAY_MS = 86_400_000
MINUTE_MS = 60_000
HISTORY_DAYS = 60
EXPIRED_WINDOW_DAYS = 10

EMPLOYMENT_TYPES = ("full_time", "part_time", "contract", "internship", "freelance", "temporary")
WORK_MODELS = ("remote", "hybrid", "onsite")
EXPERIENCE_LEVELS = ("intern", "entry", "mid", "senior", "lead", "executive")
PERIODS = ("hourly", "daily", "weekly", "monthly", "yearly", "per-diem")
PERIODS_PER_YEAR = {
    "hourly": 2080,
    "daily": 260,
    "weekly": 52,
    "monthly": 12,
    "yearly": 1,
    "per-diem": 260,
}
# Rough units of each currency per US dollar; only used to make amounts look plausible.
CURRENCY_PER_USD = {
    "USD": 1.0, "EUR": 0.92, "GBP": 0.79, "CAD": 1.36, "AUD": 1.5, "INR": 83.0, "JPY": 150.0,
    "CHF": 0.88, "SEK": 10.5, "PLN": 4.0, "BRL": 5.0, "SGD": 1.35, "NZD": 1.6, "MXN": 17.0,
}  # fmt: skip
COUNTRY_CURRENCY = {
    "US": "USD", "CA": "CAD", "GB": "GBP", "AU": "AUD", "IN": "INR", "JP": "JPY", "CH": "CHF",
    "SE": "SEK", "PL": "PLN", "BR": "BRL", "SG": "SGD", "NZ": "NZD", "MX": "MXN", "DE": "EUR",
    "FR": "EUR", "ES": "EUR", "IT": "EUR", "NL": "EUR", "BE": "EUR", "PT": "EUR", "AT": "EUR",
    "IE": "EUR", "FI": "EUR", "GR": "EUR", "EE": "EUR", "LT": "EUR", "LV": "EUR", "LU": "EUR",
    "MT": "EUR", "CY": "EUR", "HR": "EUR",
}  # fmt: skip
EXTRA_FIELDS: tuple[tuple[str, Any], ...] = (
    ("match_score", 0.87),
    ("tags", ["hot", "new"]),
    ("api_version", "2.1"),
    ("salary_insights", {"percentile": 62, "sample_size": 418}),
)


def iso_ms(ms: int) -> str:
    """Epoch milliseconds -> ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def canonical_employment(value: str | None) -> str | None:
    """``full_time``/``Full-Time`` -> ``full-time`` (the filter spelling)."""
    return value.strip().lower().replace("_", "-") if isinstance(value, str) else None


def _lower(value: object) -> str:
    return value.lower() if isinstance(value, str) else ""


@dataclass(slots=True)
class JobRecord:
    """One job: its pre-encoded JSON plus the few keys the filters need."""

    id: str
    created_ms: int
    updated_ms: int
    posted_ms: int
    source: str
    workplace: str | None
    employment: str | None
    experience: str | None
    places: tuple[tuple[str, str, str], ...]
    encoded: bytes
    expired_ms: int | None = None


def scan_key(record: JobRecord) -> tuple[int, str]:
    return (record.created_ms, record.id)


def expiry_key(record: JobRecord) -> tuple[int, str]:
    return (record.expired_ms or 0, record.id)


def record_from_job(job: dict[str, Any], created_ms: int, updated_ms: int) -> JobRecord:
    """Encode ``job`` once and extract its filter keys."""
    places = tuple(
        (_lower(loc.get("country")), _lower(loc.get("region")), _lower(loc.get("city")))
        for loc in job["locations"]
    )
    posted = job.get("_posted_ms")
    job.pop("_posted_ms", None)
    return JobRecord(
        id=job["id"],
        created_ms=created_ms,
        updated_ms=updated_ms,
        posted_ms=posted if isinstance(posted, int) else created_ms,
        source=job["source"],
        workplace=job["workplace_type"],
        employment=canonical_employment(job["employment_type"]),
        experience=job["experience_level"],
        places=places,
        # orjson leaves spare capacity in the bytes it returns; copy to keep memory to the payload.
        encoded=memoryview(orjson.dumps(job)).tobytes(),
    )


@dataclass(frozen=True)
class FeedQuery:
    """The filters of one feed scan (all optional; lists OR inside, filters AND together)."""

    updated_after_ms: int | None = None
    posted_after_ms: int | None = None
    sources: frozenset[str] = frozenset()
    work_models: frozenset[str] = frozenset()
    employment_types: frozenset[str] = frozenset()
    experience_levels: frozenset[str] = frozenset()
    locations: tuple[tuple[str | None, str | None, str | None], ...] = ()

    @property
    def only_updated_after(self) -> bool:
        return not (
            self.posted_after_ms is not None
            or self.sources
            or self.work_models
            or self.employment_types
            or self.experience_levels
            or self.locations
        )

    @property
    def unfiltered(self) -> bool:
        return self.only_updated_after and self.updated_after_ms is None

    def matches(self, record: JobRecord) -> bool:
        if self.updated_after_ms is not None and record.updated_ms < self.updated_after_ms:
            return False
        if self.posted_after_ms is not None and record.posted_ms < self.posted_after_ms:
            return False
        if self.sources and record.source not in self.sources:
            return False
        if self.work_models and record.workplace not in self.work_models:
            return False
        if self.employment_types and record.employment not in self.employment_types:
            return False
        if self.experience_levels and record.experience not in self.experience_levels:
            return False
        return not self.locations or any(
            _place_matches(place, wanted) for place in record.places for wanted in self.locations
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ua": self.updated_after_ms,
            "pa": self.posted_after_ms,
            "s": sorted(self.sources),
            "w": sorted(self.work_models),
            "e": sorted(self.employment_types),
            "x": sorted(self.experience_levels),
            "l": [list(loc) for loc in self.locations],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeedQuery:
        return cls(
            updated_after_ms=data["ua"],
            posted_after_ms=data["pa"],
            sources=frozenset(data["s"]),
            work_models=frozenset(data["w"]),
            employment_types=frozenset(data["e"]),
            experience_levels=frozenset(data["x"]),
            locations=tuple((loc[0], loc[1], loc[2]) for loc in data["l"]),
        )


def _place_matches(
    place: tuple[str, str, str], wanted: tuple[str | None, str | None, str | None]
) -> bool:
    return all(want is None or want == have for have, want in zip(place, wanted, strict=True))


@dataclass
class FeedPage:
    jobs: list[bytes]
    last_key: tuple[int, str] | None
    has_more: bool
    estimated_total: int | None


@dataclass
class ExpiredPage:
    job_ids: list[str]
    last_key: tuple[int, str] | None
    has_more: bool


@dataclass
class MutationResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    reposted: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, list[str]]:
        return {
            "created": self.created,
            "updated": self.updated,
            "expired": self.expired,
            "reposted": self.reposted,
        }


class Pools:
    """Pre-built variants (companies, qualification sets, bullets) so generation stays fast.

    Companies post many jobs each, as in the real feed; every pool is drawn from its own seeded
    generator so the world stays deterministic.
    """

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"jobo-sim-pools:{seed}")
        self.cities = content.cities()
        self.companies = [_company(rng) for _ in range(2000)]
        self.quals = [{"must_have": _quals(rng), "preferred": _quals(rng)} for _ in range(256)]
        self.responsibilities = [
            rng.sample(content.RESPONSIBILITIES, rng.randrange(0, 6)) for _ in range(64)
        ]
        self.benefits = [rng.sample(content.BENEFITS, rng.randrange(0, 6)) for _ in range(64)]
        self.paragraph_bytes = sum(len(p.encode()) + 2 for p in content.PARAGRAPHS) / len(
            content.PARAGRAPHS
        )


def _company(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.06:
        name = rng.choice(content.UNICODE_COMPANIES)
    else:
        name = f"{rng.choice(content.COMPANY_FIRST)} {rng.choice(content.COMPANY_LAST)}"
    slug = "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum()) or "company"
    sparse = rng.random() < 0.2
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "name": name,
        "website": None if sparse else f"https://www.{slug}.example",
        "logo_url": None if sparse else f"https://logos.example.com/{slug}.png",
        "summary": None if sparse else f"{name} builds things people rely on.",
        "industries": [] if sparse else rng.sample(content.INDUSTRIES, rng.randrange(1, 3)),
        "categories": [] if sparse else rng.sample(content.CATEGORIES, rng.randrange(0, 3)),
        "linkedin_url": None if sparse else f"https://www.linkedin.com/company/{slug}",
        "crunchbase_url": None if rng.random() < 0.5 else f"https://crunchbase.com/o/{slug}",
        "details_url": None,
    }


def _quals(rng: random.Random) -> dict[str, Any]:
    skills = [{"name": s, "type": "hard"} for s in rng.sample(content.SKILLS_HARD, 3)]
    skills += [{"name": s, "type": "soft"} for s in rng.sample(content.SKILLS_SOFT, 2)]
    return {
        "education": rng.sample(content.EDUCATION, rng.randrange(0, 2)),
        "certifications": rng.sample(content.CERTIFICATIONS, rng.randrange(0, 2)),
        "skills": skills,
    }


class JobFactory:
    """Builds realistic JobDto dicts from a seeded random generator."""

    def __init__(self, rng: random.Random, pools: Pools) -> None:
        self.rng = rng
        self.pools = pools
        self.cities = pools.cities

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def job(self, job_id: str, created_ms: int, updated_ms: int) -> dict[str, Any]:
        rng = self.rng
        title, normalized, level = self._title()
        locations = self._locations()
        posted_ms = None if rng.random() < 0.1 else created_ms - rng.randrange(0, 10 * DAY_MS)
        listing_url = f"https://jobs.example.com/{job_id}"
        job: dict[str, Any] = {
            "id": job_id,
            "title": title,
            "normalized_title": normalized,
            "company": rng.choice(self.pools.companies),
            "description": self.description(),
            "summary": None if rng.random() < 0.15 else self._summary(title),
            "listing_url": listing_url,
            "apply_url": listing_url if rng.random() < 0.3 else f"{listing_url}/apply",
            "locations": locations,
            "compensation": self.compensation(locations),
            "employment_type": self._employment_type(),
            "workplace_type": None if rng.random() < 0.08 else rng.choice(WORK_MODELS),
            "experience_level": level,
            "source": rng.choice(content.SOURCES),
            "created_at": iso_ms(created_ms),
            "updated_at": iso_ms(updated_ms),
            "date_posted": None if posted_ms is None else iso_ms(posted_ms),
            "valid_through": None
            if rng.random() < 0.6
            else iso_ms(created_ms + rng.randrange(20, 90) * DAY_MS),
            "qualifications": rng.choice(self.pools.quals),
            "responsibilities": rng.choice(self.pools.responsibilities),
            "benefits": rng.choice(self.pools.benefits),
            "is_work_auth_required": self._tristate(),
            "is_h1b_sponsor": self._tristate(),
            "is_clearance_required": self._tristate(),
        }
        if rng.random() < 0.02:
            name, value = rng.choice(EXTRA_FIELDS)
            job[name] = value
        job["_posted_ms"] = posted_ms
        return job

    def _title(self) -> tuple[str, str | None, str | None]:
        rng = self.rng
        title, normalized = rng.choice(content.TITLES)
        prefix, level = rng.choice(content.SENIORITY)
        if level is None and rng.random() < 0.7:
            level = rng.choice(EXPERIENCE_LEVELS)
        return prefix + title, normalized, level

    def _locations(self) -> list[dict[str, Any]]:
        rng = self.rng
        count = rng.choices((0, 1, 2, 3), weights=(8, 70, 15, 7))[0]
        out: list[dict[str, Any]] = []
        for city in rng.sample(self.cities, count):
            if rng.random() < 0.05:
                out.append(
                    {
                        "location": f"Remote - {city['country']}",
                        "city": None,
                        "region": None,
                        "country": city["country"],
                        "latitude": None,
                        "longitude": None,
                    }
                )
                continue
            out.append(
                {
                    "location": f"{city['city']}, {city['region']}, {city['country']}",
                    "city": city["city"],
                    "region": city["region"],
                    "country": city["country"],
                    "latitude": city["latitude"],
                    "longitude": city["longitude"],
                }
            )
        return out

    def compensation(self, locations: list[dict[str, Any]]) -> dict[str, Any] | None:
        rng = self.rng
        if rng.random() < 0.3:
            return None
        country = locations[0]["country"] if locations else "US"
        currency = COUNTRY_CURRENCY.get(country, "USD")
        if rng.random() < 0.15:
            currency = rng.choice(tuple(CURRENCY_PER_USD))
        period = rng.choices(PERIODS, weights=(20, 5, 3, 10, 58, 4))[0]
        yearly_usd = rng.uniform(25_000, 250_000)
        low = yearly_usd * CURRENCY_PER_USD[currency] / PERIODS_PER_YEAR[period]
        high = low * rng.uniform(1.1, 1.6)
        digits = 2 if low < 100 else (-2 if low > 10_000 else 0)
        shape = rng.random()
        return {
            "min": None if shape < 0.1 else _round(low, digits),
            "max": None if 0.1 <= shape < 0.2 else _round(high, digits),
            "currency": currency,
            "period": period,
        }

    def _employment_type(self) -> str | None:
        rng = self.rng
        if rng.random() < 0.07:
            return None
        value = rng.choices(EMPLOYMENT_TYPES, weights=(70, 8, 12, 4, 3, 3))[0]
        return value.replace("_", "-") if rng.random() < 0.4 else value

    def _summary(self, title: str) -> str:
        return (
            f"{title} role on a team that ships often. "
            "Work with kind, experienced colleagues on problems that matter."
        )

    def _tristate(self) -> bool | None:
        roll = self.rng.random()
        return None if roll < 0.4 else roll < 0.7

    def description(self) -> str:
        """1-20 KB of paragraphs, skewed towards the short end."""
        rng = self.rng
        target = 1000 * 20 ** (rng.random() ** 3)
        count = max(3, round(target / self.pools.paragraph_bytes))
        return "\n\n".join(rng.choices(content.PARAGRAPHS, k=count))


def _round(value: float, digits: int) -> float | int:
    rounded = round(value, digits)
    return int(rounded) if digits <= 0 else rounded


class World:
    """The simulator's state. Every public method takes the lock; pages are consistent."""

    def __init__(
        self,
        *,
        seed: int,
        jobs: int,
        anchor_ms: int,
        expired_jobs: int | None = None,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        if jobs < 0:
            raise ValueError(f"jobs must be >= 0, got {jobs}")
        self.seed = seed
        self.anchor_ms = anchor_ms
        self.clock = clock
        self.lock = threading.RLock()
        self._records: dict[str, JobRecord] = {}
        self._active: list[JobRecord] = []
        self._expired: list[JobRecord] = []
        self._pools = Pools(seed)
        self._factory = JobFactory(random.Random(seed), self._pools)
        self._mutate_rng = random.Random(f"jobo-sim-mutations:{seed}")
        self._generate(jobs, max(1, jobs // 20) if expired_jobs is None else expired_jobs)

    # -- generation ---------------------------------------------------------------------------

    def _generate(self, active: int, expired: int) -> None:
        rng = self._factory.rng
        for index in range(active + expired):
            created = self.anchor_ms - rng.randrange(1, HISTORY_DAYS * DAY_MS)
            updated = created
            if rng.random() < 0.4:
                updated = created + rng.randrange(0, self.anchor_ms - created)
            job_id = self._factory.new_id()
            record = record_from_job(self._factory.job(job_id, created, updated), created, updated)
            self._records[job_id] = record
            if index < active:
                self._active.append(record)
            else:
                span = min(EXPIRED_WINDOW_DAYS * DAY_MS, self.anchor_ms - updated)
                record.expired_ms = self.anchor_ms - rng.randrange(0, max(1, span))
                self._expired.append(record)
        self._active.sort(key=scan_key)
        self._expired.sort(key=expiry_key)

    # -- queries ------------------------------------------------------------------------------

    def feed_page(
        self,
        query: FeedQuery,
        after: tuple[int, str] | None,
        batch_size: int,
        *,
        with_total: bool,
    ) -> FeedPage:
        with self.lock:
            start = 0 if after is None else bisect.bisect_right(self._active, after, key=scan_key)
            if query.unfiltered:
                chosen = self._active[start : start + batch_size + 1]
            else:
                chosen = self._first_matches(query, start, batch_size + 1)
            has_more = len(chosen) > batch_size
            chosen = chosen[:batch_size]
            total = self._count(query) if with_total else None
            last = scan_key(chosen[-1]) if chosen else after
            return FeedPage([r.encoded for r in chosen], last, has_more, total)

    def _first_matches(self, query: FeedQuery, start: int, limit: int) -> list[JobRecord]:
        out: list[JobRecord] = []
        active = self._active
        if query.only_updated_after:
            threshold = query.updated_after_ms or 0
            for index in range(start, len(active)):
                if active[index].updated_ms >= threshold:
                    out.append(active[index])
                    if len(out) == limit:
                        break
            return out
        for index in range(start, len(active)):
            if query.matches(active[index]):
                out.append(active[index])
                if len(out) == limit:
                    break
        return out

    def _count(self, query: FeedQuery) -> int:
        if query.unfiltered:
            return len(self._active)
        if query.only_updated_after:
            threshold = query.updated_after_ms or 0
            return sum(1 for r in self._active if r.updated_ms >= threshold)
        return sum(1 for r in self._active if query.matches(r))

    def expired_page(
        self, since_ms: int, after: tuple[int, str] | None, batch_size: int
    ) -> ExpiredPage:
        with self.lock:
            start_key = after if after is not None else (since_ms, "")
            start = bisect.bisect_right(self._expired, start_key, key=expiry_key)
            chosen = self._expired[start : start + batch_size + 1]
            has_more = len(chosen) > batch_size
            chosen = chosen[:batch_size]
            last = expiry_key(chosen[-1]) if chosen else after
            return ExpiredPage([r.id for r in chosen], last, has_more)

    def truth(self) -> dict[str, Any]:
        with self.lock:
            return {
                "active": {r.id: iso_ms(r.updated_ms) for r in self._active},
                "expired": sorted(r.id for r in self._expired),
            }

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {"active_jobs": len(self._active), "expired_jobs": len(self._expired)}

    def expiry_times(self) -> dict[str, int]:
        """Expired job id -> expired_at in epoch ms (an oracle for tests)."""
        with self.lock:
            return {r.id: r.expired_ms or 0 for r in self._expired}

    def active_ids(self) -> list[str]:
        with self.lock:
            return [r.id for r in self._active]

    # -- mutations ----------------------------------------------------------------------------

    def mutate(
        self, *, create: int = 0, update: int = 0, expire: int = 0, repost: int = 0, lag_minutes=0
    ) -> MutationResult:
        """Apply changes now, stamped ``lag_minutes`` in the past. Picks are disjoint."""
        with self.lock:
            stamp = self.clock() - int(lag_minutes * MINUTE_MS)
            rng = self._mutate_rng
            result = MutationResult()
            active_before = list(self._active)
            expired_before = list(self._expired)
            to_update = _pick(rng, active_before, update)
            updated_ids = {r.id for r in to_update}
            to_expire = _pick(rng, [r for r in active_before if r.id not in updated_ids], expire)
            to_repost = _pick(rng, expired_before, repost)
            for _ in range(max(0, create)):
                result.created.append(self._create(stamp))
            for record in to_update:
                result.updated.append(self._update(record, stamp))
            for record in to_expire:
                result.expired.append(self._expire(record, stamp))
            for record in to_repost:
                result.reposted.append(self._repost(record, stamp))
            return result

    def _create(self, stamp: int) -> str:
        factory = JobFactory(self._mutate_rng, self._pools)
        job_id = factory.new_id()
        while job_id in self._records:
            job_id = factory.new_id()
        record = record_from_job(factory.job(job_id, stamp, stamp), stamp, stamp)
        self._records[job_id] = record
        bisect.insort(self._active, record, key=scan_key)
        return job_id

    def _restamp(self, record: JobRecord, stamp: int, change: Callable[[dict], None]) -> None:
        job = orjson.loads(record.encoded)
        change(job)
        record.updated_ms = max(stamp, record.updated_ms + 1)
        job["updated_at"] = iso_ms(record.updated_ms)
        fresh = record_from_job(job, record.created_ms, record.updated_ms)
        record.encoded = fresh.encoded
        record.source, record.workplace = fresh.source, fresh.workplace
        record.employment, record.experience = fresh.employment, fresh.experience
        record.places = fresh.places

    def _update(self, record: JobRecord, stamp: int) -> str:
        factory = JobFactory(self._mutate_rng, self._pools)

        def change(job: dict[str, Any]) -> None:
            job["description"] = factory.description()
            job["compensation"] = factory.compensation(job["locations"])
            if factory.rng.random() < 0.3:
                job["workplace_type"] = factory.rng.choice(WORK_MODELS)
            job["title"] = job["title"].split(" (rev")[0] + f" (rev {record.updated_ms % 997})"

        self._restamp(record, stamp, change)
        return record.id

    def _expire(self, record: JobRecord, stamp: int) -> str:
        index = bisect.bisect_left(self._active, scan_key(record), key=scan_key)
        del self._active[index]
        # Events of one job are strictly ordered, as upstream: it expires after its last change
        # and a repost comes after its expiry (so a repost is always >= 2 ms newer).
        record.expired_ms = max(stamp, record.updated_ms + 1)
        bisect.insort(self._expired, record, key=expiry_key)
        return record.id

    def _repost(self, record: JobRecord, stamp: int) -> str:
        index = bisect.bisect_left(self._expired, expiry_key(record), key=expiry_key)
        del self._expired[index]
        reposted_at = max(stamp, (record.expired_ms or 0) + 1)
        record.expired_ms = None
        self._restamp(record, reposted_at, lambda job: None)
        bisect.insort(self._active, record, key=scan_key)
        return record.id


def _pick(rng: random.Random, pool: Iterable[JobRecord], count: int) -> list[JobRecord]:
    population = list(pool)
    return rng.sample(population, min(max(0, count), len(population)))
