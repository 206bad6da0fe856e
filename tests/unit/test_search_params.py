"""The one definition of a search's options: the same text gives the same query on both sides,
and a refusal names the parameter as each side spells it."""

from __future__ import annotations

import pytest

from indexer.search import GeoPoint, SearchQuery, build_search_body
from indexer.search.params import (
    SEARCH_PARAMS,
    ParamError,
    cli_name,
    http_name,
    query_from_values,
    unknown_params,
)


def test_texts_become_the_query_the_builder_reads() -> None:
    query = query_from_values(
        {
            "q": ["  data engineer "],
            "workplace_type": ["remote,hybrid"],
            "country": ["DE", "FR"],
            "company": ["Acme, Inc."],
            "skill": ["Python"],
            "h1b": ["yes"],
            "clearance": ["false"],
            "near": ["52.52,13.40"],
            "radius": ["30mi"],
            "salary_min": ["80000"],
            "posted_within": ["14"],
            "sort": ["distance"],
            "size": ["5"],
            "facets": ["country,city,country"],
            "show_duplicates": ["yes"],
        }
    )
    assert query == SearchQuery(
        text="data engineer",
        workplace_type=["remote", "hybrid"],
        employment_type=[],
        experience_level=[],
        source=[],
        country=["DE", "FR"],
        city=[],
        company=["Acme, Inc."],  # a company name keeps its comma
        skills=["Python"],
        h1b_sponsor=True,
        clearance_required=False,
        near=GeoPoint(52.52, 13.40),
        radius="30mi",
        salary_min=80000,
        posted_within_days=14,
        sort="distance",
        size=5,
        facets=("country", "city"),
        collapse=False,
    )
    build_search_body(query)  # the builder takes it as is


def test_defaults() -> None:
    query = query_from_values({}, default_size=10)
    assert build_search_body(query) == build_search_body(SearchQuery(size=10))
    assert (query.size, query.sort, query.collapse, query.radius) == (10, "relevance", True, "50km")
    assert query_from_values({"facets": ["none"]}).facets == ()


@pytest.mark.parametrize(
    ("raw", "param", "cli_words"),
    [
        ({"size": ["0"]}, "size", "--size 0 is out of range"),
        ({"near": ["x"]}, "near", "--near 'x' is not LAT,LON"),
        ({"radius": ["far"]}, "radius", "--radius 'far' is not a distance"),
        ({"sort": ["best"]}, "sort", "--sort 'best' is unknown"),
        ({"sort": ["distance"]}, "sort", "give --near or --near-city"),
        ({"q": ['"open']}, "q", "TEXT has an unbalanced"),
        ({"salary_min": ["9"], "salary_max": ["1"]}, "salary_min", "above --salary-max 1"),
        ({"posted_within": ["x"]}, "posted_within", "--posted-within 'x' is not a whole"),
        ({"facets": ["nope"]}, "facets", "--facets 'nope' is unknown"),
        ({"sort": ["recency", "salary"]}, "sort", "--sort is given 2 times"),
    ],
)
def test_a_refusal_names_the_parameter_as_each_side_spells_it(
    raw: dict[str, list[str]], param: str, cli_words: str
) -> None:
    with pytest.raises(ParamError) as on_cli:
        query_from_values(raw, spell=cli_name)
    assert on_cli.value.param == param
    assert cli_words in str(on_cli.value)
    with pytest.raises(ParamError) as over_http:
        query_from_values(raw, spell=http_name)
    assert over_http.value.param == param
    assert str(over_http.value).startswith(param)


def test_unknown_names_and_every_parameter_named_once() -> None:
    assert unknown_params(["q", "qq", "size"]) == ["qq"]
    names = [param.name for param in SEARCH_PARAMS]
    assert len(names) == len(set(names))
    # every field a search can ask for is reachable from the parameters
    assert {"text", "skills", "h1b_sponsor", "search_after", "collapse"} <= set(
        SearchQuery.__dataclass_fields__
    )
