"""How the simulated world makes one job: a seeded factory over pre-built pools.

Titles belong to role families (``content.FAMILY_SKILLS``) and a job's skills come from its
family, as in real postings. :meth:`JobFactory.elsewhere` makes the same posting as another board
shows it (the real feed aggregates many boards): another id, source and URLs; the same company,
title and places; near-identical text.
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

from indexer.simulator import content

DAY_MS = 86_400_000
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


class Pools:
    """Pre-built variants (companies, qualification sets, bullets) so generation stays fast.

    Companies post many jobs each, as in the real feed; every pool is drawn from its own seeded
    generator so the world stays deterministic.
    """

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"jobo-sim-pools:{seed}")
        self.cities = content.cities()
        self.companies = [_company(rng) for _ in range(2000)]
        self.quals = {
            family: [
                {"must_have": _quals(rng, skills), "preferred": _quals(rng, skills)}
                for _ in range(32)
            ]
            for family, skills in content.FAMILY_SKILLS.items()
        }
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


def _quals(rng: random.Random, family_skills: tuple[str, ...]) -> dict[str, Any]:
    hard = rng.sample(family_skills, 3)
    if rng.random() < 0.2:  # now and then a skill from outside the family
        hard[-1] = rng.choice(content.SKILLS_HARD)
    skills = [{"name": s, "type": "hard"} for s in dict.fromkeys(hard)]
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
        qualifications = rng.choice(self.pools.quals[content.family_of(normalized)])
        posted_ms = None if rng.random() < 0.1 else created_ms - rng.randrange(0, 10 * DAY_MS)
        listing_url = f"https://jobs.example.com/{job_id}"
        job: dict[str, Any] = {
            "id": job_id,
            "title": title,
            "normalized_title": normalized,
            "company": rng.choice(self.pools.companies),
            "description": self.description(qualifications),
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
            "qualifications": qualifications,
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

    def description(self, qualifications: dict[str, Any] | None = None) -> str:
        """1-20 KB of paragraphs, skewed towards the short end; half name the job's skills."""
        rng = self.rng
        target = 1000 * 20 ** (rng.random() ** 3)
        count = max(3, round(target / self.pools.paragraph_bytes))
        paragraphs = rng.choices(content.PARAGRAPHS, k=count)
        if qualifications and rng.random() < 0.5:
            names = [
                s["name"] for s in qualifications["must_have"]["skills"] if s["type"] == "hard"
            ]
            paragraphs.insert(1, f"Day to day you will work with {', '.join(names)}.")
        return "\n\n".join(paragraphs)

    def elsewhere(
        self, original: dict[str, Any], job_id: str, created_ms: int, updated_ms: int
    ) -> dict[str, Any]:
        """``original`` as another board lists it: new id, source and URLs, near-identical text."""
        rng = self.rng
        job = dict(original)
        job["id"] = job_id
        job["source"] = rng.choice([s for s in content.SOURCES if s != original["source"]])
        job["listing_url"] = f"https://{job['source']}.example.com/jobs/{job_id}"
        job["apply_url"] = f"{job['listing_url']}/apply"
        footer = f"Found on {job['source']}: apply through the link below."
        job["description"] = f"{original['description']}\n\n{footer}"
        posted_ms = created_ms - rng.randrange(0, 3 * DAY_MS)
        job["created_at"], job["updated_at"] = iso_ms(created_ms), iso_ms(updated_ms)
        job["date_posted"] = iso_ms(posted_ms)
        job["_posted_ms"] = posted_ms
        return job


def _round(value: float, digits: int) -> float | int:
    rounded = round(value, digits)
    return int(rounded) if digits <= 0 else rounded
