"""``jobo-indexer init`` and ``jobo-indexer migrate``: create and evolve the index layout."""

from __future__ import annotations

import json
from typing import Any

import click

from indexer.cli import main
from indexer.cli.failures import or_exit
from indexer.cli.options import opensearch_client, opensearch_connection_options
from indexer.store.migrate import migrate
from indexer.store.schema import init_index

_base_option = click.option(
    "--index",
    "base",
    default="jobs",
    show_default=True,
    help="Base name: aliases <base>, <base>-all, <base>-write; indices <base>-v<N>-<time>.",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")


def _emit(summary: dict[str, Any], lines: list[str], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
    else:
        for line in lines:
            click.echo(line)


@main.command()
@opensearch_connection_options
@_base_option
@_json_option
def init(opensearch_url: str, base: str, as_json: bool) -> None:
    """Create the index template, the first index, its aliases and the bookkeeping indices.

    Idempotent: a second run changes nothing and says so. When the live mapping differs from
    mappings/, says so and how to migrate (exit code 0: the layout is usable).
    """
    report = or_exit(lambda: init_index(opensearch_client(opensearch_url), base))
    lines = list(report.actions)
    if not report.changed:
        lines.append(f"nothing to change: {base} is initialised (live index {report.live_index})")
    lines.extend(f"drift: {note}" for note in report.drift)
    _emit(report.as_dict(), lines, as_json)


@main.command(name="migrate")
@opensearch_connection_options
@_base_option
@click.option("--delete-old", is_flag=True, help="Delete the previous index after the flip.")
@_json_option
def migrate_command(opensearch_url: str, base: str, delete_old: bool, as_json: bool) -> None:
    """Rebuild the job index from mappings/ and flip the aliases atomically.

    Documents are copied with external versions (an older copy never overwrites a newer write),
    then the write alias moves to the new index, what reached the old index meanwhile is copied,
    the old index is sealed against writes, and readers switch in one atomic alias change. The
    old index is kept (read-only) unless --delete-old.
    """
    progress = None if as_json else click.echo
    report = or_exit(
        lambda: migrate(
            opensearch_client(opensearch_url), base, delete_old=delete_old, progress=progress
        )
    )
    kept = "deleted" if report.deleted_old else "kept (delete it with --delete-old later)"
    lines = [
        f"copied {report.copied} documents ({report.kept_newer} already newer in the new index, "
        f"{report.catch_up_passes} catch-up passes) in {report.duration_ms} ms",
        f"{report.new_index} now serves {base}, {base}-all, {base}-write; "
        f"{report.old_index} {kept}",
    ]
    _emit(report.as_dict(), lines, as_json)
