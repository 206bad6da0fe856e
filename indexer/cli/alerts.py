"""``alerts add|list|remove|matches|deliver`` and ``changes``: saved searches and what changed."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from indexer.alerts import DeliveryConfig, deliver, list_matches, load_all, match_counts, remove
from indexer.alerts import save as save_search
from indexer.alerts.delivery import SECRET_ENV, URL_ENV
from indexer.cli import main
from indexer.cli.failures import or_exit
from indexer.cli.options import opensearch_client, opensearch_options
from indexer.cli.search_options import search_filter_options
from indexer.cli.text import plural
from indexer.durations import parse_duration
from indexer.errors import UsageError
from indexer.search import SearchQuery
from indexer.store.changes import KINDS, ChangeStream
from indexer.store.schema import index_names
from indexer.timestamps import format_timestamp, parse_timestamp, utcnow

_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


def _since(value: str | None, option: str = "--since") -> datetime | None:
    """An ISO 8601 time (``2026-12-01T10:00:00Z``) or a duration back from now (``2h``, ``1d``)."""
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        pass
    try:
        return utcnow() - parse_duration(value)
    except (ValueError, UsageError):
        raise click.BadParameter(
            f"{value!r} is neither an ISO time (2026-12-01T10:00:00Z) nor a duration (30m, 2h, 7d)",
            param_hint=option,
        ) from None


def _echo(data: Any, as_json: bool, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        for line in lines:
            click.echo(line)


@main.group(name="alerts")
def alerts_group() -> None:
    """Saved searches matched against every job a run writes; their matches and webhooks."""


@alerts_group.command(name="add")
@click.argument("name")
@click.argument("text", required=False)
@opensearch_options
@search_filter_options
@click.option(
    "--webhook",
    default=None,
    help="POST this search's matches here (signed with JOBO_ALERTS_WEBHOOK_SECRET).",
)
@_json_option
def alerts_add(
    name: str,
    text: str | None,
    opensearch_url: str,
    base: str,
    filters: dict[str, Any],
    webhook: str | None,
    as_json: bool,
) -> None:
    """Save (create or replace) a search: the search command's text and filters."""
    names = or_exit(lambda: index_names(base))
    client = or_exit(lambda: opensearch_client(opensearch_url))
    query = SearchQuery(text=text, **filters)
    saved, replaced = or_exit(
        lambda: save_search(client, names, name, query, webhook=webhook), kind="alerts"
    )
    data = {**saved.as_dict(), "replaced": replaced}
    verb = "replaced" if replaced else "saved"
    _echo(data, as_json, [f"{verb} {name!r} at {saved.saved_at}: {json.dumps(saved.spec())}"])


@alerts_group.command(name="list")
@opensearch_options
@_json_option
def alerts_list(opensearch_url: str, base: str, as_json: bool) -> None:
    """The saved searches, with their match and delivery counts."""
    names = or_exit(lambda: index_names(base))
    client = or_exit(lambda: opensearch_client(opensearch_url))
    searches = or_exit(lambda: load_all(client, names), kind="alerts")
    counts = or_exit(lambda: match_counts(client, names), kind="alerts")
    rows = [
        {**s.as_dict(), **counts.get(s.name, {"total": 0, "undelivered": 0, "failing": 0})}
        for s in searches
    ]
    lines = [
        f"{row['name']}  saved {row['saved_at']}  {plural(row['total'], 'match', 'matches')}"
        + (f", {row['undelivered']} undelivered" if row["webhook"] else "")
        + (f" ({row['failing']} failing)" if row["failing"] else "")
        + f"  {json.dumps(row['search'])}"
        for row in rows
    ] or [f"no saved search in {names.saved_searches!r}"]
    _echo({"searches": rows}, as_json, lines)


