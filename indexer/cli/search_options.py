"""The filter options of a job search, shared by every command that takes a search.

``search`` and ``alerts add`` (and anything else that describes a search) take the same options,
turned into the same :class:`~indexer.search.SearchQuery` fields, so a saved search is exactly the
search a user tried. Decorate a command with :func:`search_filter_options`: its filter options
arrive as one keyword argument, ``filters`` (a dict of ``SearchQuery`` fields), instead of one
argument per option.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from indexer.search import GeoPoint

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS: tuple[Callable[[F], F], ...] = (
    click.option("--workplace-type", multiple=True, help="remote, hybrid, onsite (repeat or a,b)."),
    click.option("--employment-type", multiple=True, help="full_time, contract, ..."),
    click.option("--experience-level", multiple=True, help="intern, entry, mid, senior, lead, ..."),
    click.option("--source", multiple=True, help="Source ATS or board, e.g. greenhouse."),
    click.option("--country", multiple=True, help="Country code as the feed gives it, e.g. DE."),
    click.option(
        "--city", multiple=True, help="City; with --country both must hold for one place."
    ),
    click.option("--company", multiple=True, help="Exact company name."),
    click.option(
        "--skill",
        "skills",
        multiple=True,
        help="A listed skill; repeat for all of them (any case).",
    ),
    click.option("--h1b", type=click.Choice(["yes", "no"]), default=None, help="Visa sponsorship."),
    click.option("--clearance", type=click.Choice(["yes", "no"]), default=None),
    click.option(
        "--near-city", default=None, help="Search around this city (coordinates from index)."
    ),
    click.option(
        "--near", default=None, metavar="LAT,LON", help="Search around these coordinates."
    ),
    click.option("--radius", default="50km", show_default=True, help="Distance: 50km, 30mi, 800m."),
    click.option(
        "--salary-min", type=int, default=None, help="Annual USD; ranges that overlap match."
    ),
    click.option("--salary-max", type=int, default=None),
    click.option("--posted-within", type=click.IntRange(1), default=None, help="Days."),
)
_PARAMS = (
    "workplace_type",
    "employment_type",
    "experience_level",
    "source",
    "country",
    "city",
    "company",
    "skills",
    "h1b",
    "clearance",
    "near_city",
    "near",
    "radius",
    "salary_min",
    "salary_max",
    "posted_within",
)


def search_filter_options(func: F) -> F:
    """Add the filter options to a click command; it receives them as ``filters=dict``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        raw = {name: kwargs.pop(name) for name in _PARAMS}
        return func(*args, filters=filters_from(**raw), **kwargs)

    command: Any = wrapper
    for option in reversed(_OPTIONS):
        command = option(command)
    return command  # type: ignore[no-any-return]


def filters_from(
    *,
    workplace_type: tuple[str, ...] = (),
    employment_type: tuple[str, ...] = (),
    experience_level: tuple[str, ...] = (),
    source: tuple[str, ...] = (),
    country: tuple[str, ...] = (),
    city: tuple[str, ...] = (),
    company: tuple[str, ...] = (),
    skills: tuple[str, ...] = (),
    h1b: str | None = None,
    clearance: str | None = None,
    near_city: str | None = None,
    near: str | None = None,
    radius: str = "50km",
    salary_min: int | None = None,
    salary_max: int | None = None,
    posted_within: int | None = None,
) -> dict[str, Any]:
    """The option values as ``SearchQuery`` keyword arguments (lists split, flags as booleans)."""
    return {
        "workplace_type": split_values(workplace_type),
        "employment_type": split_values(employment_type),
        "experience_level": split_values(experience_level),
        "source": split_values(source),
        "country": split_values(country),
        "city": split_values(city),
        "company": list(company),
        "skills": split_values(skills),
        "h1b_sponsor": _flag(h1b),
        "clearance_required": _flag(clearance),
        "near": parse_point(near),
        "near_city": near_city,
        "radius": radius,
        "salary_min": salary_min,
        "salary_max": salary_max,
        "posted_within_days": posted_within,
    }


def split_values(values: tuple[str, ...]) -> list[str]:
    """``--country DE --country FR`` and ``--country DE,FR`` both mean DE or FR."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _flag(value: str | None) -> bool | None:
    return None if value is None else value == "yes"


def parse_point(text: str | None) -> GeoPoint | None:
    """``"52.52,13.40"`` -> a GeoPoint; a click BadParameter naming ``--near`` otherwise."""
    if text is None:
        return None
    try:
        lat, lon = (float(part) for part in text.split(","))
    except ValueError:
        message = f"{text!r} is not LAT,LON (e.g. 52.52,13.40)"
        raise click.BadParameter(message, param_hint="--near") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise click.BadParameter(f"{text!r} is outside -90..90, -180..180", param_hint="--near")
    return GeoPoint(lat, lon)
