"""The options of a search, defined once: their names, help and how raw text becomes a query.

The ``search`` command (its click options are made from :data:`SEARCH_PARAMS`) and the HTTP
service (``GET /api/search``, query parameters of the same names) both turn what they were given
into a :class:`~indexer.search.query.SearchQuery` with :func:`query_from_values`, so a search
means the same on both sides and a bad value is refused with the same message, spelled as each
side names the parameter (``--salary-min`` on the command line, ``salary_min`` over HTTP).

Every value arrives as text (a list of them: a parameter may be repeated) and is bounded here:
page sizes, numbers, distances, coordinates, how many values a filter takes and how long each
is, and the search text (length, word count, no control characters, no unbalanced quotes or
brackets: the text is matched as plain words, never parsed as query syntax, and an unbalanced
quote usually means the caller meant a syntax we do not have).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from indexer.search.errors import SearchError
from indexer.search.query import (
    DEFAULT_RADIUS,
    FACET_FIELDS,
    MAX_PAGE_SIZE,
    SORT_ORDERS,
    GeoPoint,
    SearchQuery,
    radius_in_metres,
)

Kind = Literal["text", "values", "choice", "yes_no", "point", "distance", "int", "token", "flag"]

MAX_TEXT_CHARS = 200
MAX_TEXT_WORDS = 32
MAX_VALUES = 20  # values of one filter (workplace_type=a,b,...)
MAX_VALUE_CHARS = 120
MAX_TOKEN_CHARS = 2000
MAX_RADIUS_KM = 20_000  # half the Earth's circumference: any point is within it
MAX_SALARY = 100_000_000
MAX_POSTED_WITHIN_DAYS = 3650
NO_FACETS = "none"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PAIRS = (("(", ")"), ("[", "]"), ("{", "}"))


@dataclass(frozen=True)
class SearchParam:
    """One option of a search. ``name`` is the HTTP parameter; the CLI option is ``--name``
    with dashes (``q`` is the command's TEXT argument instead)."""

    name: str
    kind: Kind
    help: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    split: bool = True  # "a,b" means a or b (company names may hold commas: no)


SEARCH_PARAMS: tuple[SearchParam, ...] = (
    SearchParam("q", "text", "Words to find (plain words; typos are forgiven)."),
    SearchParam("workplace_type", "values", "remote, hybrid, onsite (repeat or a,b)."),
    SearchParam("employment_type", "values", "full_time, contract, ..."),
    SearchParam("experience_level", "values", "intern, entry, mid, senior, lead, ..."),
    SearchParam("source", "values", "Source ATS or board, e.g. greenhouse."),
    SearchParam("country", "values", "Country code as the feed gives it, e.g. DE."),
    SearchParam("city", "values", "City; with country both must hold for one place."),
    SearchParam("company", "values", "Exact company name (repeat for several).", split=False),
    SearchParam("skill", "values", "A listed skill; repeat for all of them (any case)."),
    SearchParam("h1b", "yes_no", "Visa sponsorship: yes or no."),
    SearchParam("clearance", "yes_no", "Security clearance required: yes or no."),
    SearchParam("near_city", "text", "Search around this city (coordinates from the index)."),
    SearchParam("near", "point", "Search around these coordinates: LAT,LON."),
    SearchParam("radius", "distance", f"Distance: 50km, 30mi, 800m (default {DEFAULT_RADIUS})."),
    SearchParam(
        "salary_min", "int", "Annual USD; ranges that overlap match.", minimum=0, maximum=MAX_SALARY
    ),
    SearchParam("salary_max", "int", "Annual USD.", minimum=0, maximum=MAX_SALARY),
    SearchParam("posted_within", "int", "Days.", minimum=1, maximum=MAX_POSTED_WITHIN_DAYS),
    SearchParam("sort", "choice", "Order (default relevance).", choices=SORT_ORDERS),
    SearchParam("size", "int", "Hits per page.", minimum=1, maximum=MAX_PAGE_SIZE),
    SearchParam("after", "token", "The next-page token (next_after) of the previous page."),
    SearchParam(
        "facets",
        "values",
        f"Facets to count, of {', '.join(FACET_FIELDS)} (default all; {NO_FACETS} for none).",
    ),
    SearchParam(
        "show_duplicates",
        "flag",
        "Every board's copy of a posting (default: each posting once, other boards listed).",
    ),
)
PARAMS_BY_NAME: dict[str, SearchParam] = {param.name: param for param in SEARCH_PARAMS}

Spell = Callable[[str], str]


def http_name(name: str) -> str:
    return name


def cli_name(name: str) -> str:
    return "TEXT" if name == "q" else "--" + name.replace("_", "-")


class ParamError(SearchError):
    """A search parameter is refused; ``param`` names it as the HTTP service does."""


def _refuse(param: str, spell: Spell, problem: str) -> ParamError:
    return ParamError(f"{spell(param)} {problem}", param=param)


# --------------------------------------------------------------------------- one value


def _single(name: str, raw: Sequence[str], spell: Spell) -> str | None:
    if not raw:
        return None
    if len(raw) > 1:
        raise _refuse(name, spell, f"is given {len(raw)} times: give it once")
    return raw[0]


def check_text(name: str, text: str, spell: Spell) -> str:
    """``text`` stripped, or ParamError when it is too long or looks like query syntax."""
    if _CONTROL.search(text):
        raise _refuse(name, spell, "holds control characters: send plain words")
    if len(text) > MAX_TEXT_CHARS:
        raise _refuse(name, spell, f"is {len(text)} characters long: use at most {MAX_TEXT_CHARS}")
    words = len(text.split())
    if words > MAX_TEXT_WORDS:
        raise _refuse(name, spell, f"has {words} words: use at most {MAX_TEXT_WORDS}")
    if text.count('"') % 2:
        raise _refuse(
            name,
            spell,
            "has an unbalanced '\"': the text is matched as plain words (no "
            "phrase syntax), so drop the quote or close it",
        )
    for opening, closing in _PAIRS:
        depth = 0
        for char in text:
            depth += (char == opening) - (char == closing)
            if depth < 0:
                break
        if depth:
            raise _refuse(
                name,
                spell,
                f"has an unbalanced {opening!r}/{closing!r}: the text is matched as "
                "plain words (no grouping syntax), so drop the bracket or close it",
            )
    return text.strip()


def _values(param: SearchParam, raw: Sequence[str], spell: Spell) -> list[str]:
    parts = [p for value in raw for p in (value.split(",") if param.split else [value])]
    values = [part.strip() for part in parts if part.strip()]
    if len(values) > MAX_VALUES:
        raise _refuse(param.name, spell, f"has {len(values)} values: use at most {MAX_VALUES}")
    for value in values:
        if len(value) > MAX_VALUE_CHARS or _CONTROL.search(value):
            raise _refuse(
                param.name,
                spell,
                f"value {value[:40]!r}... is not a plausible value: use at "
                f"most {MAX_VALUE_CHARS} characters, no control characters",
            )
    return values


def _integer(param: SearchParam, text: str, spell: Spell) -> int:
    low, high = param.minimum, param.maximum
    try:
        number = int(text.strip())
    except ValueError:
        raise _refuse(param.name, spell, f"{text[:40]!r} is not a whole number") from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise _refuse(param.name, spell, f"{number} is out of range: use {low}..{high}")
    return number


def parse_point(text: str, name: str = "near", spell: Spell = http_name) -> GeoPoint:
    """``"52.52,13.40"`` -> GeoPoint; ParamError naming ``name`` when malformed or off Earth."""
    try:
        lat, lon = (float(part) for part in text.split(","))
    except ValueError:
        raise _refuse(name, spell, f"{text[:40]!r} is not LAT,LON (e.g. 52.52,13.40)") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise _refuse(name, spell, f"{text!r} is outside -90..90, -180..180")
    return GeoPoint(lat, lon)


def _distance(name: str, text: str, spell: Spell) -> str:
    try:
        metres = radius_in_metres(text)
    except SearchError:
        raise _refuse(
            name, spell, f"{text[:40]!r} is not a distance: write it like 50km, 30mi or 800m"
        ) from None
    if not 0 < metres <= MAX_RADIUS_KM * 1000:
        raise _refuse(
            name, spell, f"{text!r} is out of range: use more than 0, at most {MAX_RADIUS_KM}km"
        )
    return text.strip()


def _yes_no(name: str, text: str, spell: Spell) -> bool:
    value = text.strip().lower()
    if value in ("yes", "true", "1"):
        return True
    if value in ("no", "false", "0"):
        return False
    raise _refuse(name, spell, f"{text[:40]!r} is not yes or no")


def _convert(param: SearchParam, raw: Sequence[str], spell: Spell) -> Any:
    """The value of ``param`` from its raw texts; None when absent."""
    if param.kind == "values":
        return _values(param, raw, spell)
    text = _single(param.name, raw, spell)
    if text is None:
        return None
    if param.kind == "text":
        return check_text(param.name, text, spell) or None
    if param.kind == "int":
        return _integer(param, text, spell)
    if param.kind == "point":
        return parse_point(text, param.name, spell)
    if param.kind == "distance":
        return _distance(param.name, text, spell)
    if param.kind in ("yes_no", "flag"):
        return _yes_no(param.name, text, spell)
    if param.kind == "choice" and text not in param.choices:
        raise _refuse(
            param.name, spell, f"{text[:40]!r} is unknown: use one of {', '.join(param.choices)}"
        )
    if param.kind == "token" and len(text) > MAX_TOKEN_CHARS:
        raise _refuse(
            param.name,
            spell,
            "is not a token a search printed: pass next_after "
            "unchanged, or leave it out for page 1",
        )
    return text


# --------------------------------------------------------------------------- the query


def unknown_params(names: Sequence[str]) -> list[str]:
    return [name for name in names if name not in PARAMS_BY_NAME]


FILTER_PARAMS: tuple[str, ...] = (
    "workplace_type",
    "employment_type",
    "experience_level",
    "source",
    "country",
    "city",
    "company",
    "skill",
    "h1b",
    "clearance",
    "near_city",
    "near",
    "radius",
    "salary_min",
    "salary_max",
    "posted_within",
)


def _converted(
    raw: Mapping[str, Sequence[str]], names: Sequence[str], spell: Spell
) -> dict[str, Any]:
    return {name: _convert(PARAMS_BY_NAME[name], raw.get(name, ()), spell) for name in names}


def filters_from_values(
    raw: Mapping[str, Sequence[str]], *, spell: Spell = http_name
) -> dict[str, Any]:
    """The filter fields of a :class:`SearchQuery` (what a job must be, not how hits are
    sorted or paged) that ``raw`` asks for: what a saved search keeps."""
    got = _converted(raw, FILTER_PARAMS, spell)
    if got["near"] is not None and got["near_city"] is not None:
        raise _refuse("near", spell, f"and {spell('near_city')} are both given: give one centre")
    low, high = got["salary_min"], got["salary_max"]
    if low is not None and high is not None and low > high:
        raise _refuse(
            "salary_min", spell, f"{low} is above {spell('salary_max')} {high}: swap them"
        )
    return {
        "workplace_type": got["workplace_type"],
        "employment_type": got["employment_type"],
        "experience_level": got["experience_level"],
        "source": got["source"],
        "country": got["country"],
        "city": got["city"],
        "company": got["company"],
        "skills": got["skill"],
        "h1b_sponsor": got["h1b"],
        "clearance_required": got["clearance"],
        "near": got["near"],
        "near_city": got["near_city"],
        "radius": got["radius"] or DEFAULT_RADIUS,
        "salary_min": low,
        "salary_max": high,
        "posted_within_days": got["posted_within"],
    }


def query_from_values(
    raw: Mapping[str, Sequence[str]], *, spell: Spell = http_name, default_size: int = 20
) -> SearchQuery:
    """The :class:`SearchQuery` that ``raw`` (parameter name -> its texts) asks for.

    Raises :class:`ParamError` naming the first refused parameter (spelled by ``spell``) and the
    fix. Unknown names are the caller's to refuse (:func:`unknown_params`).
    """
    filters = filters_from_values(raw, spell=spell)
    return query_with_filters(raw, filters, spell=spell, default_size=default_size)


def query_with_filters(
    raw: Mapping[str, Sequence[str]],
    filters: Mapping[str, Any],
    *,
    spell: Spell = http_name,
    default_size: int = 20,
) -> SearchQuery:
    """The query of ``filters`` (from :func:`filters_from_values`) with the text, sort, page and
    facets that ``raw`` asks for."""
    others = [p.name for p in SEARCH_PARAMS if p.name not in FILTER_PARAMS]
    got = _converted(raw, others, spell)
    sort = got["sort"] or "relevance"
    if sort == "distance" and filters["near"] is None and filters["near_city"] is None:
        raise _refuse(
            "sort", spell, f"distance needs a centre: give {spell('near')} or {spell('near_city')}"
        )
    return SearchQuery(
        text=got["q"],
        **filters,
        sort=sort,
        size=default_size if got["size"] is None else got["size"],
        search_after=got["after"],
        facets=_facets(got["facets"], spell),
        collapse=not got["show_duplicates"],
    )


def _facets(names: list[str], spell: Spell) -> tuple[str, ...]:
    if not names:
        return tuple(FACET_FIELDS)
    if names == [NO_FACETS]:
        return ()
    unknown = [name for name in names if name not in FACET_FIELDS]
    if unknown:
        raise _refuse(
            "facets",
            spell,
            f"{unknown[0]!r} is unknown: use some of {', '.join(FACET_FIELDS)} or {NO_FACETS}",
        )
    return tuple(dict.fromkeys(names))
