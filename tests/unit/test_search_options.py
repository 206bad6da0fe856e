"""The shared search filter options and the one definition of what a search matches."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from indexer.cli.search_options import filters_from, search_filter_options
from indexer.search import GeoPoint, SearchQuery, build_search_body, match_query


def test_options_become_search_query_fields() -> None:
    seen: dict[str, object] = {}

    @click.command()
    @search_filter_options
    def command(filters: dict[str, object]) -> None:
        seen.update(filters)

    result = CliRunner().invoke(
        command,
        [
            "--country",
            "DE,FR",
            "--country",
            "US",
            "--h1b",
            "yes",
            "--near",
            "52.5,13.4",
            "--skill",
            "python",
            "--posted-within",
            "7",
            "--radius",
            "10mi",
        ],
    )
    assert result.exit_code == 0, result.output
    query = SearchQuery(**seen)  # type: ignore[arg-type]
    assert query.country == ["DE", "FR", "US"]
    assert query.h1b_sponsor is True
    assert query.clearance_required is None
    assert query.near == GeoPoint(52.5, 13.4)
    assert query.skills == ["python"]
    assert query.posted_within_days == 7
    assert query.radius == "10mi"


def test_a_bad_point_names_the_option() -> None:
    with pytest.raises(click.BadParameter, match="LAT,LON"):
        filters_from(near="north")


def test_the_search_and_match_query_are_one_definition() -> None:
    plain = SearchQuery(country=["DE"], salary_min=50_000)
    assert build_search_body(plain)["query"] == match_query(plain)
    texted = SearchQuery(text="python engineer", workplace_type=["remote"])
    scored = build_search_body(texted)["query"]["function_score"]["query"]
    assert scored == match_query(texted)
    assert match_query(texted)["bool"]["must"]
    assert match_query(texted)["bool"]["filter"]
