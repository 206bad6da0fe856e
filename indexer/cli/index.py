"""``jobo-indexer init`` and ``jobo-indexer migrate``: create and evolve the index layout."""

from __future__ import annotations

import json
from typing import Any

import click

from indexer.cli import main
from indexer.cli.failures import or_exit
from indexer.cli.options import opensearch_client, opensearch_connection_options
from indexer.store.migrate import MigrationReport, migrate
from indexer.store.schema import ShardLayout, init_index
from indexer.store.versions import Orphan, delete_orphans, migration_due, orphaned_versions

MIGRATION_FIELDS = [f for f in MigrationReport.__dataclass_fields__ if f != "base"]

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
@click.option(
    "--shards",
    type=click.IntRange(1, 1024),
    default=None,
    help="Primary shards of the job index (default 1; fixed once the index exists).",
)
@click.option(
    "--replicas",
    type=click.IntRange(0, 16),
    default=None,
    help="Replicas of every index (default 0; on a cluster give 1+ to survive a node loss). "
    "Applied to existing indices too.",
)
@_json_option
def init(
    opensearch_url: str, base: str, shards: int | None, replicas: int | None, as_json: bool
) -> None:
    """Create the index template, the first index, its aliases and the bookkeeping indices.

    Idempotent: a second run changes nothing and says so. When the live mapping differs from
    mappings/, says so and how to migrate (exit code 0: the layout is usable).
    """
    layout = ShardLayout(shards, replicas)
    report = or_exit(lambda: init_index(opensearch_client(opensearch_url), base, layout=layout))
    lines = list(report.actions)
    if not report.changed:
        lines.append(f"nothing to change: {base} is initialised (live index {report.live_index})")
    lines.extend(f"drift: {note}" for note in report.drift)
    _emit(report.as_dict(), lines, as_json)


@main.command(name="migrate")
@opensearch_connection_options
@_base_option
@click.option(
    "--rebuild",
    is_flag=True,
    help="Rebuild even when the live index already matches mappings/ (copies every document).",
)
@click.option(
    "--delete-old",
    is_flag=True,
    help="Delete superseded versions no alias reaches (after the migration, if one was due).",
)
@click.option(
    "--list-orphans", is_flag=True, help="Only list the versions no alias reaches; change nothing."
)
@_json_option
def migrate_command(
    opensearch_url: str,
    base: str,
    rebuild: bool,
    delete_old: bool,
    list_orphans: bool,
    as_json: bool,
) -> None:
    """Rebuild the job index from mappings/ and flip the aliases atomically.

    Runs only when a migration is due: the live mapping differs from mappings/ (init reports it
    as drift) or an earlier migrate stopped half way; otherwise it changes nothing (--rebuild
    forces a copy). Documents are copied with external versions (an older copy never
    overwrites a newer write), then the write alias moves to the new index, what reached the
    old index meanwhile is copied, the old index is sealed against writes, and readers switch
    in one atomic alias change. The old index is kept (read-only) until --delete-old.
    """
    client = opensearch_client(opensearch_url)
    if list_orphans:
        orphans = or_exit(lambda: orphaned_versions(client, base))
        lines = [_orphan_line(o) for o in orphans] or [f"no orphaned versions of {base}"]
        summary = _migrate_summary(base, "listed", None, None, orphans, [])
        _emit(summary, lines, as_json)
        return
    reason = or_exit(lambda: migration_due(client, base))
    report: MigrationReport | None = None
    lines: list[str] = []
    if reason is None and not rebuild:
        lines.append(
            f"nothing to migrate: the live index of {base} matches mappings/ "
            "(--rebuild copies it anyway)"
        )
    else:
        progress = None if as_json else click.echo
        report = or_exit(lambda: migrate(client, base, progress=progress))
        lines += _report_lines(base, report)
    deleted = or_exit(lambda: delete_orphans(client, base)) if delete_old else []
    lines += [f"deleted {_orphan_line(o)}" for o in deleted]
    if not delete_old:
        left = or_exit(lambda: orphaned_versions(client, base))
        if left:
            lines.append(
                f"{len(left)} superseded version(s) kept: {', '.join(o.index for o in left)} "
                "(delete them with --delete-old)"
            )
    outcome = "up_to_date" if report is None else "migrated"
    _emit(_migrate_summary(base, outcome, reason, report, [], deleted), lines, as_json)


def _orphan_line(orphan: Orphan) -> str:
    return f"{orphan.index} ({orphan.documents} documents, {orphan.size_bytes / 1e6:.1f} MB)"


def _report_lines(base: str, report: MigrationReport) -> list[str]:
    return [
        f"copied {report.copied} documents ({report.kept_newer} already newer in the new index, "
        f"{report.catch_up_passes} catch-up passes) in {report.duration_ms} ms",
        f"{report.new_index} now serves {base}, {base}-all, {base}-write; "
        f"{report.old_index} kept read-only",
    ]


def _migrate_summary(
    base: str,
    outcome: str,
    reason: str | None,
    report: MigrationReport | None,
    orphans: list[Orphan],
    deleted: list[Orphan],
) -> dict[str, Any]:
    """The one shape of ``migrate --json``: migration fields are null when none ran."""
    migration = report.as_dict() if report else dict.fromkeys(MIGRATION_FIELDS)
    migration.pop("base", None)
    migration["deleted_old"] = bool(report) and any(o.index == report.old_index for o in deleted)
    return {
        "base": base,
        "outcome": outcome,
        "reason": reason,
        **migration,
        "orphans": [o.as_dict() for o in orphans],
        "deleted": [o.index for o in deleted],
    }
