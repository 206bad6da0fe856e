"""``search``, ``suggest``, ``stats`` and ``dashboards import|check``: reading the index."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from opensearchpy import OpenSearch
from opensearchpy.exceptions import NotFoundError

from indexer.cli import main
from indexer.cli.failures import fail, or_exit
from indexer.cli.options import opensearch_client, opensearch_options
from indexer.cli.search_options import raw_values, search_filter_options, search_page_options
from indexer.cli.text import fit, plural
from indexer.dashboards import (
    DEFAULT_BASE,
    check_visualisations,
    import_saved_objects,
    load_saved_objects,
    rewrite_for_base,
    to_ndjson,
    validate_saved_objects,
)
from indexer.errors import ExitCode, UsageError
from indexer.search import SearchPage, build_search_body, resolved, search
from indexer.search import suggest as suggest_titles
from indexer.search.params import cli_name, query_with_filters
from indexer.stats import collect_stats, render_stats
from indexer.store.connection import redact_url
from indexer.store.schema import index_names

T = TypeVar("T")
CLI_PAGE_SIZE = 10

_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


def _run(action: Callable[[], T]) -> T:
    """Run ``action``; a failure becomes one clear line and its exit code (``cli.failures``)."""

    def guarded() -> T:
        try:
            return action()
        except NotFoundError as error:
            raise UsageError(
                f"OpenSearch has no index {error.info.get('error', {}).get('index', '')!r} "
                f"({error.error}): create it with `jobo-indexer init --index BASE` and load jobs "
                "with a backfill, or pass the --index base you used"
            ) from error

    return or_exit(guarded)


def _client(opensearch_url: str) -> OpenSearch:
    return _run(lambda: opensearch_client(opensearch_url))


# --------------------------------------------------------------------------- search


def _money(value: Any) -> str:
    return f"{value / 1000:.0f}k" if isinstance(value, int | float) else "?"


def _salary_text(hit: dict[str, Any]) -> str:
    salary = hit.get("salary") or {}
    low, high = salary.get("usd_min"), salary.get("usd_max")
    if low is None and high is None:
        return "-"
    if low is None:
        return f"up to ${_money(high)}"
    if high is None:
        return f"from ${_money(low)}"
    return f"${_money(low)}-{_money(high)}"


def _place_text(hit: dict[str, Any]) -> str:
    places = [
        ", ".join(part for part in (loc.get("city"), loc.get("country")) if part)
        for loc in hit["locations"]
    ]
    text = "; ".join(place for place in places if place) or "-"
    if "distance_km" in hit:
        text += f" ({hit['distance_km']:.0f} km)"
    return text


def _headline(page: SearchPage) -> str:
    line = plural(page.total, "job")
    if page.postings is not None and page.postings != page.total:
        line += f" ({page.postings} postings; --show-duplicates lists every board's copy)"
    if page.did_you_mean:
        line += f"; did you mean: {page.did_you_mean!r}?"
    return line


def render_page(page: SearchPage) -> list[str]:
    lines = [_headline(page)]
    for hit in page.hits:
        posted = (hit.get("date_posted") or hit.get("updated_at") or "")[:10]
        lines.append(
            f"{fit(hit['title'], 44)}  {fit(hit['company'], 24)}  "
            f"{fit(_place_text(hit), 30)}  {_salary_text(hit):>13}  "
            f"{hit.get('workplace_type') or '-':<7}  {posted}  {hit['id']}"
        )
        if hit.get("other_sources"):
            boards = ", ".join(other["source"] or "?" for other in hit["other_sources"])
            lines.append(f"{'':<4}also on {hit.get('source') or '?'} and {boards}")
    for name, buckets in page.facets.items():
        if buckets:
            shown = ", ".join(f"{b.label or b.value} ({b.count})" for b in buckets[:8])
            lines.append(f"  {name}: {shown}")
    if page.next_after:
        lines.append(f"next page: --after {page.next_after}")
    return lines


@main.command(name="search")
@click.argument("text", required=False)
@opensearch_options
@search_filter_options
@search_page_options({"size": str(CLI_PAGE_SIZE)})
@click.option(
    "--show-query", is_flag=True, help="Print the OpenSearch request body (JSON); do not search."
)
@_json_option
def search_command(
    text: str | None,
    opensearch_url: str,
    base: str,
    filters: dict[str, Any],
    show_query: bool,
    as_json: bool,
    **page: Any,
) -> None:
    """Search active jobs: full text, filters, radius, salary overlap, facets, paging."""
    raw = raw_values({"q": text, **page})
    query = _run(
        lambda: query_with_filters(raw, filters, spell=cli_name, default_size=CLI_PAGE_SIZE)
    )
    alias = _run(lambda: index_names(base)).read_alias
    if show_query:
        # Only a --near-city needs OpenSearch (its coordinates); the search itself is not sent.
        if query.near_city:
            query = _run(lambda: resolved(_client(opensearch_url), alias, query))
        body = _run(lambda: build_search_body(query))
        click.echo(json.dumps(body, ensure_ascii=False, indent=None if as_json else 2))
        return
    client = _client(opensearch_url)
    page = _run(lambda: search(client, alias, query))
    if as_json:
        click.echo(json.dumps(page.as_dict(), ensure_ascii=False))
    else:
        for line in render_page(page):
            click.echo(line)


# --------------------------------------------------------------------------- suggest, stats


@main.command(name="suggest")
@click.argument("prefix")
@opensearch_options
@click.option("--size", type=click.IntRange(1, 50), default=10, show_default=True)
@_json_option
def suggest_command(prefix: str, opensearch_url: str, base: str, size: int, as_json: bool) -> None:
    """Autocomplete job titles and company names (case and accents ignored)."""
    client = _client(opensearch_url)
    alias = _run(lambda: index_names(base)).read_alias
    found = _run(lambda: suggest_titles(client, alias, prefix, size))
    if as_json:
        rows = [{"text": s.text, "kind": s.kind, "count": s.count} for s in found]
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not found:
        click.echo(f"no title or company starts with {prefix!r} in {alias!r}", err=True)
    for item in found:
        click.echo(f"{item.text}  ({item.kind}, {item.count})")


@main.command(name="stats")
@opensearch_options
@click.option("--top", type=click.IntRange(1, 500), default=15, show_default=True)
@_json_option
def stats_command(opensearch_url: str, base: str, top: int, as_json: bool) -> None:
    """Active/expired counts, breakdowns, salary percentiles, freshness, dead letters."""
    client = _client(opensearch_url)
    found = _run(lambda: collect_stats(client, base, top=top))
    if as_json:
        click.echo(json.dumps(found.as_dict(), ensure_ascii=False))
        return
    for line in render_stats(found):
        click.echo(line)


# --------------------------------------------------------------------------- dashboards


@main.group(name="dashboards")
def dashboards_group() -> None:
    """OpenSearch Dashboards saved objects (index patterns, visualisations, a dashboard)."""


_file_option = click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="NDJSON of saved objects (default: the shipped dashboards/jobo-indexer.ndjson).",
)


def _objects_for(base: str, path: Path | None) -> list[dict[str, Any]]:
    objects = _run(lambda: rewrite_for_base(load_saved_objects(path), base))
    problems = validate_saved_objects(objects)
    if problems:
        fail(UsageError("saved objects are inconsistent: " + "; ".join(problems[:5])))
    return objects


@dashboards_group.command(name="import")
@click.option(
    "--url",
    envvar="OSD_URL",
    default="http://localhost:5601",
    show_default=True,
    show_envvar=True,
    help="OpenSearch Dashboards base URL.",
)
@click.option("--index", "base", default=DEFAULT_BASE, show_default=True, help="Index base name.")
@click.option("--user", envvar="OSD_USERNAME", show_envvar=True, default=None)
@click.option("--password", envvar="OSD_PASSWORD", show_envvar=True, default=None)
@click.option("--no-overwrite", is_flag=True, help="Keep objects that already exist.")
@click.option("--insecure", is_flag=True, help="Do not verify the TLS certificate.")
@click.option(
    "--workspace",
    envvar="OSD_WORKSPACE",
    show_envvar=True,
    default=None,
    help="Workspace id to import into (where workspaces are enabled, objects in none are hidden).",
)
@_file_option
@_json_option
def dashboards_import(
    url: str,
    base: str,
    user: str | None,
    password: str | None,
    no_overwrite: bool,
    insecure: bool,
    workspace: str | None,
    path: Path | None,
    as_json: bool,
) -> None:
    """Import the saved objects into OpenSearch Dashboards (overwrite by default)."""
    objects = _objects_for(base, path)
    result = _run(
        lambda: import_saved_objects(
            url,
            to_ndjson(objects),
            username=user,
            password=password,
            overwrite=not no_overwrite,
            verify=not insecure,
            workspace=workspace,
        )
    )
    if as_json:
        click.echo(json.dumps(result.as_dict()))
    else:
        click.echo(
            f"imported {result.success_count} of {len(objects)} saved objects into "
            f"{redact_url(url)}"
        )
        for line in result.errors:
            click.echo(f"  error: {line}", err=True)
    if not result.success:
        sys.exit(int(ExitCode.FAILED))


@dashboards_group.command(name="check")
@opensearch_options
@_file_option
@_json_option
def dashboards_check(opensearch_url: str, base: str, path: Path | None, as_json: bool) -> None:
    """Run every visualisation's aggregation on OpenSearch; report missing fields or no data."""
    objects = _objects_for(base, path)
    client = _client(opensearch_url)
    checks = _run(lambda: check_visualisations(client, objects))
    if as_json:
        rows = [
            {"id": c.id, "title": c.title, "index": c.index, "buckets": c.buckets, "ok": c.ok}
            | {"problems": c.problems}
            for c in checks
        ]
        click.echo(json.dumps(rows))
    else:
        for check in checks:
            state = "ok" if check.ok else "FAIL"
            detail = plural(check.buckets, "bucket") if check.ok else "; ".join(check.problems)
            click.echo(f"{state:<4}  {check.title}  [{check.index}]  {detail}")
    if not all(check.ok for check in checks):
        sys.exit(int(ExitCode.FAILED))
