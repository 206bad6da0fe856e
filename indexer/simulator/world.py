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
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from indexer.simulator.jobs import DAY_MS, WORK_MODELS, JobFactory, Pools, iso_ms

MINUTE_MS = 60_000
HISTORY_DAYS = 60
EXPIRED_WINDOW_DAYS = 10
# About one job in twelve repeats a posting made shortly before on another board (2-3 sources).
DUPLICATE_SHARE = 0.08
DUPLICATE_LOOKBACK = 64
MAX_COPIES = 2


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
    duplicate_of: str | None = None  # the id of the posting this one repeats on another board


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
        originals: deque[JobRecord] = deque(maxlen=DUPLICATE_LOOKBACK)
        copies: dict[str, int] = {}
        for index in range(active + expired):
            created = self.anchor_ms - rng.randrange(1, HISTORY_DAYS * DAY_MS)
            updated = created
            if rng.random() < 0.4:
                updated = created + rng.randrange(0, self.anchor_ms - created)
            job_id = self._factory.new_id()
            original = (
                rng.choice(originals) if originals and rng.random() < DUPLICATE_SHARE else None
            )
            if original is None:
                job = self._factory.job(job_id, created, updated)
            else:
                job = self._factory.elsewhere(
                    orjson.loads(original.encoded), job_id, created, updated
                )
            record = record_from_job(job, created, updated)
            if original is None:
                originals.append(record)
            else:
                record.duplicate_of = original.id
                copies[original.id] = copies.get(original.id, 0) + 1
                if copies[original.id] == MAX_COPIES:  # 2-3 boards per posting
                    originals.remove(original)
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

    def duplicates(self) -> dict[str, str]:
        """Job id -> the id of the posting it repeats on another board (an oracle for tests)."""
        with self.lock:
            return {r.id: r.duplicate_of for r in self._records.values() if r.duplicate_of}

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
