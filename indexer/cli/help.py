"""Help that teaches: a command's own options first, the shared ones grouped after them, every
environment variable shown, and an example at the end.

Commands get this through the group (``command_class``): no command module has to opt in. The
shared options are recognised by name (they are declared once, in ``options.py``), the examples
live in ``EXAMPLES`` below, one place to keep in step with the README.
"""

from __future__ import annotations

import click

OUTPUT = frozenset({"as_json", "log_format", "log_level", "progress", "metrics_file"})
JOBO_API = frozenset(
    {"jobo_url", "api_key", "api_key_file", "credits_warn", "upstream_retries", "upstream_backoff"}
)
OPENSEARCH_CONNECTION = frozenset(
    {
        "opensearch_url",
        "opensearch_user",
        "opensearch_password",
        "opensearch_password_file",
        "ca_certs",
        "insecure",
        "client_cert",
        "client_key",
        "aws_sigv4",
        "aws_region",
        "aws_service",
    }
)
SECTIONS = (
    ("Output", OUTPUT),
    ("Jobo API", JOBO_API),
    ("OpenSearch connection", OPENSEARCH_CONNECTION),
)

EXAMPLES: dict[str, str] = {
    "init": "jobo-indexer init --index jobs",
    "migrate": "jobo-indexer migrate            # only when init reports drift\n"
    "jobo-indexer migrate --list-orphans\n"
    "jobo-indexer migrate --delete-old   # remove superseded, unaliased versions",
    "backfill": "JOBO_API_KEY_FILE=/etc/jobo/key jobo-indexer backfill --index jobs\n"
    "jobo-indexer backfill --max-credits 5000   # exit 9 before spending more; rerun resumes",
    "sync": "JOBO_API_KEY_FILE=/etc/jobo/key jobo-indexer sync --log-format json \\\n"
    "    --metrics-file /var/lib/node_exporter/textfile/jobo.prom",
    "expire": "jobo-indexer expire --expired-action delete --retention-days 30",
    "resync": "jobo-indexer resync --max-expire-fraction 0.1\n"
    "jobo-indexer resync --force          # when a mass expiry is real",
    "status": "jobo-indexer status --json\n"
    "jobo-indexer status --force-unlock   # only when the holder is dead",
    "run": "jobo-indexer run --every 30m --resync-every 7d --metrics-port 9108",
    "search": 'jobo-indexer search "data engineer" --workplace-type remote,hybrid \\\n'
    "    --country DE --near-city Berlin --radius 50km --salary-min 80000",
    "suggest": 'jobo-indexer suggest "soft eng"',
    "stats": "jobo-indexer stats --top 10 --json",
    "dashboards": "jobo-indexer dashboards import --url http://localhost:5601",
    "dashboards import": "OSD_PASSWORD=... jobo-indexer dashboards import \\\n"
    "    --url https://dashboards.internal:5601 --user admin",
    "dashboards check": "jobo-indexer dashboards check --index jobs",
    "alerts": 'jobo-indexer alerts add remote-python "python developer" \\\n'
    "    --workplace-type remote --country US --webhook https://hooks.example.org/jobs\n"
    "jobo-indexer alerts matches remote-python --since 1d --json",
    "alerts add": 'jobo-indexer alerts add berlin-data "data engineer" --near-city Berlin \\\n'
    "    --radius 30km --salary-min 70000 --webhook https://hooks.example.org/jobs",
    "alerts list": "jobo-indexer alerts list --json",
    "alerts remove": "jobo-indexer alerts remove berlin-data",
    "alerts matches": "jobo-indexer alerts matches berlin-data --since 2026-12-01T00:00:00Z --json",
    "alerts deliver": "JOBO_ALERTS_WEBHOOK_SECRET=... jobo-indexer alerts deliver --json",
    "changes": "jobo-indexer changes --since 15m --json\n"
    "jobo-indexer changes --since 2026-12-01T00:00:00Z --kind expired",
    "serve": "jobo-indexer serve --host 0.0.0.0 --port 8080 --cors-origin https://jobs.example\n"
    "curl 'http://127.0.0.1:8080/api/search?q=engineer&workplace_type=remote&size=5'",
    "simulate": "JOBO_API_KEY=sim-key jobo-indexer simulate --port 8765 --jobs 10000",
    "ping": "OPENSEARCH_URL=https://search.internal:9200 jobo-indexer ping",
}


def _show_envvars(command: click.Command) -> None:
    for param in command.params:
        if isinstance(param, click.Option) and param.envvar:
            param.show_envvar = True


def section_of(param: click.Parameter) -> str | None:
    """The section a shared option belongs to; None for the command's own options (a command's
    own ``--insecure``, for another service, has no OPENSEARCH_ variable and stays its own)."""
    for title, names in SECTIONS:
        if param.name in names:
            if names is OPENSEARCH_CONNECTION and not _opensearch_envvar(param):
                return None
            return title
    return None


def _opensearch_envvar(param: click.Parameter) -> bool:
    envvar = param.envvar if isinstance(param.envvar, str) else ""
    return envvar.startswith(("OPENSEARCH_", "AWS_"))


def command_key(ctx: click.Context) -> str:
    """``jobo-indexer dashboards import`` -> ``dashboards import``."""
    return " ".join(ctx.command_path.split()[1:])


class HelpfulCommand(click.Command):
    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        _show_envvars(self)
        own: list[tuple[str, str]] = []
        shared: dict[str, list[tuple[str, str]]] = {title: [] for title, _ in SECTIONS}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            title = section_of(param)
            (own if title is None else shared[title]).append(record)
        if own:
            with formatter.section("Options"):
                formatter.write_dl(own)
        for title, rows in shared.items():
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        write_example(ctx, formatter)


def write_example(ctx: click.Context, formatter: click.HelpFormatter) -> None:
    example = EXAMPLES.get(command_key(ctx))
    if not example:
        return
    formatter.write_paragraph()
    formatter.write_text("Example:")
    with formatter.indentation():
        for line in example.splitlines():  # verbatim: no re-wrapping
            formatter.write(f"{'':>{formatter.current_indent}}{line}\n")


class HelpfulGroup(click.Group):
    command_class = HelpfulCommand

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=200)))  # never truncated
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        write_example(ctx, formatter)


HelpfulGroup.group_class = HelpfulGroup
