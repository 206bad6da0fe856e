"""The command line: a thin shell over the library.

Each area registers its commands from its own module (``indexer.cli.<area>``); this module only
builds the group. Arrows point one way: CLI -> flows -> clients.

The group imports a command's module only when that command runs (or shows its own help):
``jobo-indexer --help`` lists the commands from ``COMMANDS`` below without importing
opensearch-py, requests or the simulator, so it starts in a fraction of the time.
``tests/unit/test_cli_help.py`` checks that each line here is the first line of its command's help.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import click

from indexer import __version__
from indexer.cli.help import HelpfulCommand, HelpfulGroup


class LazyCommand(NamedTuple):
    module: str  # the module whose import registers the command on ``main``
    summary: str  # the first line of the command's help, shown by ``jobo-indexer --help``


COMMANDS: dict[str, LazyCommand] = {
    "init": LazyCommand(
        "indexer.cli.index",
        "Create the index template, the first index, its aliases and the bookkeeping indices.",
    ),
    "migrate": LazyCommand(
        "indexer.cli.index", "Rebuild the job index from mappings/ and flip the aliases atomically."
    ),
    "backfill": LazyCommand(
        "indexer.cli.sync",
        "Page the whole feed into the index. Resumes from the last acknowledged page.",
    ),
    "sync": LazyCommand(
        "indexer.cli.sync",
        "The scheduled run: expired sweep and incremental fetch, then move the watermark.",
    ),
    "expire": LazyCommand(
        "indexer.cli.sync", "The expired sweep alone, since the last successful sweep."
    ),
    "resync": LazyCommand(
        "indexer.cli.sync",
        "Full re-sync: upsert every job of the feed, then expire what the feed no longer has.",
    ),
    "status": LazyCommand(
        "indexer.cli.sync", "Watermark, last runs, lock holder, counts, dead letters and credits."
    ),
    "run": LazyCommand(
        "indexer.cli.sync",
        "The loop for a container: sync every --every, resync every --resync-every.",
    ),
    "search": LazyCommand(
        "indexer.cli.search",
        "Search active jobs: full text, filters, radius, salary overlap, facets, paging.",
    ),
    "suggest": LazyCommand(
        "indexer.cli.search",
        "Autocomplete job titles and company names (case and accents ignored).",
    ),
    "stats": LazyCommand(
        "indexer.cli.search",
        "Active/expired counts, breakdowns, salary percentiles, freshness, dead letters.",
    ),
    "dashboards": LazyCommand(
        "indexer.cli.search",
        "OpenSearch Dashboards saved objects (index patterns, visualisations, a dashboard).",
    ),
    "alerts": LazyCommand(
        "indexer.cli.alerts",
        "Saved searches matched against every job a run writes; their matches and webhooks.",
    ),
    "changes": LazyCommand(
        "indexer.cli.alerts",
        "What the runs created, updated, expired and deleted, oldest first.",
    ),
    "serve": LazyCommand(
        "indexer.cli.serve",
        "Serve the search API and page over the index (read-only) until stopped.",
    ),
    "simulate": LazyCommand(
        "indexer.cli.simulate",
        "Serve a simulated Jobo Feed API (plus /_sim/ control endpoints) until stopped.",
    ),
    "ping": LazyCommand(
        "indexer.cli.node",
        "Check that OpenSearch answers (URL, TLS, credentials) and print its version.",
    ),
}


FLOW_COMMANDS = frozenset({"backfill", "sync", "expire", "resync", "run"})


class LazyGroup(click.Group):
    """A group whose commands are imported on first use; its help needs no import at all."""

    command_class = HelpfulCommand
    group_class = HelpfulGroup

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(COMMANDS[cmd_name].module)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, entry.summary) for name, entry in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(self, args: Sequence[str] | None = None, *rest: Any, **extra: Any) -> Any:
        """Like click's, but an error the command line causes (a usage error, a refusal raised
        as ClickException) keeps the output contract: with ``--json`` a JSON failure object on
        stdout, with ``--log-format json`` a JSON log line on stderr instead of plain text."""
        argv = list(sys.argv[1:] if args is None else args)
        extra["standalone_mode"] = False
        try:
            return super().main(argv, *rest, **extra)
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        except click.ClickException as error:
            report_cli_error(error, argv)
            sys.exit(error.exit_code)


def _kind(argv: list[str]) -> str:
    words = [word for word in argv if word in COMMANDS or word in ("import", "check")]
    if words[:1] == ["dashboards"] and len(words) > 1:
        return " ".join(words[:2])
    return words[0] if words else "jobo-indexer"


def _json_logs(argv: list[str]) -> bool:
    for position, word in enumerate(argv):
        if word == "--log-format" and argv[position + 1 : position + 2] == ["json"]:
            return True
        if word == "--log-format=json":
            return True
    return (
        "--log-format" not in " ".join(argv) and os.environ.get("JOBO_INDEXER_LOG_FORMAT") == "json"
    )


def report_cli_error(error: click.ClickException, argv: list[str]) -> None:
    """Print ``error`` the way the command line asked for (see ``LazyGroup.main``)."""
    message = error.format_message()
    if "--json" in argv:
        kind = _kind(argv)
        failure = {"kind": kind, "outcome": "failed", "error": message}
        if kind in FLOW_COMMANDS:  # a flow's --json has one shape: its run summary
            from indexer.sync.runner import failed_run_data

            failure = failed_run_data(kind, message, error.exit_code)
        click.echo(json.dumps({**failure, "exit_code": error.exit_code}, sort_keys=True))
    if _json_logs(argv):
        entry = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "error",
            "logger": "indexer.cli",
            "message": message,
        }
        click.echo(json.dumps(entry), err=True)
    else:
        error.show()


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": None},
    epilog="""\b
Start here:
  jobo-indexer init                    create the index layout (once)
  jobo-indexer backfill                load the whole feed (resumable)
  jobo-indexer sync                    the scheduled run (cron, systemd, k8s)
  jobo-indexer status                  what ran, the lock, the counts
  jobo-indexer search "data engineer"  query the index

Every command has --json. `jobo-indexer COMMAND --help` shows its options, an
example and the environment variables it reads. Exit codes: 0 ok, 2 usage, 3
locked, 4 Jobo API refused, 5 Jobo API down, 6 OpenSearch, 7 error budget, 8
deletion refused.""",
)
@click.version_option(__version__, prog_name="jobo-indexer")
def main() -> None:
    """Keep an OpenSearch index of Jobo job postings exact and fresh."""