@alerts_group.command(name="remove")
@click.argument("name")
@opensearch_options
@_json_option
def alerts_remove(name: str, opensearch_url: str, base: str, as_json: bool) -> None:
    """Delete a saved search and its matches."""
    names = or_exit(lambda: index_names(base))
    client = or_exit(lambda: opensearch_client(opensearch_url))
    gone = or_exit(lambda: remove(client, names, name), kind="alerts")
    data = {"name": name, "removed": True, "matches_removed": gone}
    _echo(data, as_json, [f"removed {name!r} and {plural(gone, 'match', 'matches')}"])


@alerts_group.command(name="matches")
@click.argument("name")
@opensearch_options
@click.option("--since", default=None, help="ISO time or a duration back (2h, 7d).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@_json_option
def alerts_matches(
    name: str, opensearch_url: str, base: str, since: str | None, limit: int, as_json: bool
) -> None:
    """The jobs that matched a saved search, newest first."""
    after = _since(since)
    names = or_exit(lambda: index_names(base))
    client = or_exit(lambda: opensearch_client(opensearch_url))
    found = or_exit(lambda: list_matches(client, names, name, since=after, limit=limit))
    lines = [
        f"{m['matched_at']}  {m['job_id']}  {m.get('title') or '-'}  ({m.get('company') or '-'})"
        + ("  delivered" if (m.get("delivery") or {}).get("delivered_at") else "")
        for m in found
    ] or [f"no match for {name!r}" + (f" since {format_timestamp(after)}" if after else "")]
    _echo({"search": name, "matches": found}, as_json, lines)


@alerts_group.command(name="deliver")
@opensearch_options
@click.option(
    "--webhook-url",
    envvar=URL_ENV,
    show_envvar=True,
    default=None,
    help="Where searches without their own --webhook deliver.",
)
@click.option(
    "--webhook-secret-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help=f"File holding the signing secret (else {SECRET_ENV}).",
)
@_json_option
def alerts_deliver(
    opensearch_url: str,
    base: str,
    webhook_url: str | None,
    webhook_secret_file: Path | None,
    as_json: bool,
) -> None:
    """POST the undelivered matches to their webhooks now (runs do it after their work)."""
    names = or_exit(lambda: index_names(base))
    client = or_exit(lambda: opensearch_client(opensearch_url))
    config = delivery_config(webhook_url, webhook_secret_file)
    report = or_exit(lambda: deliver(client, names, config), kind="alerts")
    lines = [f"delivered {report.delivered}, failed {report.failed}"] + [
        f"  {search}: {error}" for search, error in report.errors.items()
    ]
    _echo(report.as_dict(), as_json, lines)


def delivery_config(url: str | None, secret_file: Path | None) -> DeliveryConfig:
    """The webhook settings of the options and the environment (the secret read here only)."""
    config = DeliveryConfig.from_environment(url)
    if secret_file is not None:
        config.secret = secret_file.read_text(encoding="utf-8").strip() or None
        config.__post_init__()  # registered for redaction like the environment's
    return config


@main.command(name="changes")
@opensearch_options
@click.option("--since", default=None, help="ISO time or a duration back (2h, 7d).")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(KINDS), help="Only these kinds.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=1000, show_default=True)
@_json_option
def changes_command(
    opensearch_url: str,
    base: str,
    since: str | None,
    kinds: tuple[str, ...],
    limit: int,
    as_json: bool,
) -> None:
    """What the runs created, updated, expired and deleted, oldest first."""
    after = _since(since)
    names = or_exit(lambda: index_names(base))
    client = or_exit(lambda: opensearch_client(opensearch_url))
    stream = ChangeStream(client, names.changes)
    found = or_exit(lambda: stream.read(after, limit=limit, kinds=kinds))
    data = {"changes": found, "next_since": found[-1]["at"] if found else None}
    lines = [
        f"{c['at']}  {c['kind']:<8} {c['job_id']}  v{c['version']}  {c.get('run_id') or '-'}"
        for c in found
    ] or ["no change" + (f" since {format_timestamp(after)}" if after else "")]
    _echo(data, as_json, lines)
